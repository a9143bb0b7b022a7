package segment

import (
	"slices"

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
