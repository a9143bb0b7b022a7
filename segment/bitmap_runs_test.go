package segment

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestBitmapRuns checks the pieces against membership row by row, over
// bitmaps shaped like a segment's tag index (long stretches) and like
// scattered rows, on ranges that start and end anywhere.
func TestBitmapRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		bm := roaring.New()
		const universe = 200_000
		switch round % 3 {
		case 0: // stretches
			for x := uint64(0); x < universe; {
				n := 1 + rng.Uint64N(9000)
				if rng.IntN(2) == 0 {
					bm.AddRange(x, min(x+n, universe))
				}
				x += n
			}
		case 1: // scattered
			for range 2000 {
				bm.Add(rng.Uint32N(universe))
			}
		default: // dense with holes
			bm.AddRange(0, universe)
			for range 500 {
				bm.Remove(rng.Uint32N(universe))
			}
		}
		if rng.IntN(2) == 0 {
			bm.RunOptimize()
		}
		lo := rng.Uint64N(universe)
		hi := lo + rng.Uint64N(universe-lo+1)
		got := roaring.New()
		last := lo
		bitmapRuns(bm, lo, hi, func(a, b uint64) {
			if a < last || b <= a || b > hi {
				t.Fatalf("round %d: piece [%d, %d) out of order or range [%d, %d) (previous end %d)", round, a, b, lo, hi, last)
			}
			last = b
			got.AddRange(a, b)
		})
		want := roaring.New()
		for x := lo; x < hi; x++ {
			if bm.Contains(uint32(x)) {
				want.Add(uint32(x))
			}
		}
		if !got.Equals(want) {
			t.Fatalf("round %d: pieces of [%d, %d) hold %d rows, the bitmap %d", round, lo, hi, got.GetCardinality(), want.GetCardinality())
		}
	}
}
