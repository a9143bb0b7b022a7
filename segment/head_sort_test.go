package segment

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// TestSortBySeriesTime compares the head's linear (series, time, row)
// order with a comparison sort, on heads written in order, out of order
// and with rewritten points, for selections of every size (the counting
// sort and the fallback), and checks that ScanDeduped still merges as
// ScanOrdered does.
func TestSortBySeriesTime(t *testing.T) {
	for _, tc := range []struct {
		name             string
		series, rounds   int
		shuffle, rewrite bool
	}{
		{"in-order", 20, 50, false, false},
		{"shuffled", 20, 50, true, false},
		{"rewritten", 7, 40, true, true},
		{"many-series", 300, 2, false, false},
		{"one-series", 1, 300, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.series), uint64(tc.rounds)))
			s := columnar.NewTableSchema()
			h := NewHead(s)
			var b columnar.Batch
			type pt struct{ host, t int }
			var pts []pt
			for r := 0; r < tc.rounds; r++ {
				for hs := 0; hs < tc.series; hs++ {
					pts = append(pts, pt{hs, r})
				}
			}
			if tc.shuffle {
				// Out of order within blocks of a few rounds, as late
				// points arrive.
				for i := range pts {
					j := min(len(pts)-1, i+rng.IntN(3*tc.series))
					pts[i], pts[j] = pts[j], pts[i]
				}
			}
			if tc.rewrite {
				for i := 0; i < len(pts)/5; i++ {
					pts = append(pts, pts[rng.IntN(len(pts))])
				}
			}
			for i, p := range pts {
				b.StartRow([]byte("cpu"), i+1)
				b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", p.host))
				if i%3 != 0 || !tc.rewrite {
					b.AddFloat([]byte("usage"), float64(i))
				}
				b.AddNum([]byte("n"), columnar.FieldInt, uint64(i))
				b.EndRow(int64(1000 + 10*p.t))
			}
			admitAll(t, s, h, &b)
			h.Finish()
			all := h.collectRows(nil, 0, 1<<62)
			for _, n := range []int{0, 1, 10, 63, 64, tc.series, tc.series + 1, len(all) / 2, len(all)} {
				sel := slices.Clone(all[:min(n, len(all))])
				rng.Shuffle(len(sel), func(i, j int) { sel[i], sel[j] = sel[j], sel[i] })
				want := slices.Clone(sel)
				slices.SortFunc(want, func(a, b int32) int {
					if c := cmp.Compare(h.series[a], h.series[b]); c != 0 {
						return c
					}
					if c := cmp.Compare(h.times[a], h.times[b]); c != 0 {
						return c
					}
					return cmp.Compare(a, b)
				})
				if got := h.sortBySeriesTime(sel); !slices.Equal(got, want) {
					t.Fatalf("%d rows: got %v, want %v", n, got, want)
				}
			}
			checkDeduped(t, tc.name, h, s, nil)
			if tc.series > 3 {
				checkDeduped(t, tc.name, h, s, map[string][]string{"host": {"h1", "h3"}})
			}
		})
	}
}
