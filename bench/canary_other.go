//go:build !linux

package bench

// threadCPU: no per-thread CPU clock read here; the canary falls back to
// wall time.
func threadCPU() (int64, bool) { return 0, false }
