package engine

import (
	"fmt"
	"math"
	"runtime"
	"slices"
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
	fold := func() []string {
		var out []string
		err := v.ScanRollup([]string{"host", "v"}, nil, math.MinInt64, math.MaxInt64, 7e9, 1000, func(b *columnar.ColumnBatch) error {
			for i := range b.Len {
				row := fmt.Sprint(b.Time[i], b.Tags[0].Dict[b.Tags[0].IDs[i]])
				for _, fv := range b.Fields {
					switch fv.Type {
					case columnar.FieldFloat:
						row += fmt.Sprint(" ", fv.F[i])
					case columnar.FieldInt:
						row += fmt.Sprint(" ", fv.I[i])
					default:
						row += fmt.Sprint(" ", fv.U[i])
					}
				}
				out = append(out, row)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Room for two of the three blocks' copies of v (64 KiB and a bitmap
	// each): the third is made for the fold alone.
	const copy1 = 8192*8 + 8192/8 + 64
	e.mu.Lock()
	flushBytes := e.cfg.FlushBytes
	e.cfg.FlushBytes = 2 * (2*copy1 + copy1/2)
	e.mu.Unlock()
	tight := fold()
	if c := h.CopyBytes(); c != 2*copy1 || e.HeadBytes() != before+c {
		t.Fatalf("within room for two copies: head bytes %d after a fold that kept %d bytes of copies, want %d and %d", e.HeadBytes(), c, before+2*copy1, 2*copy1)
	}
	e.mu.Lock()
	e.cfg.FlushBytes = flushBytes
	e.mu.Unlock()
	if roomy := fold(); !slices.Equal(tight, roomy) || len(tight) == 0 {
		t.Fatalf("%d partials with copies kept for two blocks, %d with all kept", len(tight), len(roomy))
	}
	if c := h.CopyBytes(); c != 3*copy1 || e.HeadBytes() != before+c {
		t.Fatalf("head bytes %d after folds that kept %d bytes of copies, want %d", e.HeadBytes(), c, before+c)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if e.HeadBytes() != 0 || e.copyBytes.Load() != 0 {
		t.Fatalf("after the flush: head bytes %d, copies %d; want 0", e.HeadBytes(), e.copyBytes.Load())
	}
}
