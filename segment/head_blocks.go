package segment

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/siltdb/silt/columnar"
)

// The head's read index. Rows stay in arrival order in the column slices
// (appends are cheap and a View shares them), but every blockRows rows the
// writer seals a block: an immutable index of those rows grouped by series,
// each series' rows in (time, arrival) order, with the block's time range.
// A query for a few series over a short range then touches only those
// series' rows of the blocks whose time overlaps it — live data arrives
// roughly in time order, so a one-hour query on a day-long head visits an
// hour's worth of blocks — instead of every row of the head. The rows after
// the last sealed block (fewer than blockRows) are scanned as they are.
//
// Sealed blocks are never written again, so a View shares them without a
// copy and reads them without a lock while the writer seals more.

// blockRows is the number of arrival-ordered rows a sealed block indexes:
// small enough that a query's range cuts off most of a head, large enough
// that per-block work (its series directory) is small next to its rows.
const blockRows = 8 << 10

// headBlock indexes the head's rows [lo, hi).
type headBlock struct {
	lo, hi     int32
	minT, maxT int64
	// sids are the series with rows in the block, ascending; the rows of
	// sids[i] are rows[start[i]:start[i+1]], in (time, arrival) order.
	sids  []uint32
	start []int32
	rows  []int32
	// times are the rows' times in that order; cols[c], once a fold
	// read field column c here, its values in that order (head_fold.go).
	times []int64
	cols  []atomic.Pointer[orderedColumn]
	// zones[c], once a filtered scan tested field column c here, the
	// ranges of its values per series (head_zone.go).
	zones []atomic.Pointer[blockZones]
	roll  *blockRollup // partials of dense blocks (head_block_rollup.go)
	// dupLo..dupHi spans the times of the block's rows that repeat a
	// point of it or of an earlier block (head_dups.go); dupLo > dupHi:
	// none.
	dupLo, dupHi int64
}

// blockBytes is what a sealed block adds to the head's memory.
func blockBytes(b *headBlock) int64 {
	return int64(12*len(b.rows)+8*len(b.sids)+8*len(b.cols)+8*len(b.zones)) + 64
}

// sealBlocks indexes every complete block of blockRows rows not yet sealed.
// Called by Append after each row: it does its work once per blockRows rows.
func (h *Head) sealBlocks() {
	for len(h.times)-h.sealed >= blockRows {
		h.sealBlock(h.sealed, h.sealed+blockRows)
	}
}

// sealBlock builds the block of rows [lo, hi) with a counting sort by
// series (rows of one series mostly arrive in time order, so the per-series
// sort is mostly a check).
func (h *Head) sealBlock(lo, hi int) {
	h.sealGen++
	if h.sealGen == 0 { // wrapped: old stamps could collide
		clear(h.sealStamp)
		h.sealGen = 1
	}
	for len(h.sealStamp) < len(h.seriesTags) {
		h.sealStamp = append(h.sealStamp, 0)
		h.sealLocal = append(h.sealLocal, 0)
	}
	blk := &headBlock{lo: int32(lo), hi: int32(hi), minT: math.MaxInt64, maxT: math.MinInt64}
	for i := lo; i < hi; i++ {
		sid := h.series[i]
		if h.sealStamp[sid] != h.sealGen {
			h.sealStamp[sid] = h.sealGen
			h.sealLocal[sid] = 0
			blk.sids = append(blk.sids, sid)
		}
		h.sealLocal[sid]++ // count, turned into an offset below
		t := h.times[i]
		blk.minT = min(blk.minT, t)
		blk.maxT = max(blk.maxT, t)
	}
	slices.Sort(blk.sids)
	blk.start = make([]int32, len(blk.sids)+1)
	for i, sid := range blk.sids {
		blk.start[i+1] = blk.start[i] + h.sealLocal[sid]
		h.sealLocal[sid] = blk.start[i] // next free slot of sid
	}
	blk.rows = make([]int32, hi-lo)
	for i := lo; i < hi; i++ {
		sid := h.series[i]
		blk.rows[h.sealLocal[sid]] = int32(i)
		h.sealLocal[sid]++
	}
	for k := range blk.sids {
		g := blk.rows[blk.start[k]:blk.start[k+1]]
		if !slices.IsSortedFunc(g, h.byTime) {
			slices.SortStableFunc(g, h.byTime) // equal times keep arrival order
		}
	}
	blk.times = make([]int64, len(blk.rows))
	for i, r := range blk.rows {
		blk.times[i] = h.times[r]
	}
	blk.cols = make([]atomic.Pointer[orderedColumn], len(h.fields))
	blk.zones = make([]atomic.Pointer[blockZones], len(h.fields))
	h.sealDups(blk)
	h.rollBlock(blk)
	h.blocks = append(h.blocks, blk)
	h.sealed = hi
	h.bytes += blockBytes(blk)
	h.rollSpan()
	h.queueParts(blk)
}

func (h *Head) byTime(a, b int32) int { return cmp.Compare(h.times[a], h.times[b]) }

// inSpan reports whether t is in [minT, maxT), maxT == math.MaxInt64
// meaning no upper bound (the instant MaxInt64 included), as the engine's
// scan ranges are.
func inSpan(t, minT, maxT int64) bool { return t >= minT && (t < maxT || maxT == math.MaxInt64) }

// overlapsSpan reports whether any instant of [lo, hi] is in [minT, maxT).
func overlapsSpan(lo, hi, minT, maxT int64) bool {
	return hi >= minT && (lo < maxT || maxT == math.MaxInt64)
}

// timeRun returns the part of g (rows in time order) with time in
// [minT, maxT).
func (h *Head) timeRun(g []int32, minT, maxT int64) []int32 {
	i, _ := slices.BinarySearchFunc(g, minT, func(r int32, t int64) int { return cmp.Compare(h.times[r], t) })
	j := len(g)
	if maxT != math.MaxInt64 {
		j, _ = slices.BinarySearchFunc(g, maxT, func(r int32, t int64) int { return cmp.Compare(h.times[r], t) })
	}
	if j < i {
		return nil
	}
	return g[i:j]
}

// selectRows calls add with the rows whose series keep holds (nil: all)
// and whose time is in [minT, maxT), block by block; whole, if not nil, is
// called instead as whole(lo, hi) for a block wholly wanted, so its rows
// can be read as contiguous columns. Otherwise rows of one block come
// grouped by series, each series' in (time, arrival) order, and so do
// those of the unsealed tail.
func (h *Head) selectRows(keep []bool, minT, maxT int64, add func(rows []int32) error, whole func(lo, hi int) error) error {
	return h.selectRowsSkipping(keep, minT, maxT, add, whole, nil)
}

// selectRowsSkipping is selectRows leaving out the blocks skip reports
// (nil: none).
func (h *Head) selectRowsSkipping(keep []bool, minT, maxT int64, add func(rows []int32) error, whole func(lo, hi int) error, skip func(*headBlock) bool) error {
	for _, blk := range h.blocks {
		if !overlapsSpan(blk.minT, blk.maxT, minT, maxT) || (skip != nil && skip(blk)) {
			continue
		}
		inside := blk.minT >= minT && (blk.maxT < maxT || maxT == math.MaxInt64)
		if keep == nil && inside && whole != nil {
			if err := whole(int(blk.lo), int(blk.hi)); err != nil {
				return err
			}
			continue
		}
		for k, sid := range blk.sids {
			if keep != nil && (int(sid) >= len(keep) || !keep[sid]) {
				continue
			}
			g := blk.rows[blk.start[k]:blk.start[k+1]]
			if !inside {
				g = h.timeRun(g, minT, maxT)
			}
			if len(g) == 0 {
				continue
			}
			if err := add(g); err != nil {
				return err
			}
		}
	}
	// The unsealed tail (fewer than blockRows rows).
	var tail []int32
	for i := h.sealed; i < len(h.times); i++ {
		sid := h.series[i]
		if keep != nil && (int(sid) >= len(keep) || !keep[sid]) {
			continue
		}
		if inSpan(h.times[i], minT, maxT) {
			tail = append(tail, int32(i))
		}
	}
	if whole == nil {
		slices.SortStableFunc(tail, func(a, b int32) int {
			if c := cmp.Compare(h.series[a], h.series[b]); c != 0 {
				return c
			}
			return h.byTime(a, b)
		})
	}
	if len(tail) == 0 {
		return nil
	}
	return add(tail)
}

// ScanRange passes fn, as ColumnBatches of up to max rows holding the
// named tags and fields, the head's rows whose series keep holds (nil: all;
// see MatchSeries) and whose time is in [minT, maxT) (maxT ==
// math.MaxInt64: unbounded), in no particular order and without merging
// duplicates: for a NoDuplicates head, which has none. A frozen head or a
// View only.
func (h *Head) ScanRange(cols []string, keep []bool, minT, maxT int64, max int, fn func(*columnar.ColumnBatch) error) error {
	return h.scanRange(cols, keep, minT, maxT, max, false, nil, nil, fn)
}

// scanRange is ScanRange; grouped asks for rows grouped by series within
// each block and the tail (selectRows), never contiguous columns; blocks
// skip reports are left out; f, if not nil, drops rows before the columns
// it does not test are gathered (head_filter.go).
func (h *Head) scanRange(cols []string, keep []bool, minT, maxT int64, max int, grouped bool, skip func(*headBlock) bool, f *RowFilter, fn func(*columnar.ColumnBatch) error) error {
	b, tagCols, fieldCols := h.batchFor(cols)
	arr := takeScanArrays() // scan_arrays.go: given back when the scan returns
	arr.lend(&b)
	defer arr.give(&b)
	if pre := f.prepare(h, fieldCols); pre != nil {
		parr := takeScanArrays()
		parr.lend(&pre.b)
		defer parr.give(&pre.b)
		return h.scanFiltered(pre, &b, tagCols, fieldCols, keep, minT, maxT, max, skip, fn) // head_filter.go
	}
	ra := takeRowArrays()
	defer ra.give()
	rows := slices.Grow(ra.kept[:0], max)
	defer func() { ra.kept = rows }()
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		h.gatherBatch(&b, tagCols, fieldCols, rows, rows)
		rows = rows[:0]
		return fn(&b)
	}
	add := func(g []int32) error {
		for len(g) > 0 {
			n := min(len(g), max-len(rows))
			rows = append(rows, g[:n]...)
			g = g[n:]
			if len(rows) == max {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// Contiguous batches alias the head's columns, so they get their own
	// batch: gathering into it would write into the head.
	wb, _, _ := h.batchFor(cols)
	whole := func(lo, hi int) error {
		return h.scanContiguous(&wb, tagCols, fieldCols, lo, hi, max, fn)
	}
	if grouped {
		whole = nil
	}
	if err := h.selectRowsSkipping(keep, minT, maxT, add, whole, skip); err != nil {
		return err
	}
	return flush()
}

// scanContiguous passes fn rows [lo, hi) straight from the columns: the
// numeric values are not copied.
func (h *Head) scanContiguous(b *columnar.ColumnBatch, tagCols, fieldCols []int, lo, hi, max int, fn func(*columnar.ColumnBatch) error) error {
	for s := lo; s < hi; s += max {
		e := min(s+max, hi)
		b.Len, b.Sel, b.Time = e-s, nil, h.times[s:e:e]
		for j, c := range tagCols {
			tv := &b.Tags[j]
			tv.IDs = slices.Grow(tv.IDs[:0], e-s)[:e-s]
			for i := s; i < e; i++ {
				tv.IDs[i-s] = h.tagID(h.series[i], c)
			}
		}
		for j, c := range fieldCols {
			h.fields[c].batchVector(&b.Fields[j], s, e)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// LatestRows returns, in arrival order, rows that hold every kept series'
// last value of each of the field columns fieldCols within [minT, maxT):
// folding them oldest first, a later or equal time replacing the value
// before (as the last-value scans do), gives the same last values as
// folding every row. Blocks are visited newest first; per block it takes a
// series' last row in range and, for a field that row lacks, the series'
// last earlier row that has it. Once a series has a row with every field at
// time T, older blocks can only matter where they hold that series past T
// (late data), so a head of live data answers "latest per series" from
// about one row per series.
func (h *Head) LatestRows(keep []bool, minT, maxT int64, fieldCols []int) []int32 {
	ns := len(h.seriesTags)
	done := make([]int64, ns) // per series: a complete row's time, or MinInt64
	for i := range done {
		done[i] = math.MinInt64
	}
	// doneRow is, per series, the complete row at done's time: with done
	// it decides which rows of out it supersedes.
	doneRow := make([]int32, ns)
	complete := func(r int32) bool {
		for _, c := range fieldCols {
			if !h.fields[c].isValid(int(r)) {
				return false
			}
		}
		return true
	}
	kept := func(sid uint32) bool { return keep == nil || (int(sid) < len(keep) && keep[sid]) }
	// pending counts the kept series without a complete row yet. Once it
	// is 0, floor is the earliest of their complete rows' times: a block
	// whose rows all lie at or before it holds nothing newer for any of
	// them, so it is passed over without visiting its series (a day-long
	// head has a hundred blocks, each listing every series).
	pending := 0
	for sid := range ns {
		if kept(uint32(sid)) {
			pending++
		}
	}
	// About a row per kept series, and a few for fields a row lacks:
	// sized once rather than grown by doubling.
	out := make([]int32, 0, pending+pending/8+4)
	floor := int64(math.MinInt64)
	// completed is called only for a row newer than done[sid] (both
	// visits below take no other), so r is the series' newest complete row.
	completed := func(sid uint32, t int64, r int32) {
		first := done[sid] == math.MinInt64
		doneRow[sid] = r
		done[sid] = t
		if first {
			if pending--; pending == 0 {
				floor = math.MaxInt64
				for s, d := range done {
					if kept(uint32(s)) {
						floor = min(floor, d)
					}
				}
			}
		}
	}
	// Newest first: a row that arrived before a complete row of its series
	// at a later or equal time loses every field to it.
	for i := len(h.times) - 1; i >= h.sealed; i-- {
		t := h.times[i]
		if t <= floor {
			// Once every kept series has a complete row, floor is the
			// earliest of their times (done[sid] >= floor): a row at or
			// before it is passed over on its time alone. The tail of a
			// day-long head is thousands of rows behind its newest
			// hundred, each otherwise a series lookup.
			continue
		}
		sid := h.series[i]
		if kept(sid) && inSpan(t, minT, maxT) && t > done[sid] {
			out = append(out, int32(i))
			if complete(int32(i)) {
				completed(sid, t, int32(i))
			}
		}
	}
	for bi := len(h.blocks) - 1; bi >= 0; bi-- {
		blk := h.blocks[bi]
		if !overlapsSpan(blk.minT, blk.maxT, minT, maxT) || (pending == 0 && blk.maxT <= floor) {
			continue
		}
		for k, sid := range blk.sids {
			if !kept(sid) {
				continue
			}
			g := blk.rows[blk.start[k]:blk.start[k+1]]
			if h.times[g[len(g)-1]] <= done[sid] {
				continue // a newer block has this series complete at or after it
			}
			g = h.timeRun(g, minT, maxT)
			if len(g) == 0 {
				continue
			}
			last := g[len(g)-1]
			out = append(out, last)
			if complete(last) {
				completed(sid, h.times[last], last)
				continue
			}
			for _, c := range fieldCols {
				col := h.fields[c]
				if col.isValid(int(last)) {
					continue
				}
				for i := len(g) - 2; i >= 0; i-- {
					if col.isValid(int(g[i])) {
						out = append(out, g[i])
						break
					}
				}
			}
		}
	}
	// A row taken before its series' complete row was found (it arrived
	// later but is older: loaders whose batches overtake each other) is
	// superseded by that row: folded in arrival order, the complete row
	// replaces every field of a row at an earlier time, or at its own time
	// if that row arrived before it. Dropping such rows leaves one
	// complete row per series in the common case, which a scan sends as
	// it stands (OneCompleteRowEach) instead of folding a summary.
	n := 0
	for _, r := range out {
		sid := h.series[r]
		if d := done[sid]; d != math.MinInt64 {
			if t := h.times[r]; t < d || (t == d && r < doneRow[sid]) {
				continue
			}
		}
		out[n] = r
		n++
	}
	out = out[:n]
	slices.Sort(out)
	return slices.Compact(out)
}

// OneCompleteRowEach reports whether rows (LatestRows' answer) hold one
// row per series, each with a value of every field column of fieldCols:
// those rows are then the series' last values as they stand, nothing to
// fold. It is the common case of live data, every point carrying every
// field.
func (h *Head) OneCompleteRowEach(rows []int32, fieldCols []int) bool {
	seen := make([]bool, len(h.seriesTags))
	for _, r := range rows {
		sid := h.series[r]
		if seen[sid] {
			return false
		}
		seen[sid] = true
		for _, c := range fieldCols {
			if !h.fields[c].isValid(int(r)) {
				return false
			}
		}
	}
	return true
}

// ScanRows passes fn the given rows (ascending), as ColumnBatches of up to
// max rows holding the named tags and fields.
func (h *Head) ScanRows(cols []string, rows []int32, max int, fn func(*columnar.ColumnBatch) error) error {
	b, tagCols, fieldCols := h.batchFor(cols)
	for lo := 0; lo < len(rows); lo += max {
		part := rows[lo:min(lo+max, len(rows))]
		h.gatherBatch(&b, tagCols, fieldCols, part, part)
		if err := fn(&b); err != nil {
			return err
		}
	}
	return nil
}

// FieldCols returns the head's column indexes of the named fields it has.
func (h *Head) FieldCols(names []string) []int {
	var out []int
	for _, n := range names {
		if c, ok := h.Schema.FieldCol(n); ok && c < len(h.fields) {
			out = append(out, c)
		}
	}
	return out
}

// collectRows returns the rows selectRows would pass, in one slice.
func (h *Head) collectRows(keep []bool, minT, maxT int64) []int32 {
	var sel []int32
	add := func(g []int32) error { sel = append(sel, g...); return nil }
	whole := func(lo, hi int) error {
		for r := lo; r < hi; r++ {
			sel = append(sel, int32(r))
		}
		return nil
	}
	_ = h.selectRows(keep, minT, maxT, add, whole) // add and whole never fail
	return sel
}

// ScanOrderedRange is ScanOrdered restricted to the rows with time in
// [minT, maxT): points in segment order (window, series, time), duplicates
// merged field by field. Only the rows in range are sorted, and only the
// series they hold are ranked, so merging a head with a segment it overlaps
// at the edge — the usual case after a flush cut through a round of writes
// — costs the rows of the overlap, not the head.
func (h *Head) ScanOrderedRange(minT, maxT int64, fn func(p *columnar.Point) error) error {
	h.Finish()
	sel := h.collectRows(nil, minT, maxT)
	rank := h.ranksOf(sel)
	slices.SortFunc(sel, func(a, b int32) int {
		if c := cmp.Compare(WindowOf(h.times[a]), WindowOf(h.times[b])); c != 0 {
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
	var p columnar.Point
	for i := 0; i < len(sel); {
		j := i + 1
		for j < len(sel) && h.series[sel[j]] == h.series[sel[i]] && h.times[sel[j]] == h.times[sel[i]] {
			j++
		}
		dups := sel[i:j]
		h.fillPoint(&p, int(dups[len(dups)-1]), func(c, row int) int {
			// Field by field, the last duplicate that has a value wins.
			col := h.fields[c]
			for d := len(dups) - 1; d >= 0; d-- {
				if col.isValid(int(dups[d])) {
					return int(dups[d])
				}
			}
			return row
		})
		if err := fn(&p); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// ranksOf returns, for the series of rows, their positions in segment
// series order (lexicographic over tag values in column order, absent tags
// first), keyed by series id.
func (h *Head) ranksOf(rows []int32) map[uint32]int32 {
	rank := map[uint32]int32{}
	var sids []uint32
	for _, r := range rows {
		if _, ok := rank[h.series[r]]; !ok {
			rank[h.series[r]] = 0
			sids = append(sids, h.series[r])
		}
	}
	slices.SortFunc(sids, func(a, b uint32) int { return h.compareSeries(a, b) })
	for i, sid := range sids {
		rank[sid] = int32(i)
	}
	return rank
}

// compareSeries orders two series as segments do.
func (h *Head) compareSeries(a, b uint32) int {
	for col := range h.dicts {
		ia, ib := h.tagID(a, col), h.tagID(b, col)
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
}
