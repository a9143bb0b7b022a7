package segment

import "github.com/RoaringBitmap/roaring/v2"

// Segments are sorted by series, so the rows of one tag value are a few
// long stretches: walking them value by value (an iterator call per row)
// cost more than decoding the rows themselves. bitmapRuns finds the
// stretches by halving a range until each piece is wholly in or wholly out
// of the bitmap, asking only for cardinalities: a range with k boundaries
// takes about 2k·log2(range) container lookups, not one call per row.

// bitmapRuns calls fn(a, b) for pieces [a, b) of [lo, hi) that are wholly
// in bm, in ascending order and covering every member of bm in [lo, hi);
// adjacent pieces may be reported separately.
func bitmapRuns(bm *roaring.Bitmap, lo, hi uint64, fn func(a, b uint64)) {
	if lo >= hi {
		return
	}
	switch c := bm.CardinalityInRange(lo, hi); {
	case c == 0:
		return
	case c == hi-lo:
		fn(lo, hi)
		return
	}
	if hi-lo <= 64 {
		// Short mixed ranges: membership row by row is cheaper than
		// more halving.
		start := hi
		for x := lo; x < hi; x++ {
			in := bm.Contains(uint32(x))
			switch {
			case in && start == hi:
				start = x
			case !in && start != hi:
				fn(start, x)
				start = hi
			}
		}
		if start != hi {
			fn(start, hi)
		}
		return
	}
	mid := lo + (hi-lo)/2
	bitmapRuns(bm, lo, mid, fn)
	bitmapRuns(bm, mid, hi, fn)
}
