//go:build silttest

package main

import (
	"os"
	"time"
)

// holdShutdown, in test builds, holds a shutdown between refusing writes
// and the final flush until the file SILT_TEST_SHUTDOWN_HOLD names exists
// (at most two minutes, a hang guard): a test then sees, without timing,
// what clients see while the heads are flushed.
func holdShutdown() {
	path := os.Getenv("SILT_TEST_SHUTDOWN_HOLD")
	if path == "" {
		return
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
}
