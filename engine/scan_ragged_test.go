package engine

import (
	"context"
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
