package engine

import (
	"runtime"
	"testing"
	"weak"
)

// A flushed head is released: once its rows are in segments, nothing the
// engine keeps reaches it, so its memory goes back to the heap (a flushed
// set once stayed reachable through the frozen list's backing array until
// the next flush, doubling the memory of a full head).
func TestFlushReleasesHeads(t *testing.T) {
	e := open(t, noCompactConfig(t.TempDir()))
	defer func() { _ = e.Close() }()
	for round := range 3 {
		var pts []point
		for i := range 1000 {
			pts = append(pts, point{"cpu", "h1", int64(round*1000+i) * 1e9, float64(i)})
		}
		write(t, e, "db", pts...)
		e.mu.Lock()
		h := weak.Make(e.heads["db"]["cpu"])
		e.mu.Unlock()
		if h.Value() == nil {
			t.Fatal("no active head after a write")
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.GC()
		if h.Value() != nil {
			t.Fatalf("round %d: the flushed head is still reachable", round)
		}
	}
}
