//go:build !linux

package lineprotocol

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
