package bench

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// PeakRSS returns VmHWM, the process's peak resident set, in bytes (0 where
// /proc is missing). Benchmarks of bounded-memory work report it.
func PeakRSS() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// ResetPeakRSS returns freed memory to the OS and restarts VmHWM from the
// current resident set (Linux: "5" to clear_refs), so that the peak after
// it is the measured work's, not the setup's.
func ResetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
