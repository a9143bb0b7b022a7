package segment

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/siltdb/silt/columnar"
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
// first, so equal tag prefixes form contiguous runs that index as ranges;
// rank is each series' place in it (seriesRanks).
//
// It only reads the head: a flush (WriteSegments) and scans of the same
// frozen head (ScanOrdered) call it at once, unlocked, so what the flush
// keeps of the order (flushed, flushedRank) it stores itself.
func (h *Head) flushOrder() (runs []flushRun, rank []int32) {
	n := len(h.times)
	if n == 0 {
		return nil, nil
	}
	perm, rank := h.sortedRows()
	var cur *flushRun
	// The runs' rows are written into perm itself: each group of
	// duplicates yields one row, written at or before the group's first
	// position after the group was read, so the flush holds one array of
	// row numbers rather than two.
	written := 0
	for i := 0; i < n; {
		first := perm[i]
		j := i + 1
		for j < n && h.series[perm[j]] == h.series[first] && h.times[perm[j]] == h.times[first] {
			j++
		}
		w := WindowOf(h.times[first])
		if cur == nil || cur.Window != w {
			runs = append(runs, flushRun{Window: w, Rows: perm[written:written:n]})
			cur = &runs[len(runs)-1]
		}
		last := perm[j-1]
		out := int32(len(cur.Rows))
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
		cur.Rows = append(cur.Rows, last) // perm[written], written <= i
		written++
		i = j
	}
	for r := range runs {
		runs[r].Rows = slices.Clip(runs[r].Rows)
		slices.SortFunc(runs[r].Overrides, func(a, b override) int {
			if c := cmp.Compare(a.Col, b.Col); c != 0 {
				return c
			}
			return cmp.Compare(a.Out, b.Out)
		})
	}
	return runs, rank
}

// sortedRows returns the row numbers ordered by (window, series rank, time,
// arrival), and the series ranks it ordered by. A counting sort on (window,
// series) does the bulk in O(n); rows of one series usually arrive in time
// order, so the per-series time sort is mostly a check.
func (h *Head) sortedRows() (perm, rank []int32) {
	n := len(h.times)
	rank = h.seriesRanks()
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
		perm = make([]int32, n)
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
		return perm, rank
	}
	counts := make([]int32, nb+1)
	for i := range h.times {
		counts[int(winOf[i])*ns+int(rank[h.series[i]])+1]++
	}
	for b := 1; b <= nb; b++ {
		counts[b] += counts[b-1]
	}
	perm = make([]int32, n)
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
	return perm, rank
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

// flushedBatches passes run's rows, in segment order, as batches of at
// most RowGroupRows rows holding time, every tag (dictionaries are the
// head's, shared) and fields, with the merged values a duplicate point
// got (run.Overrides) as the segment holds them.
func (h *Head) flushedBatches(run *flushRun, fields []columnar.FieldSchema, fn func(*columnar.ColumnBatch) error) error {
	g, err := h.newFlushGather(fields)
	if err != nil {
		return err
	}
	return g.batches(h, run, 0, len(run.Rows), fn)
}

// flushGather gathers output rows of a flush run into one reused batch.
type flushGather struct {
	b    columnar.ColumnBatch
	cols []int // head field column of each field
	srcs []int32
}

func (h *Head) newFlushGather(fields []columnar.FieldSchema) (*flushGather, error) {
	g := &flushGather{cols: make([]int, len(fields))}
	for c, name := range h.flushedTags {
		g.b.Tags = append(g.b.Tags, columnar.TagVector{Name: name, Dict: h.dicts[c].vals})
	}
	for i, f := range fields {
		g.cols[i] = slices.IndexFunc(h.flushedFields, func(s columnar.FieldSchema) bool { return s.Name == f.Name && s.Type == f.Type })
		if g.cols[i] < 0 || g.cols[i] >= len(h.fields) {
			return nil, fmt.Errorf("flushed rollups: the head has no column for field %s", f.Name)
		}
		g.b.Fields = append(g.b.Fields, columnar.FieldVector{Name: f.Name, Type: f.Type})
	}
	return g, nil
}

// batches passes fn output rows [lo, hi) of run as batches of at most
// RowGroupRows rows, cut where a whole run's batches are cut (multiples
// of RowGroupRows from lo).
func (g *flushGather) batches(h *Head, run *flushRun, lo, hi int, fn func(*columnar.ColumnBatch) error) error {
	b := &g.b
	for start := lo; start < hi; start += RowGroupRows {
		end := min(start+RowGroupRows, hi)
		n := end - start
		b.Len, b.Sel = n, nil
		b.Time = slices.Grow(b.Time[:0], n)[:n]
		for k, src := range run.Rows[start:end] {
			b.Time[k] = h.times[src]
		}
		for c := range b.Tags {
			ids := slices.Grow(b.Tags[c].IDs[:0], n)[:n]
			for k, src := range run.Rows[start:end] {
				ids[k] = h.tagID(h.series[src], c)
			}
			b.Tags[c].IDs = ids
		}
		for i := range b.Fields {
			g.srcs = overriddenRows(g.srcs[:0], run, g.cols[i], start, end)
			h.fields[g.cols[i]].gatherVector(&b.Fields[i], g.srcs)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// hasOverrides reports whether a duplicate point of run kept an earlier
// write's value of field column col.
func hasOverrides(run *flushRun, col int) bool {
	ov := run.Overrides
	k, _ := slices.BinarySearchFunc(ov, col, func(o override, c int) int { return int(o.Col) - c })
	return k < len(ov) && int(ov[k].Col) == col
}

// overriddenRows appends the source row of each output row in [start,
// end) of run for field column col: the row itself, or the earlier write
// whose value a duplicate point kept. The segment writer and the
// flush-time rollups both read field values through it.
func overriddenRows(dst []int32, run *flushRun, col, start, end int) []int32 {
	ov := run.Overrides
	k, _ := slices.BinarySearchFunc(ov, [2]int{col, start}, func(o override, t [2]int) int {
		if int(o.Col) != t[0] {
			return int(o.Col) - t[0]
		}
		return int(o.Out) - t[1]
	})
	for out := start; out < end; out++ {
		src := run.Rows[out]
		if k < len(ov) && int(ov[k].Col) == col && int(ov[k].Out) == out {
			src = ov[k].Src
			k++
		}
		dst = append(dst, src)
	}
	return dst
}
