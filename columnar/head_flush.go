package columnar

import (
	"cmp"
	"slices"
	"strings"
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
	rank := h.seriesRanks()
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int {
		ta, tb := h.times[a], h.times[b]
		if c := cmp.Compare(WindowOf(ta), WindowOf(tb)); c != 0 {
			return c
		}
		if c := cmp.Compare(rank[h.series[a]], rank[h.series[b]]); c != 0 {
			return c
		}
		if c := cmp.Compare(ta, tb); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})

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

// seriesRanks returns, per series id, its position in lexicographic tag order.
func (h *Head) seriesRanks() []int32 {
	ns := len(h.seriesTags)
	order := make([]int32, ns)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		for col := range h.dicts {
			ia, ib := h.tagID(uint32(a), col), h.tagID(uint32(b), col)
			if ia == ib {
				continue
			}
			if ia < 0 {
				return -1
			}
			if ib < 0 {
				return 1
			}
			return strings.Compare(h.dicts[col].vals[ia], h.dicts[col].vals[ib])
		}
		return 0
	})
	rank := make([]int32, ns)
	for r, sid := range order {
		rank[sid] = int32(r)
	}
	return rank
}
