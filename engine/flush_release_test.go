package engine

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"weak"

	"github.com/siltdb/silt/columnar"
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

// The column copies a query's fold adds to a head (segment.Head.CopyBytes)
// count in HeadBytes — so toward --max-head-bytes and its backpressure —
// and leave it with the head when it is flushed.
func TestHeadCopiesCounted(t *testing.T) {
	e := open(t, noCompactConfig(t.TempDir()))
	defer func() { _ = e.Close() }()
	var pts []point
	for i := range 3*8192 + 100 {
		pts = append(pts, point{"cpu", fmt.Sprintf("h%02d", i%13), int64(i/13) * 1e9, float64(i)})
	}
	write(t, e, "db", pts...)
	e.mu.Lock()
	h := e.heads["db"]["cpu"]
	v := h.View()
	e.mu.Unlock()
	before := e.HeadBytes()
	// 7 s windows: no block partial nests in them, so the fold reads rows.
	if err := v.ScanRollup([]string{"host", "v"}, nil, math.MinInt64, math.MaxInt64, 7e9, 1000, func(*columnar.ColumnBatch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if c := h.CopyBytes(); c == 0 || e.HeadBytes() != before+c {
		t.Fatalf("head bytes %d after a fold that copied %d bytes, want %d", e.HeadBytes(), c, before+c)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if e.HeadBytes() != 0 || e.copyBytes.Load() != 0 {
		t.Fatalf("after the flush: head bytes %d, copies %d; want 0", e.HeadBytes(), e.copyBytes.Load())
	}
}
