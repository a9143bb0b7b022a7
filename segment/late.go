package segment

import (
	"math"
	"slices"

	"github.com/siltdb/silt/columnar"
)

// Late materialization. A scan with a RowFilter (`SELECT * … WHERE
// usage_user > 90`) decodes, per row group, time and the filter's fields
// first, asks the filter which rows may pass, and only then reads the
// other columns — of the selected rows only. Pages of those columns that
// hold no selected row are never decompressed; within a page, selected
// rows close together are decoded in one call with the rows between them
// (a call per row costs more than decoding a short gap) and the selected
// ones are compacted to the front.

// lateFilter is one scan's use of a RowFilter.
type lateFilter struct {
	f     *RowFilter
	early int // reads[:early] are time and the filter's fields
}

// prepareLate orders reads so that time and the fields f tests come first
// and returns how to apply f, or nil when f cannot be applied: no filter,
// or a field it tests that the scan does not read. A field the scan asks
// for that the segment lacks is NULL in every row: the filter sees it
// absent, as the head's filter does.
func prepareLate(f *RowFilter, cols []string, reads []batchColumn) *lateFilter {
	if f == nil {
		return nil
	}
	for _, name := range f.Fields {
		if !slices.Contains(cols, name) {
			return nil
		}
	}
	early := 0
	for i, r := range reads {
		if r.kind == 't' || (r.kind == 'f' && slices.Contains(f.Fields, r.name)) {
			reads[early], reads[i] = reads[i], reads[early]
			early++
		}
	}
	// Each read fills its own slot of the batch: the order of reads
	// does not place the columns.
	return &lateFilter{f: f, early: early}
}

// selectRows runs the filter over the early columns of b (total rows) and
// returns the positions (ascending) of the rows that may pass and whose
// time is in [minT, maxT) (maxT == math.MaxInt64: unbounded).
func (lf *lateFilter) selectRows(b *columnar.ColumnBatch, reads []batchColumn, total int, minT, maxT int64, sc *lateScratch) []int32 {
	fb := &sc.view
	fb.Len, fb.Sel, fb.Time = total, nil, b.Time[:total]
	fb.Fields = fb.Fields[:0]
	for _, r := range reads[:lf.early] {
		if r.kind == 'f' {
			fb.Fields = append(fb.Fields, b.Fields[r.slot])
		}
	}
	pos := lf.f.Keep(fb, sc.pos[:0])
	if minT != math.MinInt64 || maxT != math.MaxInt64 {
		// Pages reaching past the range were read whole: their rows
		// outside it need none of their other columns either.
		k := 0
		for _, p := range pos {
			if t := b.Time[p]; t >= minT && (t < maxT || maxT == math.MaxInt64) {
				pos[k] = p
				k++
			}
		}
		pos = pos[:k]
	}
	sc.pos = pos
	return pos
}

// lateScratch holds a filtered scan's reusable buffers.
type lateScratch struct {
	view columnar.ColumnBatch // time and the filter's fields, for Keep
	pos  []int32              // selected positions among the rows read
	sel  []rowRun             // the selected rows as runs of the row group
	runs []rowRun             // what one late column decodes
	idx  []int32              // selected positions among those rows
	// first is the page index runs and idx were built for (built: for
	// the current selection), decoded how many rows runs hold.
	first   []int64
	built   bool
	decoded int
}

// selectedRuns turns positions pos among the rows of runs (packed in run
// order) into runs of row-group rows.
func selectedRuns(dst []rowRun, runs []rowRun, pos []int32) []rowRun {
	dst = dst[:0]
	j, off := 0, int64(0) // runs[j] holds positions [off, off+runs[j].n)
	for _, p := range pos {
		for int64(p) >= off+runs[j].n {
			off += runs[j].n
			j++
		}
		row := runs[j].start + int64(p) - off
		if k := len(dst); k > 0 && dst[k-1].start+dst[k-1].n == row {
			dst[k-1].n++
			continue
		}
		dst = append(dst, rowRun{row, 1})
	}
	return dst
}

// maxJoinedGap is the most rows between two selected runs of one page
// that a late column decodes and drops rather than skips: a run costs a
// seek or a page lookup, a row about a copy (and an uncached skip decodes
// the rows it skips anyway).
const maxJoinedGap = 512

// coalesceRuns returns the runs a column whose pages start at first (nil:
// unknown) decodes to read the rows of sel: runs of sel that share a page
// and lie at most maxJoinedGap rows apart joined with the rows between
// them. idx receives the position of each row of sel among the decoded
// rows; total is how many those are.
func coalesceRuns(dst []rowRun, idx []int32, sel []rowRun, first []int64) (_ []rowRun, _ []int32, total int) {
	dst, idx = dst[:0], idx[:0]
	for _, s := range sel {
		if k := len(dst); k > 0 {
			last := &dst[k-1]
			if end := last.start + last.n; s.start-end <= maxJoinedGap && samePage(first, end-1, s.start) {
				total += int(s.start - end) // the gap, decoded and dropped
				last.n = s.start + s.n - last.start
				for i := range int32(s.n) {
					idx = append(idx, int32(total)+i)
				}
				total += int(s.n)
				continue
			}
		}
		dst = append(dst, s)
		for i := range int32(s.n) {
			idx = append(idx, int32(total)+i)
		}
		total += int(s.n)
	}
	return dst, idx, total
}

// compactColumn keeps, of column r of b, the rows at positions idx
// (ascending), moved to the front.
func compactColumn(r batchColumn, b *columnar.ColumnBatch, idx []int32) {
	switch r.kind {
	case 't':
		b.Time = compact(b.Time, idx)
	case 'g', 'x':
		tv := &b.Tags[r.slot]
		tv.IDs = compact(tv.IDs, idx)
	case 'f':
		fc := &b.Fields[r.slot]
		if fc.Null != nil {
			fc.Null = compact(fc.Null, idx)
		}
		switch fc.Type {
		case columnar.FieldFloat:
			fc.F = compact(fc.F, idx)
		case columnar.FieldInt:
			fc.I = compact(fc.I, idx)
		case columnar.FieldUint:
			fc.U = compact(fc.U, idx)
		case columnar.FieldBool:
			fc.B = compact(fc.B, idx)
		default:
			fc.S = compact(fc.S, idx)
		}
	}
}

// compact moves s[idx[i]] to s[i]; idx ascends, so idx[i] >= i and no
// value is overwritten before it moves.
func compact[T any](s []T, idx []int32) []T {
	for i, p := range idx {
		s[i] = s[p]
	}
	return s[:len(idx)]
}

// ScanRowGroupsFiltered is ScanRowGroupsCounted with late
// materialization: when f can be applied (its fields are among cols),
// each row group's time and f's fields are decoded first and the other
// columns only for the rows f keeps whose time is in [minT, maxT).
// Batches then hold only those rows. rs also counts the rows f dropped
// and the column values read.
func (s *Segment) ScanRowGroupsFiltered(cols []string, tags map[string][]string, minT, maxT int64, first, end int, rs *ReadStats, f *RowFilter, fn func(*columnar.ColumnBatch) error) error {
	return s.scanRowGroups(cols, tags, minT, maxT, first, end, rs, f, fn)
}
