package engine

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// foldAgg is a row count and sum of v.
type foldAgg struct{ n, sum int64 }

// writeFoldRows writes two hosts' rows, two a second for six minutes from
// base, into db.m and flushes them to a segment.
func writeFoldRows(t *testing.T, e *Engine, base int64) {
	t.Helper()
	writeFoldHead(t, e, base)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
}

// writeFoldHead writes writeFoldRows' rows into the head.
func writeFoldHead(t *testing.T, e *Engine, base int64) {
	t.Helper()
	half := int64(500 * time.Millisecond)
	var b columnar.Batch
	n := 0
	for i := range 2 * 60 * 6 {
		for h, host := range []string{"a", "b"} {
			n++
			b.StartRow([]byte("m"), n)
			b.AddTag([]byte("host"), []byte(host))
			b.AddFloat([]byte("v"), float64(i*2+h))
			b.EndRow(base + int64(i)*half)
		}
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
}

// foldRunBy runs ts and sums its rows and partials per window of width
// out, checking every row and partial lies in [lo, hi); it returns the
// sums and how many batches each width came in (0: raw rows).
func foldRunBy(t *testing.T, ts *TableScan, lo, hi, out int64) (map[int64]foldAgg, map[int64]int) {
	t.Helper()
	got := map[int64]foldAgg{}
	widths := map[int64]int{}
	field := func(b *columnar.ColumnBatch, name string) *columnar.FieldVector {
		for k := range b.Fields {
			if b.Fields[k].Name == name {
				return &b.Fields[k]
			}
		}
		t.Fatalf("a batch of width %d lacks %s", b.Rollup, name)
		return nil
	}
	err := ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
		widths[b.Rollup]++
		sel := b.Sel
		if sel == nil {
			for i := range int32(b.Len) {
				sel = append(sel, i)
			}
		}
		for _, i := range sel {
			tm := b.Time[i]
			if tm < lo || tm >= hi || (b.Rollup != 0 && tm+b.Rollup > hi) {
				t.Errorf("a row of width %d at %d is outside [%d, %d)", b.Rollup, tm, lo, hi)
			}
			w := segment.WindowStart(tm, out)
			a := got[w]
			if b.Rollup == 0 {
				a = foldAgg{a.n + 1, a.sum + int64(field(b, "v").F[i])}
			} else {
				a = foldAgg{a.n + field(b, segment.RollupRows).I[i], a.sum + int64(field(b, segment.RollupColumn("v", segment.PartSum)).F[i])}
			}
			got[w] = a
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, widths
}

// rawBy is the answer per window of width out from the raw rows in
// [lo, hi), read without rollups: what a scan at any resolution must give.
func rawBy(t *testing.T, e *Engine, lo, hi, out int64) map[int64]foldAgg {
	t.Helper()
	ts, err := e.OpenScanRange("db", "m", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ts.Columns = []string{"host", "v"}
	got, widths := foldRunBy(t, ts, lo, hi, out)
	if len(widths) != 1 || widths[0] == 0 {
		t.Fatalf("the raw scan gave batches of widths %v", widths)
	}
	return got
}

// A segment without rollups of a scan's widths folds the pieces of its
// range — the bulk at the coarsest width, the ragged ends at the finer
// widths dividing it — in one read of its rows, each piece at its own
// width, and the answer per output window is the raw rows' answer.
func TestSegmentFoldPiecesInOneRead(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Rollups = RollupConfig{Widths: []time.Duration{time.Hour}}
	e := open(t, cfg)
	defer e.Close()
	base := int64(1_767_225_600_000_000_000) // midnight
	writeFoldRows(t, e, base)
	s, m := int64(time.Second), int64(time.Minute)
	lo := base + int64(17300*time.Millisecond)
	hi := base + 4*m + int64(41700*time.Millisecond)
	want := rawBy(t, e, lo, hi, 30*s)

	ts, err := e.OpenScanRollups("db", "m", lo, hi, []int64{30 * s, 15 * s, 10 * s, 5 * s, s})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ts.Columns = []string{"host", "v"}
	ts.RollupColumns = []string{"host", segment.RollupRows, segment.RollupColumn("v", segment.PartSum)}
	var rs segment.ReadStats
	ts.Read = &rs
	got, widths := foldRunBy(t, ts, lo, hi, 30*s)
	if len(got) != len(want) {
		t.Fatalf("%d output windows, want %d", len(got), len(want))
	}
	for w, a := range want {
		if got[w] != a {
			t.Errorf("window at %ds: %+v, want %+v", (w-base)/s, got[w], a)
		}
	}
	// [17.3 s, 18 s) and [4 m 41 s, 4 m 41.7 s) are raw; between, 1 s, 10 s
	// and 30 s pieces fold, each at its own width.
	for _, w := range []int64{0, s, 10 * s, 30 * s} {
		if widths[w] == 0 {
			t.Errorf("no batch of width %ds (widths %v)", w/s, widths)
		}
	}
	// One read folds every piece: the segment's rows are decoded once
	// for the folds, and at most once more for each raw end (a read per
	// piece decoded them once per piece: eight times).
	if rows := ts.metas[0].Rows; rs.RowsRead.Load() > 3*rows {
		t.Errorf("%d rows decoded from a segment of %d: the pieces were read apart", rs.RowsRead.Load(), rows)
	}
}

// A piece of a width the segment lacks is answered from a finer rollup
// it has whose width divides the piece's (30 s from 10 s), as the raw rows
// answer it; a scan at widths the segment has opens no finer rollup.
func TestSegmentPieceFromFinerRollup(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Rollups = RollupConfig{Widths: []time.Duration{10 * time.Second, time.Minute}, MinRowsPerWindow: 1}
	e := open(t, cfg)
	defer e.Close()
	base := int64(1_767_225_600_000_000_000)
	writeFoldRows(t, e, base)
	s, m := int64(time.Second), int64(time.Minute)
	lo, hi := base+30*s, base+5*m
	want := rawBy(t, e, lo, hi, 30*s)

	ts, err := e.OpenScanRollups("db", "m", lo, hi, []int64{30 * s})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ts.Columns = []string{"host", "v"}
	ts.RollupColumns = []string{"host", segment.RollupRows, segment.RollupColumn("v", segment.PartSum)}
	got, widths := foldRunBy(t, ts, lo, hi, 30*s)
	if len(widths) != 1 || widths[10*s] == 0 {
		t.Errorf("batches of widths %v, want the 10s rollup's only", widths)
	}
	if len(got) != len(want) {
		t.Fatalf("%d output windows, want %d", len(got), len(want))
	}
	for w, a := range want {
		if got[w] != a {
			t.Errorf("window at %ds: %+v, want %+v", (w-base)/s, got[w], a)
		}
	}

	// At 1 m, its own rollup answers: the 10 s one stays closed.
	ts2, err := e.OpenScanRollups("db", "m", math.MinInt64, math.MaxInt64, []int64{m})
	if err != nil {
		t.Fatal(err)
	}
	defer ts2.Close()
	for _, byWidth := range ts2.rollups {
		if _, ok := byWidth[10*s]; ok || len(byWidth) != 1 {
			t.Errorf("a scan at 1m opened rollups of widths %v", slices.Collect(func(yield func(int64) bool) {
				for w := range byWidth {
					if !yield(w) {
						return
					}
				}
			}))
		}
	}
}

// A range that ends past the head's newest row, inside a window (a live
// dashboard's `time <= now()`), reads that last window from the head's
// partials rather than its raw rows: the head has no row between the
// range's end and the window's, so the answer per output window is the
// raw rows' answer.
func TestHeadLastWindowFromPartials(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	base := int64(1_767_225_600_000_000_000)
	writeFoldHead(t, e, base)
	s, m := int64(time.Second), int64(time.Minute)
	_, last := e.heads["db"]["m"].TimeRange()
	for _, hi := range []int64{last + 1, last + 3*s + 1, base + 5*m + 7*s} {
		lo := base + m
		want := rawBy(t, e, lo, hi, 10*s)
		ts, err := e.OpenScanRollups("db", "m", lo, hi, []int64{10 * s, 5 * s, s})
		if err != nil {
			t.Fatal(err)
		}
		ts.Columns = []string{"host", "v"}
		ts.RollupColumns = []string{"host", segment.RollupRows, segment.RollupColumn("v", segment.PartSum)}
		got, widths := foldRunBy(t, ts, lo, math.MaxInt64, 10*s)
		ts.Close()
		if len(got) != len(want) {
			t.Fatalf("end %d: %d output windows, want %d", hi-base, len(got), len(want))
		}
		for w, a := range want {
			if got[w] != a {
				t.Errorf("end %d: window at %ds: %+v, want %+v", hi-base, (w-base)/s, got[w], a)
			}
		}
		// Past the newest row the last window is whole: no raw rows; a
		// range ending before it keeps its ragged end raw.
		if pastLast := hi > last; pastLast != (widths[0] == 0) {
			t.Errorf("end %d (newest row at %d): batches of widths %v", hi-base, last-base, widths)
		}
	}
}
