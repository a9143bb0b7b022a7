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
	nSeries := len(h.seriesTags)
	if len(sel) < 64 || len(sel) < nSeries {
		slices.SortFunc(sel, func(a, b int32) int {
			if c := cmp.Compare(h.series[a], h.series[b]); c != 0 {
				return c
			}
			if c := cmp.Compare(h.times[a], h.times[b]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		return sel
	}
	if one := h.series[sel[0]]; !slices.ContainsFunc(sel, func(r int32) bool { return h.series[r] != one }) {
		// One series (a one-host query): only its time order to check.
		h.mergeTimeRuns(sel, nil)
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
	var tmp []int32
	lo := int32(0)
	for s := 0; s < nSeries; s++ {
		hi := next[s]
		tmp = h.mergeTimeRuns(out[lo:hi], tmp)
		lo = hi
	}
	return out
}

// timeBefore reports whether row a sorts before row b: by time, then
// arrival.
func (h *Head) timeBefore(a, b int32) bool {
	ta, tb := h.times[a], h.times[b]
	return ta < tb || ta == tb && a < b
}

// mergeTimeRuns sorts one series' rows by (time, row) in place. Its rows
// are made of ascending stretches (each write request's points are in
// order; concurrent requests interleave): they are merged pairwise, bottom
// up, through tmp (returned, for reuse), in O(n log stretches).
func (h *Head) mergeTimeRuns(run, tmp []int32) []int32 {
	n := len(run)
	// Stretch ends, found once.
	var ends []int
	for i := 1; i < n; i++ {
		if h.timeBefore(run[i], run[i-1]) {
			ends = append(ends, i)
		}
	}
	if len(ends) == 0 {
		return tmp // already in order: the usual case
	}
	ends = append(ends, n)
	tmp = slices.Grow(tmp[:0], n)[:n]
	src, dst := run, tmp
	for len(ends) > 1 {
		lo, k := 0, 0
		for i := 0; i < len(ends); i += 2 {
			if i+1 == len(ends) { // odd one out: copied over
				copy(dst[lo:ends[i]], src[lo:ends[i]])
				ends[k] = ends[i]
				k++
				break
			}
			mid, hi := ends[i], ends[i+1]
			a, b, o := lo, mid, lo
			for a < mid && b < hi {
				if h.timeBefore(src[b], src[a]) {
					dst[o] = src[b]
					b++
				} else {
					dst[o] = src[a]
					a++
				}
				o++
			}
			o += copy(dst[o:], src[a:mid])
			copy(dst[o:], src[b:hi])
			ends[k] = hi
			k++
			lo = hi
		}
		ends = ends[:k]
		src, dst = dst, src
	}
	if &src[0] != &run[0] {
		copy(run, src)
	}
	return tmp
}
