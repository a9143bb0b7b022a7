package engine

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// A head's fold into partials of enough rows is cut into a part per core
// on window boundaries (headRollupParts): the parts cover the piece,
// each window lies in one of them, and the answer per window is the raw
// rows' — with late rows repeating points in some windows, which each
// part merges from rows.
func TestHeadRollupInParts(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	base := int64(1_767_225_600_000_000_000) // midnight
	s, m := int64(time.Second), int64(time.Minute)
	var b columnar.Batch
	n := 0
	for i := range 2 * 60 * 10 { // ten minutes, 16 hosts, a row each every half second
		for h := range 16 {
			n++
			b.StartRow([]byte("m"), n)
			b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", h))
			b.AddFloat([]byte("v"), float64(i*3+h))
			tm := base + int64(i)*s/2
			if i%97 == 5 && h == 3 {
				tm -= 40 * s // late: a point written again, with another value
			}
			b.EndRow(tm)
		}
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	h := e.heads["db"]["m"]
	if h.NoDuplicates() {
		t.Fatal("no point written twice: the test needs some")
	}
	for _, r := range [][2]int64{{base + m, base + 9*m}, {base, math.MaxInt64}, {base + 10*s, base + 7*m + 30*s}} {
		lo, hi := r[0], r[1]
		// The parts of the 10 s piece.
		span := timeSpan{lo, hi}
		if hi == math.MaxInt64 {
			span = timeSpan{lo, math.MaxInt64}
		}
		parts := headRollupParts(h, nil, span, 10*s, h.RowsPerWindow(lo, hi, 10*s))
		if len(parts) < 2 {
			t.Fatalf("range %v: %d parts, want a fold of %d rows cut in several", r, len(parts), h.Len())
		}
		if parts[0].lo != span.lo || parts[len(parts)-1].hi != span.hi {
			t.Errorf("range %v: parts %v do not cover it", r, parts)
		}
		for k := 1; k < len(parts); k++ {
			if parts[k].lo != parts[k-1].hi || parts[k].lo%(10*s) != 0 || parts[k].lo <= parts[k-1].lo {
				t.Errorf("range %v: parts %v are not cut on 10 s windows", r, parts)
			}
		}
		want := rawBy(t, e, lo, hi, 10*s)
		ts, err := e.OpenScanRollups("db", "m", lo, hi, []int64{10 * s})
		if err != nil {
			t.Fatal(err)
		}
		ts.Columns = []string{"host", "v"}
		ts.RollupColumns = []string{"host", segment.RollupRows, segment.RollupColumn("v", segment.PartSum)}
		seen := map[string]bool{}
		got := map[int64]foldAgg{}
		err = ts.RunBatches(t.Context(), func(b *columnar.ColumnBatch) error {
			if b.Rollup == 0 {
				return fmt.Errorf("raw rows in a range of whole windows")
			}
			for i := range b.Len {
				host := b.Tags[0].Dict[b.Tags[0].IDs[i]]
				k := fmt.Sprint(b.Time[i], host)
				if seen[k] {
					return fmt.Errorf("two partials of window %d and host %s", b.Time[i], host)
				}
				seen[k] = true
				var rows int64
				var sum float64
				for _, f := range b.Fields {
					switch f.Name {
					case segment.RollupRows:
						rows = f.I[i]
					case segment.RollupColumn("v", segment.PartSum):
						sum = f.F[i]
					}
				}
				a := got[b.Time[i]]
				got[b.Time[i]] = foldAgg{a.n + rows, a.sum + int64(sum)}
			}
			return nil
		})
		ts.Close()
		if err != nil {
			t.Fatalf("range %v: %v", r, err)
		}
		if len(got) != len(want) {
			t.Fatalf("range %v: %d windows, want %d", r, len(got), len(want))
		}
		for w, a := range want {
			if got[w] != a {
				t.Errorf("range %v: window at %ds: %+v, want %+v", r, (w-base)/s, got[w], a)
			}
		}
	}
}
