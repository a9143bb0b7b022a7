package columnar

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// sortedRows must return a permutation ordered by (window, series rank,
// time, arrival) on both of its paths: the counting sort and the sparse
// fallback for many windows × many series.
func TestSortedRows(t *testing.T) {
	for _, c := range []struct {
		name            string
		rows, series, w int
	}{
		{"dense", 5000, 50, 2},
		{"sparse", 300, 3000, 20}, // ~285 series × 20 windows > 4·rows+1024
		{"single", 1, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.rows), 9))
			s := NewTableSchema()
			h := NewHead(s)
			var b Batch
			for i := 0; i < c.rows; i++ {
				b.StartRow([]byte("m"), i+1)
				b.AddTag([]byte("k"), []byte(fmt.Sprint(rng.IntN(c.series))))
				b.AddFloat([]byte("v"), 1)
				// Out of order times, with repeats, across windows.
				b.EndRow(int64(rng.IntN(c.w))*int64(WindowDuration) + int64(rng.IntN(40)))
			}
			for i := range b.Rows {
				if err := s.Admit(&b, &b.Rows[i]); err != nil {
					t.Fatal(err)
				}
				h.Append(&b, &b.Rows[i], false)
			}
			perm := h.sortedRows()
			rank := h.seriesRanks()
			seen := make([]bool, c.rows)
			key := func(r int32) [4]int64 {
				return [4]int64{WindowOf(h.times[r]), int64(rank[h.series[r]]), h.times[r], int64(r)}
			}
			for i, r := range perm {
				if seen[r] {
					t.Fatalf("row %d twice", r)
				}
				seen[r] = true
				if i > 0 {
					a, z := key(perm[i-1]), key(r)
					if fmt.Sprint(a) != fmt.Sprint(z) && !less4(a, z) {
						t.Fatalf("position %d: %v after %v", i, z, a)
					}
				}
			}
			if len(perm) != c.rows {
				t.Fatalf("%d rows of %d", len(perm), c.rows)
			}
		})
	}
}

func less4(a, b [4]int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
