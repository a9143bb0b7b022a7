package bench

import "time"

// MemoryBandwidth measures memory copy bandwidth in bytes per second (bytes
// read plus bytes written) with one goroutine copying between two buffers of
// size bytes, far larger than the caches, for about d; the best pass counts
// (other processes on a shared machine only ever slow a pass down).
func MemoryBandwidth(size int, d time.Duration) float64 {
	src := make([]byte, size)
	dst := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src) // fault the pages in before timing
	best := 0.0
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		start := time.Now()
		copy(dst, src)
		if bw := 2 * float64(size) / time.Since(start).Seconds(); bw > best {
			best = bw
		}
	}
	return best
}
