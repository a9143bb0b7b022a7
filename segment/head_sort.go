package segment

import (
	"cmp"
	"slices"
)

// sortBySeriesTime orders head rows sel by (series, time, row), the order
// in which ScanDeduped merges duplicates, and returns the sorted rows (sel
// or a new slice). When sel holds at least as many rows as the head has
// series it is a counting sort on the series id followed by a check of
// each series' run, which is already in time order when the points came
// in order (the usual case): linear, where a comparison sort of a wide
// SELECT over a large head cost more than the rest of the scan. Runs out
// of order, and small selections, are sorted by comparison.
func (h *Head) sortBySeriesTime(sel []int32) []int32 {
	byTime := func(a, b int32) int {
		if c := cmp.Compare(h.times[a], h.times[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	nSeries := len(h.seriesTags)
	if len(sel) < 64 || len(sel) < nSeries {
		slices.SortFunc(sel, func(a, b int32) int {
			if c := cmp.Compare(h.series[a], h.series[b]); c != 0 {
				return c
			}
			return byTime(a, b)
		})
		return sel
	}
	start := make([]int32, nSeries+1)
	for _, r := range sel {
		start[h.series[r]+1]++
	}
	for s := 1; s <= nSeries; s++ {
		start[s] += start[s-1]
	}
	out := make([]int32, len(sel))
	next := start[:nSeries]
	for _, r := range sel {
		s := h.series[r]
		out[next[s]] = r
		next[s]++
	}
	// next[s] is now the end of series s's run, and its start the end of
	// the run before it.
	lo := int32(0)
	for s := 0; s < nSeries; s++ {
		hi := next[s]
		run := out[lo:hi]
		for i := 1; i < len(run); i++ {
			if byTime(run[i-1], run[i]) > 0 {
				slices.SortFunc(run, byTime)
				break
			}
		}
		lo = hi
	}
	return out
}
