package segment

import "cmp"

// A cluster's writers each hold their own segments; where two hold the
// same point (series and time), a query node keeps the later write
// (docs/scaling.md, "Last write wins across nodes").

// WriteOrder compares two sources that may hold the same point by the
// write stamps of their rows (WriteMin, WriteMax): negative when a's copy
// is older than b's, so b's is kept. A source whose writes all come after
// the other's is newer; where the ranges interleave, the one whose newest
// write is later, then whose oldest write is later. A source without
// stamps (0, 0) is older than every stamped one. 0: no order.
func WriteOrder(aMin, aMax, bMin, bMax int64) int {
	return cmp.Or(cmp.Compare(aMax, bMax), cmp.Compare(aMin, bMin))
}

// MayShare reports whether a and b may hold the same point: their times
// overlap and so do their series ranges (unknown ranges overlap).
func MayShare(a, b SegmentMeta, tagOrder []string) bool {
	if a.MaxTime < b.MinTime || b.MaxTime < a.MinTime {
		return false
	}
	if !a.SeriesKnown() || !b.SeriesKnown() {
		return true
	}
	return CompareSeries(a.LastSeries, b.FirstSeries, tagOrder) >= 0 &&
		CompareSeries(b.LastSeries, a.FirstSeries, tagOrder) >= 0
}
