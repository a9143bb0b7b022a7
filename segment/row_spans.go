package segment

import (
	"cmp"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
)

// The rows a tag filter selects, as sorted runs of segment rows. Rows are
// sorted by series, so a tag value's rows are a few long runs; the filter
// of a TSBS query over eight hosts is eight runs. It was a roaring bitmap,
// the union of the values' bitmaps built afresh by every read (a read per
// core and piece): roaring's union of run containers adds run by run, and
// at about 0.1 ms a read it was most of such a query's reading. The runs
// are found with bitmapRuns (cardinality lookups, a few per run) and
// unioned and intersected as sorted lists.

// rowSpan is the segment rows [a, b).
type rowSpan struct{ a, b uint64 }

// bitmapSpans appends to dst the runs of bm, ascending and disjoint.
func bitmapSpans(dst []rowSpan, bm *roaring.Bitmap) []rowSpan {
	if bm.IsEmpty() {
		return dst
	}
	bitmapRuns(bm, uint64(bm.Minimum()), uint64(bm.Maximum())+1, func(a, b uint64) {
		if k := len(dst); k > 0 && dst[k-1].b == a {
			dst[k-1].b = b
			return
		}
		dst = append(dst, rowSpan{a, b})
	})
	return dst
}

// unionSpans sorts s and merges its overlapping and adjacent spans, in
// place.
func unionSpans(s []rowSpan) []rowSpan {
	slices.SortFunc(s, func(x, y rowSpan) int { return cmp.Compare(x.a, y.a) })
	out := s[:0]
	for _, sp := range s {
		if k := len(out); k > 0 && sp.a <= out[k-1].b {
			out[k-1].b = max(out[k-1].b, sp.b)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// intersectSpans returns the rows both x and y (ascending, disjoint) hold.
func intersectSpans(x, y []rowSpan) []rowSpan {
	var out []rowSpan
	for i, j := 0, 0; i < len(x) && j < len(y); {
		a, b := max(x[i].a, y[j].a), min(x[i].b, y[j].b)
		if a < b {
			out = append(out, rowSpan{a, b})
		}
		if x[i].b < y[j].b {
			i++
		} else {
			j++
		}
	}
	return out
}

// spansIn calls fn(a, b) for the parts of spans (ascending, disjoint) in
// [lo, hi), in order.
func spansIn(spans []rowSpan, lo, hi uint64, fn func(a, b uint64)) {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].b > lo })
	for ; i < len(spans) && spans[i].a < hi; i++ {
		fn(max(spans[i].a, lo), min(spans[i].b, hi))
	}
}

// spansMeet reports whether spans hold a row in [lo, hi).
func spansMeet(spans []rowSpan, lo, hi uint64) bool {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].b > lo })
	return i < len(spans) && spans[i].a < hi
}

// bitmapMeetsSpans reports whether bm holds a row of spans.
func bitmapMeetsSpans(bm *roaring.Bitmap, spans []rowSpan) bool {
	for _, sp := range spans {
		if bm.IntersectsWithInterval(sp.a, sp.b) {
			return true
		}
	}
	return false
}
