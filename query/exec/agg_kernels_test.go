package exec

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// TestInt64Kernels checks the multi-lane min and max and the grouped
// best-row loop against one plain pass, over lengths that leave every
// tail of the unrolled loop and values at the ends of bigint.
func TestInt64Kernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 40; n++ {
		for trial := 0; trial < 20; trial++ {
			xs := make([]int64, n)
			for k := range xs {
				switch r.IntN(10) {
				case 0:
					xs[k] = math.MinInt64
				case 1:
					xs[k] = math.MaxInt64
				default:
					xs[k] = r.Int64N(21) - 10 // many ties
				}
			}
			lo, hi := xs[0], xs[0]
			for _, v := range xs {
				lo, hi = min(lo, v), max(hi, v)
			}
			if got := maxInt64s(xs); got != hi {
				t.Fatalf("maxInt64s(%v) = %d, want %d", xs, got, hi)
			}
			if got := minInt64s(xs); got != lo {
				t.Fatalf("minInt64s(%v) = %d, want %d", xs, got, lo)
			}
			const ng = 4
			gids := make([]int32, n)
			null := make([]bool, n)
			for k := range gids {
				gids[k] = int32(r.IntN(ng))
				null[k] = r.IntN(4) == 0
			}
			for _, isMax := range []bool{false, true} {
				for _, nulls := range [][]bool{nil, null} {
					want := noRows(ng)
					for k, g := range gids {
						if nulls != nil && nulls[k] {
							continue
						}
						if b := want[g]; b < 0 || (isMax && xs[k] > xs[b]) || (!isMax && xs[k] < xs[b]) {
							want[g] = k // the first of equal values
						}
					}
					got := noRows(ng)
					if err := bestInt64Rows(context.Background(), got, xs, nulls, gids, isMax); err != nil {
						t.Fatal(err)
					}
					for g := range want {
						if got[g] != want[g] {
							t.Fatalf("bestInt64Rows(%v, gids %v, nulls %v, max %v): rows %v, want %v", xs, gids, nulls, isMax, got, want)
						}
					}
				}
			}
		}
	}
}
