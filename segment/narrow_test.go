package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// TestScanRangeNarrowedToRange reads a many-page segment over ranges whose
// ends fall inside pages — on a row's instant, between two rows, a
// nanosecond either side — and checks that the batches hold exactly the
// head's rows in the range, no row of a page outside it (the reader no
// longer filters them), with and without a page cache, cold and warm,
// with tag filters and with a row filter, and that the rows counted as
// read are those rows.
func TestScanRangeNarrowedToRange(t *testing.T) {
	h, seg := pagedSegment(t)
	const sec = int64(1e9)
	// Rows are every 10 s from 0 to 19990 s.
	ranges := [][2]int64{
		{3600 * sec, 3600*sec + 1800*sec},          // both ends on a row's instant
		{3600*sec + 1, 3600*sec + 1800*sec + 1},    // a nanosecond past each
		{3600*sec - 1, 3600*sec + 1800*sec - 1},    // a nanosecond before each
		{1234 * sec, 18765 * sec},                  // between rows, nearly all
		{5005 * sec, 5015 * sec},                   // one row per series
		{7000 * sec, 7000*sec + 1},                 // one instant
		{9999 * sec, math.MaxInt64},                // to the end, unbounded
		{math.MinInt64, 333 * sec},                 // from the start
		{12345*sec + 1, 12345*sec + 2},             // no row
		{-5 * sec, 20 * sec},                       // past the start
		{19985 * sec, 19995 * sec},                 // the last row
		{math.MinInt64 + 1, math.MaxInt64 - 1},     // everything, bounded
		{16383*10*sec + 5, 16385*10*sec + 5 + sec}, // around a page's end
	}
	tagSets := []map[string][]string{nil, {"host": {"h03", "h40"}}}
	colSets := [][]string{{"host", "region", "usage", "n", "msg", "ok", "u"}}
	filter := &RowFilter{Fields: []string{"usage"}, Keep: func(b *columnar.ColumnBatch, dst []int32) []int32 {
		f := &b.Fields[0] // the filter's one field
		for i := range int32(b.Len) {
			if !f.IsNull(int(i)) && int64(f.F[i])%3 != 0 {
				dst = append(dst, i)
			}
		}
		return dst
	}}
	caches := []*PageCache{nil, NewPageCache(1 << 30), NewPageCache(256 << 10)}
	var points []columnar.Point // the head's, in segment order
	if err := h.ScanOrdered(func(p *columnar.Point) error {
		points = append(points, columnar.Point{Time: p.Time, Tags: slices.Clone(p.Tags), Fields: slices.Clone(p.Fields)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		for _, tags := range tagSets {
			for _, cols := range colSets {
				for _, f := range []*RowFilter{nil, filter} {
					name := fmt.Sprintf("%v %v %v filter=%v", r, tags, cols, f != nil)
					var want []string
					for i := range points {
						p := &points[i]
						if !inRange(p.Time, r[0], r[1]) {
							continue
						}
						match := true
						for k, vals := range tags {
							v, ok := tagValueOf(p.Tags, k)
							match = match && ok && slices.Contains(vals, v)
						}
						if f != nil {
							keep := false
							for _, fv := range p.Fields {
								if fv.Key == "usage" && int64(math.Float64frombits(fv.Num))%3 != 0 {
									keep = true
								}
							}
							match = match && keep
						}
						if match {
							want = append(want, pointText(p, cols))
						}
					}
					for c, cache := range caches {
						seg.SetPageCache(cache)
						for pass := range 2 {
							var got []string
							var rs ReadStats
							if err := seg.ScanRowGroupsFiltered(cols, tags, r[0], r[1], 0, seg.NumRowGroups(), &rs, f, func(b *columnar.ColumnBatch) error {
								for i := range b.Len {
									got = append(got, rowText(b, i))
								}
								return nil
							}); err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							if !slices.Equal(got, want) {
								t.Fatalf("%s, cache %d, pass %d: %d rows, want %d (first %v, want %v)", name, c, pass, len(got), len(want), first(got), first(want))
							}
							if bounded := r[0] != math.MinInt64 || r[1] != math.MaxInt64; bounded && f == nil && rs.RowsRead.Load() != int64(len(want)) {
								t.Fatalf("%s, cache %d: %d rows counted read, want %d", name, c, rs.RowsRead.Load(), len(want))
							}
						}
					}
					seg.SetPageCache(nil)
				}
			}
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return s[0]
}

// TestAscendingStretches checks the stretches against a direct model on
// random runs of times: each stretch ascends, each next one starts where
// the time goes back, and too many give nil.
func TestAscendingStretches(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for n := range 300 {
		ts := make([]int64, n)
		back := r.IntN(40) + 1 // a step back every few rows on average
		for i := range ts {
			switch {
			case i == 0:
				ts[i] = r.Int64N(100)
			case r.IntN(back) == 0:
				ts[i] = ts[i-1] - r.Int64N(50) - 1
			default:
				ts[i] = ts[i-1] + r.Int64N(3) // equal times too
			}
		}
		var model []int32
		if n > 0 {
			model = []int32{0}
		}
		for i := 1; i < n; i++ {
			if ts[i] < ts[i-1] {
				model = append(model, int32(i))
			}
		}
		got := ascendingStretches(ts)
		if len(model) > n/maxStretchShare+1 {
			if got != nil {
				t.Fatalf("n=%d: %d stretches kept past the bound", n, len(got))
			}
			continue
		}
		if !slices.Equal(got, model) {
			t.Fatalf("n=%d: stretches %v, want %v", n, got, model)
		}
	}
}
