package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// A range starting and ending inside 10 s windows: where every series'
// rows in the edge window lie wholly inside or outside the range, the
// segment answers the edge from the window's partial (no row is read);
// where a series' rows straddle the edge, from its rows. Either way, the
// answer per window is the raw rows'.
func TestRaggedEndsFromPartials(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Rollups = RollupConfig{Widths: []time.Duration{10 * time.Second, time.Minute}, MinRowsPerWindow: 1}
	e := open(t, cfg)
	defer e.Close()
	base := int64(1_767_225_600_000_000_000) // midnight
	s := int64(time.Second)
	// Two hosts, a row at seconds 0, 1 and 2 of every 10 s for 10 minutes.
	var b columnar.Batch
	n := 0
	for w := range int64(60) {
		for k := range int64(3) {
			for h, host := range []string{"a", "b"} {
				n++
				b.StartRow([]byte("m"), n)
				b.AddTag([]byte("host"), []byte(host))
				b.AddFloat([]byte("v"), float64(n%97+h))
				b.EndRow(base + w*10*s + k*s)
			}
		}
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	flush(t, e)
	for _, c := range []struct {
		name         string
		lo, hi       int64
		fromPartials bool
	}{
		{"edges between the windows' rows", base + 5*s, base + 505*s, true},
		{"edges through the windows' rows", base + 1500*time.Millisecond.Nanoseconds(), base + 501500*time.Millisecond.Nanoseconds(), false},
	} {
		want := rawBy(t, e, c.lo, c.hi, 10*s)
		ts, err := e.OpenScanRollups("db", "m", c.lo, c.hi, []int64{10 * s, 5 * s, s})
		if err != nil {
			t.Fatal(err)
		}
		ts.Columns = []string{"host", "v"}
		ts.RollupColumns = []string{"host", segment.RollupRows, segment.RollupColumn("v", segment.PartSum)}
		got := map[int64]foldAgg{}
		widths := map[int64]int{}
		err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
			widths[b.Rollup]++
			rows := fieldNamed(b, segment.RollupRows)
			sum := fieldNamed(b, segment.RollupColumn("v", segment.PartSum))
			v := fieldNamed(b, "v")
			each := b.Sel
			if each == nil {
				for i := range int32(b.Len) {
					each = append(each, i)
				}
			}
			for _, i := range each {
				if b.Time[i] < c.lo || b.Time[i] >= c.hi {
					t.Errorf("%s: a row of width %d at %d is outside the range", c.name, b.Rollup, b.Time[i])
				}
				w := segment.WindowStart(b.Time[i], 10*s)
				a := got[w]
				if b.Rollup == 0 {
					a = foldAgg{a.n + 1, a.sum + int64(v.F[i])}
				} else {
					a = foldAgg{a.n + rows.I[i], a.sum + int64(sum.F[i])}
				}
				got[w] = a
			}
			return nil
		})
		ts.Close()
		if err != nil {
			t.Fatal(err)
		}
		for w, a := range want {
			if got[w] != a {
				t.Errorf("%s: window at %ds: %+v, want %+v", c.name, (w-base)/s, got[w], a)
			}
		}
		for w, a := range got {
			if _, ok := want[w]; !ok && a.n != 0 {
				t.Errorf("%s: window at %ds: %+v, the raw rows have none", c.name, (w-base)/s, a)
			}
		}
		// From partials, every batch is of the 10 s rollup; through the
		// rows, the edges come raw or folded at finer widths.
		onlyPartials := len(widths) == 1 && widths[10*s] > 0
		if onlyPartials != c.fromPartials {
			t.Errorf("%s: batches by width %v; from partials only: %v, want %v", c.name, widths, onlyPartials, c.fromPartials)
		}
	}
}

// A dashboard's range slides a little on every refresh while its ragged
// start stays in one rollup window: the window's rows come from the
// window cache after the first read. Every answer, whichever way each
// edge is answered, by either host's filter, and after later rows land in
// the same windows through another segment, must equal the raw rows'.
func TestRaggedWindowCacheSlidingRange(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Rollups = RollupConfig{Widths: []time.Duration{10 * time.Second, time.Minute}, MinRowsPerWindow: 1}
	e := open(t, cfg)
	defer e.Close()
	base := int64(1_767_225_600_000_000_000) // midnight
	s, ms := int64(time.Second), int64(time.Millisecond)
	n := 0
	// write puts, for each host, a row at seconds at of every 10 s window
	// of the first 10 minutes, the value following n.
	write := func(at ...int64) {
		t.Helper()
		var b columnar.Batch
		for w := range int64(60) {
			for _, k := range at {
				for _, host := range []string{"a", "b"} {
					n++
					b.StartRow([]byte("m"), n)
					b.AddTag([]byte("host"), []byte(host))
					b.AddFloat([]byte("v"), float64(n%89))
					b.EndRow(base + w*10*s + k*s)
				}
			}
		}
		if _, err := e.Write("db", &b); err != nil {
			t.Fatal(err)
		}
		flush(t, e)
	}
	// sums runs ts per 10 s window, keeping only host's rows when keep is
	// set, and failing on another host's rows when it is not (the scan's
	// own filter must have left them out).
	sums := func(ts *TableScan, host string, keep bool) map[int64]foldAgg {
		t.Helper()
		got := map[int64]foldAgg{}
		err := ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
			hv := tagNamed(b, "host")
			each := b.Sel
			if each == nil {
				for i := range int32(b.Len) {
					each = append(each, i)
				}
			}
			for _, i := range each {
				if h := hv.Dict[hv.IDs[i]]; h != host {
					if !keep {
						t.Errorf("host %s's filter let a row of %s through", host, h)
					}
					continue
				}
				w := segment.WindowStart(b.Time[i], 10*s)
				a := got[w]
				if b.Rollup == 0 {
					a = foldAgg{a.n + 1, a.sum + int64(fieldNamed(b, "v").F[i])}
				} else {
					a = foldAgg{a.n + fieldNamed(b, segment.RollupRows).I[i], a.sum + int64(fieldNamed(b, segment.RollupColumn("v", segment.PartSum)).F[i])}
				}
				got[w] = a
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(stage string) {
		t.Helper()
		// Refreshes every 700 ms over 4 minutes: the start crosses the
		// rows at seconds 0-2 of its window (straddling) and the empty
		// rest (from the partials), several refreshes per window.
		for k := range int64(40) {
			lo := base + 200*s + k*700*ms
			hi := lo + 4*60*s
			for _, host := range []string{"a", "b"} {
				raw, err := e.OpenScanRange("db", "m", lo, hi)
				if err != nil {
					t.Fatal(err)
				}
				raw.Columns = []string{"host", "v"}
				want := sums(raw, host, true)
				raw.Close()
				ts, err := e.OpenScanRollups("db", "m", lo, hi, []int64{10 * s, 5 * s, s})
				if err != nil {
					t.Fatal(err)
				}
				ts.Columns = []string{"host", "v"}
				ts.RollupColumns = []string{"host", segment.RollupRows, segment.RollupColumn("v", segment.PartSum)}
				ts.Tags = map[string][]string{"host": {host}}
				got := sums(ts, host, false)
				ts.Close()
				if len(want) == 0 {
					t.Fatalf("%s: no raw rows in [%d, %d)", stage, lo, hi)
				}
				for w, a := range want {
					if got[w] != a {
						t.Errorf("%s, start +%dms, host %s: window at %ds: %+v, want %+v", stage, k*700, host, (w-base)/s, got[w], a)
					}
				}
				for w, a := range got {
					if _, ok := want[w]; !ok && a.n != 0 {
						t.Errorf("%s, start +%dms, host %s: window at %ds: %+v, the raw rows have none", stage, k*700, host, (w-base)/s, a)
					}
				}
			}
		}
	}
	write(0, 1, 2)
	check("one segment")
	// Later rows in the same windows, in a segment of their own (read
	// merged, not from the rollups), then compacted with the first into
	// new segments: their windows are new keys, never the first segment's
	// cached rows.
	write(4, 6)
	check("two segments")
	if err := e.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("compacted")
	// Refreshes of several panels at once share the cached windows (run
	// under -race): each answer still the raw rows'.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { check("concurrent") })
	}
	wg.Wait()
	if h := e.windows.hits.Load(); h == 0 {
		t.Errorf("the window cache was never hit (%d misses)", e.windows.misses.Load())
	}
	// /metrics shows the same counts.
	mfs, err := e.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			seen[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if seen["silt_scan_window_cache_hits_total"] != float64(e.windows.hits.Load()) ||
		seen["silt_scan_window_cache_misses_total"] != float64(e.windows.misses.Load()) || seen["silt_scan_window_cache_bytes"] <= 0 {
		t.Errorf("window cache metrics %v; the cache counts %d hits, %d misses", seen, e.windows.hits.Load(), e.windows.misses.Load())
	}
}

// tagNamed returns b's tag vector called name (nil: none).
func tagNamed(b *columnar.ColumnBatch, name string) *columnar.TagVector {
	for k := range b.Tags {
		if b.Tags[k].Name == name {
			return &b.Tags[k]
		}
	}
	return nil
}
