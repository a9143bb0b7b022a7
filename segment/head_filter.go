package segment

import (
	"math"
	"slices"
	"unsafe"

	"github.com/siltdb/silt/columnar"
)

// RowFilter is a test on some field columns of raw rows that a scan
// applies before it gathers (heads) or decodes (segments, late.go) the
// other columns: a wide SELECT whose WHERE keeps few rows (`SELECT * …
// WHERE usage_user > 90`) then reads every column of the rows that pass,
// and only the tested columns of the rest.
// It is a hint: rows it keeps are still filtered by the reader, so Keep
// may keep more than pass, never fewer.
type RowFilter struct {
	// Fields are the fields Keep reads.
	Fields []string
	// Keep appends to out the positions in b (0 to b.Len-1) of the rows
	// that may pass, in increasing order, and returns it. b holds time and
	// the source's columns of Fields (a field the source lacks is absent).
	// Keep may be called from several goroutines at once.
	Keep func(b *columnar.ColumnBatch, out []int32) []int32
	// MayPass, if not nil, reports whether a row whose value of field
	// name (one of Fields) lies in r may pass: false lets a scan that
	// knows the range of the field over some rows (a head's sealed
	// blocks, head_zone.go) skip them unread. Like Keep it may answer
	// true for rows that fail, never false for a row that passes. It may
	// be called from several goroutines at once.
	MayPass func(name string, r FieldRange) bool
}

// ScanDedupedFiltered is ScanDeduped delivering only the points f keeps
// (all of them when f tests a field that cols lacks).
func (h *Head) ScanDedupedFiltered(cols []string, keep []bool, minT, maxT int64, max int, f *RowFilter, fn func(*columnar.ColumnBatch) error) error {
	return h.scanDeduped(cols, keep, minT, maxT, max, f, fn)
}

// ScanRangeFiltered is ScanRange delivering only the rows f keeps (all of
// them when f tests a field that cols lacks): the other columns are
// gathered for those rows only.
func (h *Head) ScanRangeFiltered(cols []string, keep []bool, minT, maxT int64, max int, f *RowFilter, fn func(*columnar.ColumnBatch) error) error {
	return h.scanRange(cols, keep, minT, maxT, max, false, nil, f, fn)
}

// rowFilterState is one scan's use of a RowFilter.
type rowFilterState struct {
	f     *RowFilter
	b     columnar.ColumnBatch // time and the tested fields
	cols  []int                // of b.Fields: the head's field column
	which []int                // of b.Fields: the index in the scan's fieldCols
	pos   []int32
	// view is b for a whole sealed block: its columns in place
	// (testBlock); nulls holds its NULL flags when some value is absent.
	view  columnar.ColumnBatch
	nulls [][]bool
	zones []*blockZones // per tested column: the block's (nil: no ranges)
}

// prepare sets up f for a scan of the head's fieldCols (nil f: nil).
func (f *RowFilter) prepare(h *Head, fieldCols []int) *rowFilterState {
	if f == nil {
		return nil
	}
	st := &rowFilterState{f: f}
	for _, name := range f.Fields {
		c, ok := h.Schema.FieldCol(name)
		if !ok || c >= len(h.fields) || slices.Contains(st.cols, c) {
			continue
		}
		k := slices.Index(fieldCols, c)
		if k < 0 {
			// Not scanned: the merged point's value is not tracked, so
			// the rows cannot be tested on it.
			return nil
		}
		st.cols = append(st.cols, c)
		st.which = append(st.which, k)
		st.b.Fields = append(st.b.Fields, columnar.FieldVector{Name: name, Type: h.fields[c].typ})
	}
	return st
}

// keep tests the points rows (src: per scanned field, the row each value
// comes from; nil: the rows themselves) and compacts rows and src to those
// kept, which it returns.
func (st *rowFilterState) keep(h *Head, rows []int32, src [][]int32) []int32 {
	b := &st.b
	n := len(rows)
	b.Len, b.Sel = n, nil
	b.Time = slices.Grow(b.Time[:0], n)[:n]
	for i, r := range rows {
		b.Time[i] = h.times[r]
	}
	for j, c := range st.cols {
		from := rows
		if src != nil { // the merged point's value of the field
			from = src[st.which[j]]
		}
		h.fields[c].gatherVector(&b.Fields[j], from)
	}
	st.pos = st.f.Keep(b, st.pos[:0])
	if len(st.pos) == n {
		return rows
	}
	for i, p := range st.pos {
		rows[i] = rows[p]
	}
	for k := range src {
		s := src[k]
		for i, p := range st.pos {
			s[i] = s[p]
		}
		src[k] = s[:len(st.pos)]
	}
	return rows[:len(st.pos)]
}

// mayPass reports whether rows of zone k of the current block's zones
// (st.zones: the last one the whole block's) may pass; without MayPass or
// ranges, they may.
func (st *rowFilterState) mayPass(h *Head, k int) bool {
	if st.f.MayPass == nil {
		return true
	}
	for j, z := range st.zones {
		if z == nil {
			continue
		}
		if !z.perSeries {
			k = len(z.zones) - 1
		}
		if !st.f.MayPass(st.b.Fields[j].Name, z.fieldRange(h.fields[st.cols[j]].typ, k)) {
			return false
		}
	}
	return true
}

// loadZones sets st.zones to sealed block blk's zones of the tested
// columns (built on first use), or leaves them nil without MayPass.
func (st *rowFilterState) loadZones(h *Head, blk *headBlock) {
	st.zones = st.zones[:0]
	if st.f.MayPass == nil {
		return
	}
	for _, c := range st.cols {
		st.zones = append(st.zones, h.zonesOf(blk, c))
	}
}

// testBlock appends to out the rows of sealed block blk (all of them in
// the scan's range) that the filter keeps, testing the tested columns in
// place: a block's rows are one chunk of each column (chunkRows ==
// blockRows), read in arrival order without a copy. It reports false,
// having appended nothing, when a tested column cannot be read in place
// (not numeric, or without values for every row of the block).
func (st *rowFilterState) testBlock(h *Head, blk *headBlock, out []int32) ([]int32, bool) {
	lo, hi := int(blk.lo), int(blk.hi)
	n := hi - lo
	v := &st.view
	v.Len, v.Sel, v.Time = n, nil, h.times[lo:hi:hi]
	v.Fields = append(v.Fields[:0], st.b.Fields...)
	for len(st.nulls) < len(st.cols) {
		st.nulls = append(st.nulls, nil)
	}
	for j, c := range st.cols {
		col := h.fields[c]
		fv := &v.Fields[j]
		fv.Null, fv.F, fv.I, fv.U, fv.B, fv.S = nil, nil, nil, nil, nil, nil
		if col.typ != columnar.FieldFloat && col.typ != columnar.FieldInt && col.typ != columnar.FieldUint {
			return out, false
		}
		num, valid, _ := col.chunkValues(lo>>chunkShift, nil)
		if len(num) < n || len(valid) < (n+63)/64 {
			return out, false // a column that ends in the block (a View's)
		}
		num = num[:n:n]
		switch col.typ {
		case columnar.FieldFloat:
			fv.F = unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(num))), n)
		case columnar.FieldInt:
			fv.I = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(num))), n)
		default:
			fv.U = num
		}
		// NULL flags only when some row lacks a value (rare in live
		// data): the bitmap is checked a word at a time first.
		complete := true
		for w := range n / 64 {
			if valid[w] != math.MaxUint64 {
				complete = false
				break
			}
		}
		if rest := n % 64; complete && rest != 0 && valid[n/64]&(1<<rest-1) != 1<<rest-1 {
			complete = false
		}
		if !complete {
			nulls := slices.Grow(st.nulls[j][:0], n)[:n]
			for i := range n {
				nulls[i] = valid[i>>6]&(1<<(i&63)) == 0
			}
			st.nulls[j], fv.Null = nulls, nulls
		}
	}
	st.pos = st.f.Keep(v, st.pos[:0])
	for _, p := range st.pos {
		out = append(out, int32(lo)+p)
	}
	return out, true
}

// filteredBatchRows bounds the rows of a filtered scan's batches.
const filteredBatchRows = 8 << 10

// scanFiltered is scanRange with a filter (st): per sealed block, the
// tested columns' zones let it skip the block, or a series' rows of it,
// when no row there can pass; a block wholly wanted (every series, all
// of it in range) is tested in place; other rows are gathered for the
// test. Only the rows kept are gathered whole into b for fn.
func (h *Head) scanFiltered(st *rowFilterState, b *columnar.ColumnBatch, tagCols, fieldCols []int, keep []bool, minT, maxT int64, max int, skip func(*headBlock) bool, fn func(*columnar.ColumnBatch) error) error {
	// The batches fn sees hold the rows kept, a fraction of those read:
	// kept small, their arrays stay within what the scan recycles
	// (maxPooledScanBytes) instead of being made new, cleared and faulted
	// in per scan.
	max = min(max, filteredBatchRows)
	arr := takeRowArrays()
	defer arr.give()
	kept, cand := arr.kept[:0], arr.cand[:0]
	st.pos = arr.pos[:0]
	defer func() { arr.kept, arr.cand, arr.pos = kept, cand, st.pos }()
	// emit passes fn kept's first max rows (all when all).
	emit := func(all bool) error {
		for len(kept) >= max || (all && len(kept) > 0) {
			n := min(len(kept), max)
			h.gatherBatch(b, tagCols, fieldCols, kept[:n], kept[:n])
			if err := fn(b); err != nil {
				return err
			}
			kept = append(kept[:0], kept[n:]...)
		}
		return nil
	}
	// test filters the candidate rows into kept.
	test := func() error {
		for len(cand) > 0 {
			n := min(len(cand), max)
			kept = append(kept, st.keep(h, cand[:n], nil)...)
			cand = append(cand[:0], cand[n:]...)
			if err := emit(false); err != nil {
				return err
			}
		}
		return nil
	}
	add := func(g []int32) error {
		cand = append(cand, g...)
		if len(cand) >= max {
			return test()
		}
		return nil
	}
	for _, blk := range h.blocks {
		if !overlapsSpan(blk.minT, blk.maxT, minT, maxT) || (skip != nil && skip(blk)) {
			continue
		}
		st.loadZones(h, blk)
		if !st.mayPass(h, len(blk.sids)) { // the whole block
			continue
		}
		inside := blk.minT >= minT && (blk.maxT < maxT || maxT == math.MaxInt64)
		if keep == nil && inside {
			var ok bool
			if kept, ok = st.testBlock(h, blk, kept); ok {
				if err := emit(false); err != nil {
					return err
				}
				continue
			}
		}
		for k, sid := range blk.sids {
			if keep != nil && (int(sid) >= len(keep) || !keep[sid]) {
				continue
			}
			if !st.mayPass(h, k) {
				continue
			}
			g := blk.rows[blk.start[k]:blk.start[k+1]]
			if !inside {
				g = h.timeRun(g, minT, maxT)
			}
			if err := add(g); err != nil {
				return err
			}
		}
	}
	// The unsealed tail (fewer than blockRows rows): no zones.
	for i := h.sealed; i < len(h.times); i++ {
		sid := h.series[i]
		if keep != nil && (int(sid) >= len(keep) || !keep[sid]) {
			continue
		}
		if !inSpan(h.times[i], minT, maxT) {
			continue
		}
		if cand = append(cand, int32(i)); len(cand) >= max {
			if err := test(); err != nil {
				return err
			}
		}
	}
	if err := test(); err != nil {
		return err
	}
	return emit(true)
}
