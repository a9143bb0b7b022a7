package server

import (
	"syscall"
	"time"
)

// processCPU returns the process's user and system CPU time so far: the
// server's work for a benchmark's queries (it runs in the test process),
// steadier than wall time on a shared machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
