package segment

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the user and system CPU time the process has used:
// benchmarks report it per operation, which a busy machine disturbs less
// than wall time.
func processCPU(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcessCPU is processCPU for the package's external benchmarks.
var ProcessCPU = processCPU
