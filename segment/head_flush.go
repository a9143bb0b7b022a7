package segment

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// WindowDuration is the time partition of segments: one file set per table
// per UTC day.
const WindowDuration = 24 * time.Hour

// WindowOf returns the start (ns) of the window holding t.
func WindowOf(t int64) int64 {
	w := int64(WindowDuration)
	s := t / w * w
	if t < 0 && s != t {
		s -= w
	}
	return s
}

// WindowName is the directory name of the window starting at start.
func WindowName(start int64) string {
	return time.Unix(0, start).UTC().Format("2006-01-02")
}

// override says that output row Out takes column Col's value from source row
// Src rather than from the output row's own source: duplicates of one point
// are merged field by field, the last written value of each field winning.
type override struct {
	Col, Out, Src int32
}

// flushRun is the rows of one window in segment order.
type flushRun struct {
	Window    int64
	Rows      []int32 // source row per output row (the last written duplicate)
	Overrides []override
}

// flushOrder sorts the frozen head's rows by (window, series, time, arrival),
// merges duplicate points (same series and time) and splits by window.
// Series order is lexicographic over tag values in column order, absent tags
// first, so equal tag prefixes form contiguous runs that index as ranges.
func (h *Head) flushOrder() []flushRun {
	n := len(h.times)
	if n == 0 {
		return nil
	}
	perm := h.sortedRows()
	var runs []flushRun
	var cur *flushRun
	for i := 0; i < n; {
		first := perm[i]
		j := i + 1
		for j < n && h.series[perm[j]] == h.series[first] && h.times[perm[j]] == h.times[first] {
			j++
		}
		w := WindowOf(h.times[first])
		if cur == nil || cur.Window != w {
			runs = append(runs, flushRun{Window: w})
			cur = &runs[len(runs)-1]
		}
		last := perm[j-1]
		out := int32(len(cur.Rows))
		cur.Rows = append(cur.Rows, last)
		if j-i > 1 {
			// Field by field, the last duplicate that has a value wins.
			for c, col := range h.fields {
				if col.isValid(int(last)) {
					continue
				}
				for k := j - 2; k >= i; k-- {
					if col.isValid(int(perm[k])) {
						cur.Overrides = append(cur.Overrides, override{Col: int32(c), Out: out, Src: perm[k]})
						break
					}
				}
			}
		}
		i = j
	}
	for r := range runs {
		slices.SortFunc(runs[r].Overrides, func(a, b override) int {
			if c := cmp.Compare(a.Col, b.Col); c != 0 {
				return c
			}
			return cmp.Compare(a.Out, b.Out)
		})
	}
	return runs
}

// sortedRows returns the row numbers ordered by (window, series rank, time,
// arrival). A counting sort on (window, series) does the bulk in O(n); rows
// of one series usually arrive in time order, so the per-series time sort
// is mostly a check.
func (h *Head) sortedRows() []int32 {
	n := len(h.times)
	rank := h.seriesRanks()
	ns := len(rank)
	// Dense window numbers, in time order.
	var wins []int64
	last := int64(math.MinInt64)
	for _, t := range h.times {
		if w := WindowOf(t); w != last {
			if j, found := slices.BinarySearch(wins, w); !found {
				wins = slices.Insert(wins, j, w)
			}
			last = w
		}
	}
	winOf := make([]int32, n)
	last, lastIdx := int64(math.MinInt64), 0
	for i, t := range h.times {
		if w := WindowOf(t); w != last {
			lastIdx, _ = slices.BinarySearch(wins, w)
			last = w
		}
		winOf[i] = int32(lastIdx)
	}
	nb := len(wins) * ns
	if nb > 4*n+1024 {
		// Sparse (many windows × many series): buckets would outweigh rows.
		perm := make([]int32, n)
		for i := range perm {
			perm[i] = int32(i)
		}
		slices.SortFunc(perm, func(a, b int32) int {
			if c := cmp.Compare(winOf[a], winOf[b]); c != 0 {
				return c
			}
			if c := cmp.Compare(rank[h.series[a]], rank[h.series[b]]); c != 0 {
				return c
			}
			if c := cmp.Compare(h.times[a], h.times[b]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		return perm
	}
	counts := make([]int32, nb+1)
	for i := range h.times {
		counts[int(winOf[i])*ns+int(rank[h.series[i]])+1]++
	}
	for b := 1; b <= nb; b++ {
		counts[b] += counts[b-1]
	}
	perm := make([]int32, n)
	next := slices.Clone(counts[:nb])
	for i := range h.times {
		b := int(winOf[i])*ns + int(rank[h.series[i]])
		perm[next[b]] = int32(i)
		next[b]++
	}
	for b := 0; b < nb; b++ {
		run := perm[counts[b]:counts[b+1]]
		sorted := true
		for k := 1; k < len(run); k++ {
			if h.times[run[k]] < h.times[run[k-1]] {
				sorted = false
				break
			}
		}
		if !sorted {
			// Stable: equal times keep arrival order, so the last write
			// of a point stays last.
			slices.SortStableFunc(run, func(a, b int32) int { return cmp.Compare(h.times[a], h.times[b]) })
		}
	}
	return perm
}

// seriesRanks returns, per series id, its position in lexicographic tag order.
func (h *Head) seriesRanks() []int32 {
	ns := len(h.seriesTags)
	order := make([]int32, ns)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return h.compareSeries(uint32(a), uint32(b)) })
	rank := make([]int32, ns)
	for r, sid := range order {
		rank[sid] = int32(r)
	}
	return rank
}
