package segment

import (
	"cmp"
	"slices"
	"sort"

	"github.com/siltdb/silt/columnar"
)

// Per-point write stamps in the head. A writer stamps each acknowledged
// batch with its write clock (engine/clock.go) and a batch's rows are
// appended together, so the head keeps a run per batch — its first row
// and stamp — not eight bytes a row: a flush of a head of a million rows
// written by 5,000-line requests holds 200 runs. The flush writes each
// point's stamp into the segment's stamp column (StampColumn), where a
// cluster's query node reads it to order two writers' copies of a point
// (docs/scaling.md, "Per-point write stamps").

// stampRun: rows from row on (up to the next run) were written at stamp.
type stampRun struct {
	row   int32
	stamp int64
}

// stampRunBytes is what a run costs in head bytes (its slot, with the
// slice's growth slack).
const stampRunBytes = 24

// StampNext sets the write stamp of the rows appended from now on (until
// the next call with another stamp). A writer's stamps increase; a query
// node's head of rows fetched from a writer (in series order) takes a
// run per change.
func (h *Head) StampNext(st int64) {
	n := len(h.stamps)
	switch {
	case n > 0 && h.stamps[n-1].stamp == st:
		return
	case n > 0 && int(h.stamps[n-1].row) == len(h.times):
		h.stamps[n-1].stamp = st // no row took the previous stamp
		return
	}
	h.stamps = append(h.stamps, stampRun{row: int32(len(h.times)), stamp: st})
	h.bytes += stampRunBytes
}

// Stamped reports whether every row of the head has a write stamp.
func (h *Head) Stamped() bool {
	return len(h.times) > 0 && len(h.stamps) > 0 && h.stamps[0].row == 0
}

// StampOf returns the write stamp of row i, 0 when it has none.
func (h *Head) StampOf(i int) int64 {
	k := sort.Search(len(h.stamps), func(k int) bool { return int(h.stamps[k].row) > i })
	if k == 0 {
		return 0
	}
	return h.stamps[k-1].stamp
}

// stampsView is the runs a View shares without copying: a run some row
// took is never written again; only a last run no row took yet may be
// retargeted (StampNext), and the view leaves it out.
func (h *Head) stampsView() []stampRun {
	n := len(h.stamps)
	if n > 0 && int(h.stamps[n-1].row) == len(h.times) {
		n--
	}
	return h.stamps[:n:n]
}

// stampCursor finds the stamps of rows asked in mostly ascending order
// (a flush's rows of one series) in constant time, and by binary search
// otherwise.
type stampCursor struct {
	runs []stampRun
	k    int // runs[k] holds the last row asked
}

func (c *stampCursor) of(row int32) int64 {
	runs := c.runs
	if len(runs) == 0 || row < runs[0].row {
		return 0
	}
	k := c.k
	if runs[k].row > row || k+1 < len(runs) && runs[k+1].row <= row {
		if k+2 < len(runs) && runs[k+1].row <= row && runs[k+2].row > row {
			k++ // the next run: the common step forward
		} else {
			k = sort.Search(len(runs), func(j int) bool { return runs[j].row > row }) - 1
		}
		c.k = k
	}
	return runs[k].stamp
}

// ScanOrderedRangeStamped is ScanOrderedRange with each point's write
// stamp: the greatest of its duplicates', or fallback where the head has
// none. It reads as ScanOrderedRange
// does; a cluster's query node calls it only where its merge orders
// writers' copies by stamp.
func (h *Head) ScanOrderedRangeStamped(minT, maxT, fallback int64, fn func(p *columnar.Point, stamp int64) error) error {
	h.Finish()
	sel := h.collectRows(nil, minT, maxT)
	rank := h.ranksOf(sel)
	slices.SortFunc(sel, func(a, b int32) int {
		return cmp.Or(cmp.Compare(WindowOf(h.times[a]), WindowOf(h.times[b])),
			cmp.Compare(rank[h.series[a]], rank[h.series[b]]),
			cmp.Compare(h.times[a], h.times[b]), cmp.Compare(a, b))
	})
	sc := stampCursor{runs: h.stamps}
	var p columnar.Point
	for i := 0; i < len(sel); {
		j := i + 1
		for j < len(sel) && h.series[sel[j]] == h.series[sel[i]] && h.times[sel[j]] == h.times[sel[i]] {
			j++
		}
		dups := sel[i:j]
		newest := dups[len(dups)-1]
		h.fillPoint(&p, int(newest), func(c, row int) int {
			// Field by field, the last duplicate that has a value wins.
			col := h.fields[c]
			for d := len(dups) - 1; d >= 0; d-- {
				if col.isValid(int(dups[d])) {
					return int(dups[d])
				}
			}
			return row
		})
		// Rows of one writer come in stamp order, so the newest duplicate
		// has the greatest stamp; a query node's head of fetched rows is
		// in series order, without duplicates. The greatest, either way.
		var st int64
		for _, d := range dups {
			st = max(st, sc.of(d))
		}
		if st == 0 {
			st = fallback
		}
		if err := fn(&p, st); err != nil {
			return err
		}
		i = j
	}
	return nil
}
