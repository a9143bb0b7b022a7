package segment

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/siltdb/silt/columnar"
)

// Flushed rollups from the head's live partials. A head keeps partials of
// its dense sealed blocks and spans (head_block_rollup.go,
// head_span_rollup.go), which reads take instead of folding rows; a flush
// takes them too instead of folding every row again. A rollup window of a
// flushed segment (one series, one window of the rollup's width) comes
// from partials when
//
//   - no point of the window may be held twice (head_dups.go): partials
//     count every write, the segment holds the merged point;
//   - the partials of the sources read (a span's where it nests in the
//     width, else its blocks') cover every row of the window: their row
//     counts add up to the rows the segment holds there, so no row is in
//     the unsealed tail or a block without partials of a nesting width;
//   - combining them leaves no integer sum overflowing.
//
// Every other window is folded from the flushed rows as before
// (buildFlushedRollupsFromRows), in the same (series, time) order, so the
// output is one row per series and window, in the order a SegmentWriter
// needs, whichever source a window came from. A window from one partial is
// bit for bit the row fold's (the same rows folded in the same order); a
// window combining several partials has the same counts, minima, maxima,
// firsts, lasts, their times and integer sums, while its float sum and
// squared deviations are those of another order of addition (Chan's
// pairwise update rather than Welford's), equal up to rounding — as
// when a reader combines the partials of several segments. Two corners
// differ the same way: a float minimum or maximum reached by both 0 and
// -0 (or two NaNs) keeps the older partial's rather than the earlier
// row's, and an integer sum that leaves its type only part way through
// the window's rows in time order, not in the partials' totals, gets a
// rollup where the row fold gave the segment none (ErrRollupOverflow).

// flushPartialsMinCover is the share of a flushed segment's rows the
// partials must cover at a width for the flush to take them: below it the
// width is folded from the rows with the other such widths in one pass,
// which gathers each row once for all of them.
var flushPartialsMinCover = 0.5

// flushPartialsCombine lets a flushed rollup window combine several
// partials (a window spanning blocks, or coarser than their partials).
// Without it only windows one block partial covers come from partials
// (not spans', which combine their blocks'), and the output is bit for bit
// the row fold's, float sums and m2 included.
var flushPartialsCombine = true

// flushRollupStats counts where a flush's rollup windows came from.
type flushRollupStats struct {
	partialWindows int64 // from the head's partials
	rowWindows     int64 // folded from rows
}

// BuildFlushedRollups is BuildRollups of the i-th segment h's last flush
// wrote (WriteSegments), from the head rather than the file: the head's
// live partials where they are exact, its rows elsewhere. It returns the
// number of windows written per width.
func BuildFlushedRollups(h *Head, i int, widths []int64, outs []RollupWriter) ([]int64, error) {
	return buildFlushedRollups(h, i, widths, outs, nil)
}

func buildFlushedRollups(h *Head, i int, widths []int64, outs []RollupWriter, st *flushRollupStats) ([]int64, error) {
	if i < 0 || i >= len(h.flushed) {
		return nil, fmt.Errorf("rollup: the head's last flush wrote %d segments, not %d", len(h.flushed), i+1)
	}
	if len(widths) != len(outs) {
		return nil, fmt.Errorf("rollup: %d widths, %d writers", len(widths), len(outs))
	}
	for _, w := range widths {
		if w <= 0 || int64(WindowDuration)%w != 0 {
			// Partials are only known to nest in widths dividing a day.
			return buildFlushedRollupsFromRows(h, i, widths, outs)
		}
	}
	run := &h.flushed[i]
	fields := rollableFields(h.flushedFields)
	fp := &flushPartials{h: h, run: run, fields: fields}
	if err := fp.init(); err != nil {
		return nil, err
	}
	windows := make([]int64, len(widths))
	var rowIdx []int
	for k, w := range widths {
		covered := fp.collect(w)
		if len(fp.refs) == 0 || float64(covered) < flushPartialsMinCover*float64(len(run.Rows)) {
			rowIdx = append(rowIdx, k)
			continue
		}
		n, err := fp.build(w, outs[k], st)
		if err != nil {
			return nil, err
		}
		windows[k] = n
	}
	if len(rowIdx) > 0 {
		ws := make([]int64, len(rowIdx))
		wos := make([]RollupWriter, len(rowIdx))
		for j, k := range rowIdx {
			ws[j], wos[j] = widths[k], outs[k]
		}
		ns, err := buildFlushedRollupsFromRows(h, i, ws, wos)
		if err != nil {
			return nil, err
		}
		for j, k := range rowIdx {
			windows[k] = ns[j]
			if st != nil {
				st.rowWindows += ns[j]
			}
		}
	}
	return windows, nil
}

// flushPartials builds one flushed segment's rollups of a width from the
// head's partials and rows.
type flushPartials struct {
	h      *Head
	run    *flushRun
	fields []columnar.FieldSchema
	cols   []int // head field column of each field
	rank   []int32
	g      *flushGather

	// Of the width being built: the sources whose partials are read, the
	// partials of clean windows of the segment's day, sorted by (series
	// rank, window, source), and the dirty windows.
	srcs  []*headBlock
	refs  []partialRef
	dirty [][2]int64
	read  []bool // per sealed block: its rows are in a source's partials

	ps    []partial // scratch: a window's combined partials
	rest  []int32   // scratch: a window's rows no partial covers
	times []int64   // and their times
	fv    columnar.FieldVector
	null  []bool   // fv.Null's memory, which gatherVector drops when nothing is NULL
	vals  []string // scratch: a series' tag values
	has   []bool
}

// partialRef is one partial of a source: its series' rank, its window of
// the width built, its source (index into srcs) and its index there.
type partialRef struct {
	rank   int32
	src    int32
	i      int32
	window int64
}

func (fp *flushPartials) init() error {
	h := fp.h
	g, err := h.newFlushGather(fp.fields)
	if err != nil {
		return err
	}
	fp.g, fp.cols = g, g.cols
	fp.rank = h.flushedRank
	if len(fp.rank) != len(h.seriesTags) {
		fp.rank = h.seriesRanks() // not kept: the head is only read here
	}
	fp.ps = make([]partial, len(fp.fields))
	fp.vals = make([]string, len(h.flushedTags))
	fp.has = make([]bool, len(h.flushedTags))
	return nil
}

// collect gathers the partials of width's clean windows in the segment's
// day and returns how many rows they cover.
func (fp *flushPartials) collect(width int64) (covered int64) {
	h := fp.h
	lo := fp.run.Window
	hi := lo + int64(WindowDuration)
	fp.srcs, fp.refs = fp.srcs[:0], fp.refs[:0]
	fp.dirty = h.dirtyWindows(lo, hi, width)
	usable := func(b *headBlock) bool {
		return b != nil && overlapsSpan(b.minT, b.maxT, lo, hi) && usableRollup(b, width)
	}
	// A span's partials stand for its blocks' (as in Head.ScanRollup).
	fp.read = slices.Grow(fp.read[:0], len(h.blocks))[:len(h.blocks)]
	clear(fp.read)
	for k, sp := range h.spans {
		if !flushPartialsCombine || !usable(sp) {
			continue
		}
		fp.srcs = append(fp.srcs, sp)
		for b := k * spanBlocks; b < (k+1)*spanBlocks; b++ {
			fp.read[b] = true
		}
	}
	for b, blk := range h.blocks {
		if !fp.read[b] && usable(blk) {
			fp.srcs = append(fp.srcs, blk)
			fp.read[b] = true
		}
	}
	// Sources in row order, so that a window's partials combine oldest
	// first, as the reader's fold does.
	slices.SortFunc(fp.srcs, func(a, b *headBlock) int { return cmp.Compare(a.lo, b.lo) })
	for s, src := range fp.srcs {
		r := src.roll
		for i, w := range r.windows {
			ws := WindowStart(w, width)
			if ws < lo || ws >= hi {
				continue
			}
			if dirtyAt(fp.dirty, ws) {
				continue
			}
			fp.refs = append(fp.refs, partialRef{rank: fp.rank[src.sids[r.series[i]]], src: int32(s), i: int32(i), window: ws})
			covered += r.rows[i]
		}
	}
	slices.SortFunc(fp.refs, func(a, b partialRef) int {
		if c := cmp.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		if c := cmp.Compare(a.window, b.window); c != 0 {
			return c
		}
		return cmp.Compare(a.src, b.src)
	})
	if !flushPartialsCombine {
		// Only windows of one partial are taken.
		covered = 0
		for k, rf := range fp.refs {
			if (k == 0 || !sameWindow(fp.refs[k-1], rf)) && (k+1 == len(fp.refs) || !sameWindow(fp.refs[k+1], rf)) {
				covered += fp.srcs[rf.src].roll.rows[rf.i]
			}
		}
	}
	return covered
}

func sameWindow(a, b partialRef) bool { return a.rank == b.rank && a.window == b.window }

// dirtyAt reports whether the window starting at ws is in one of the
// dirty ranges (ascending, disjoint, aligned on the width).
func dirtyAt(dirty [][2]int64, ws int64) bool {
	k, _ := slices.BinarySearchFunc(dirty, ws, func(d [2]int64, t int64) int {
		if d[1] <= t {
			return -1
		}
		if d[0] > t {
			return 1
		}
		return 0
	})
	return k < len(dirty) && dirty[k][0] <= ws && ws < dirty[k][1]
}

// build writes the rollup of width to out: series by series, window by
// window, each from the partials collected when they cover it, else from
// its rows. Consecutive windows folded from rows are fed to the row fold
// together, so its batches stay full.
func (fp *flushPartials) build(width int64, out RollupWriter, st *flushRollupStats) (int64, error) {
	h, run := fp.h, fp.run
	tags := h.flushedTags
	rb := newRollupBuilder(width, tags, fp.fields, out)
	feed := rollupFeeder(tags, fp.fields, []*rollupBuilder{rb})
	rows := run.Rows
	n := len(rows)
	pend := -1 // first output row of the windows waiting to be folded from rows
	flushRows := func(end int) error {
		if pend < 0 {
			return nil
		}
		lo := pend
		pend = -1
		if err := fp.g.batches(h, run, lo, end, feed); err != nil {
			return err
		}
		return rb.finish()
	}
	var fromParts int64
	k := 0 // next ref
	for s0 := 0; s0 < n; {
		sid := h.series[rows[s0]]
		rk := fp.rank[sid]
		s1 := s0 + searchRows(rows[s0:], func(r int32) bool { return fp.rank[h.series[r]] > rk })
		haveTags := false
		for i := s0; i < s1; {
			ws := WindowStart(h.times[rows[i]], width)
			j := s1
			if ws <= math.MaxInt64-width {
				end := ws + width
				j = i + searchRows(rows[i:s1], func(r int32) bool { return h.times[r] >= end })
			}
			for k < len(fp.refs) && (fp.refs[k].rank < rk || fp.refs[k].rank == rk && fp.refs[k].window < ws) {
				k++
			}
			k2, got := k, int64(0)
			for k2 < len(fp.refs) && fp.refs[k2].rank == rk && fp.refs[k2].window == ws {
				got += fp.srcs[fp.refs[k2].src].roll.rows[fp.refs[k2].i]
				k2++
			}
			whole := false
			switch {
			case k2 == k || got > int64(j-i):
				// No partials (a dirty window, rows of blocks without
				// partials of a nesting width or of the tail); or more
				// rows than the segment's, which a clean window cannot
				// have: the rows decide.
			case got == int64(j-i):
				whole = (k2-k == 1 || flushPartialsCombine) && fp.combine(fp.refs[k:k2])
			case flushPartialsCombine:
				// Partly covered (the tail, or blocks without partials,
				// hold some rows): the partials and a fold of the rest.
				whole = fp.combine(fp.refs[k:k2]) && fp.foldRest(rows[i:j], j-i-int(got))
			}
			got = int64(j - i)
			k = k2
			if !whole {
				if pend < 0 {
					pend = i
				}
				i = j
				continue
			}
			if err := flushRows(i); err != nil {
				return 0, err
			}
			if !haveTags {
				for c := range tags {
					id := h.tagID(sid, c)
					fp.has[c], fp.vals[c] = id >= 0, ""
					if id >= 0 {
						fp.vals[c] = h.dicts[c].vals[id]
					}
				}
				haveTags = true
			}
			if err := rb.emitWindow(ws, got, fp.vals, fp.has, fp.ps); err != nil {
				return 0, err
			}
			fromParts++
			i = j
		}
		s0 = s1
	}
	if err := flushRows(n); err != nil {
		return 0, err
	}
	if st != nil {
		st.partialWindows += fromParts
		st.rowWindows += rb.windows - fromParts
	}
	return rb.windows, nil
}

// combine sets fp.ps to the partials refs combined, oldest source first,
// and reports whether no integer sum overflowed (else the window is
// folded from its rows, whose fold says whether it overflows).
func (fp *flushPartials) combine(refs []partialRef) bool {
	clear(fp.ps)
	for _, rf := range refs {
		parts := fp.h.partsOf(fp.srcs[rf.src]) // folded by the first reader (head_block_rollup.go)
		for f, c := range fp.cols {
			if c >= len(parts) || parts[c] == nil {
				continue // a field added after the block was sealed: no values there
			}
			if mergePartial(&fp.ps[f], &parts[c][rf.i], fp.fields[f].Type) {
				return false
			}
		}
	}
	return true
}

// foldRest folds into fp.ps the rows of group (a clean window's, in time
// order) that no source read covers, and reports whether they were the
// want rows the partials lack and no integer sum overflowed. A clean
// window holds no merged point, so its rows' own values are the
// segment's.
func (fp *flushPartials) foldRest(group []int32, want int) bool {
	h := fp.h
	fp.rest = fp.rest[:0]
	for _, r := range group {
		if int(r) >= h.sealed || !fp.read[int(r)/blockRows] {
			fp.rest = append(fp.rest, r)
		}
	}
	n := len(fp.rest)
	if n != want {
		return false
	}
	fp.times = slices.Grow(fp.times[:0], n)[:n]
	for k, r := range fp.rest {
		fp.times[k] = h.times[r]
	}
	for f, c := range fp.cols {
		fp.null = slices.Grow(fp.null[:0], n)
		fp.fv.Type, fp.fv.Null = fp.fields[f].Type, fp.null
		h.fields[c].gatherVector(&fp.fv, fp.rest)
		var p partial
		foldRun(&p, &fp.fv, fp.times, 0, n)
		if p.overflow || mergePartial(&fp.ps[f], &p, fp.fields[f].Type) {
			return false
		}
	}
	return true
}

// searchRows returns the first index of rows at which past turns true
// (rows ordered so that it turns true once), or len(rows).
func searchRows(rows []int32, past func(int32) bool) int {
	lo, hi := 0, len(rows)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if past(rows[m]) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}
