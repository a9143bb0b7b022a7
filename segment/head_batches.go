package segment

import (
	"slices"

	"github.com/siltdb/silt/columnar"
)

// batchFor returns an empty batch of the named columns the head has, and
// their tag and field column indexes.
func (h *Head) batchFor(cols []string) (b columnar.ColumnBatch, tagCols, fieldCols []int) {
	// Sized once for every column named (a lastpoint names 20): grown by
	// appends they were four allocations each per query.
	b.Tags = make([]columnar.TagVector, 0, len(cols))
	b.Fields = make([]columnar.FieldVector, 0, len(cols))
	cs := make([]int, 0, 2*len(cols))
	tagCols, fieldCols = cs[:0:len(cols)], cs[len(cols):len(cols)]
	for _, name := range cols {
		if c, ok := h.Schema.TagCol(name); ok && c < len(h.dicts) && !slices.Contains(tagCols, c) {
			tagCols = append(tagCols, c)
			// A head's values are copied once when first written and
			// are distinct (tagDict.ids): a query may keep them as they are.
			b.Tags = append(b.Tags, columnar.TagVector{Name: name, Dict: h.dicts[c].vals, Stable: true})
		}
		if c, ok := h.Schema.FieldCol(name); ok && c < len(h.fields) && !slices.Contains(fieldCols, c) {
			fieldCols = append(fieldCols, c)
			b.Fields = append(b.Fields, columnar.FieldVector{Name: name, Type: h.fields[c].typ})
		}
	}
	return b, tagCols, fieldCols
}

// gatherBatch sets b to the head's rows: time and tags of rows, each field
// column's value from src (rows, or for merged points the row whose value
// wins).
func (h *Head) gatherBatch(b *columnar.ColumnBatch, tagCols, fieldCols []int, rows, src []int32) {
	n := len(rows)
	b.Len, b.Sel = n, nil
	b.Time = slices.Grow(b.Time[:0], n)[:n]
	for i, r := range rows {
		b.Time[i] = h.times[r]
	}
	for j, c := range tagCols {
		tv := &b.Tags[j]
		tv.IDs = slices.Grow(tv.IDs[:0], n)[:n]
		for i, r := range rows {
			tv.IDs[i] = h.tagID(h.series[r], c)
		}
	}
	for j, c := range fieldCols {
		h.fields[c].gatherVector(&b.Fields[j], src)
	}
}

// MatchSeries returns which series have, for every key of tags, one of its
// values (nil when tags is empty: all do). A tag the head lacks matches no
// series. It reads the series index: the cost is that of the values'
// postings and of the vector returned, not of every series' tags.
func (h *Head) MatchSeries(tags map[string][]string) []bool {
	if len(tags) == 0 {
		return nil
	}
	keep := make([]bool, len(h.seriesTags))
	it := h.matchBitmap(tags).ManyIterator()
	var buf [256]uint32
	for n := it.NextMany(buf[:]); n > 0; n = it.NextMany(buf[:]) {
		for _, sid := range buf[:n] {
			keep[sid] = true
		}
	}
	return keep
}

// ScanDeduped is ScanRange for a head that may hold a point twice: the
// selected rows are sorted by (series, time, arrival) and duplicates merged
// as a flush writes them (field by field, the last written value wins).
// Only the rows in range are sorted, so a short query over a large head
// stays short. Rows come grouped by series. A frozen head or a View only.
func (h *Head) ScanDeduped(cols []string, keep []bool, minT, maxT int64, max int, fn func(*columnar.ColumnBatch) error) error {
	return h.scanDeduped(cols, keep, minT, maxT, max, nil, fn)
}

// scanDeduped is ScanDeduped; f, if not nil, drops rows before the
// columns it does not read are gathered (head_filter.go).
func (h *Head) scanDeduped(cols []string, keep []bool, minT, maxT int64, max int, f *RowFilter, fn func(*columnar.ColumnBatch) error) error {
	h.Finish()
	sel := h.collectRows(keep, minT, maxT)
	sel = h.sortBySeriesTime(sel) // head_sort.go
	b, tagCols, fieldCols := h.batchFor(cols)
	rows := make([]int32, 0, max)          // per output point: its last write
	src := make([][]int32, len(fieldCols)) // per field: the row its value comes from
	for j := range src {
		src[j] = make([]int32, 0, max)
	}
	pre := f.prepare(h, fieldCols)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if pre != nil {
			if rows = pre.keep(h, rows, src); len(rows) == 0 {
				return nil
			}
		}
		h.gatherBatch(&b, tagCols, nil, rows, rows)
		for j, c := range fieldCols {
			h.fields[c].gatherVector(&b.Fields[j], src[j])
			src[j] = src[j][:0]
		}
		rows = rows[:0]
		return fn(&b)
	}
	for i := 0; i < len(sel); {
		j := i + 1
		for j < len(sel) && h.series[sel[j]] == h.series[sel[i]] && h.times[sel[j]] == h.times[sel[i]] {
			j++
		}
		last := sel[j-1]
		rows = append(rows, last)
		for k, c := range fieldCols {
			from := last
			if col := h.fields[c]; j-i > 1 && !col.isValid(int(last)) {
				// Field by field, the last duplicate that has a value wins.
				for d := j - 2; d >= i; d-- {
					if col.isValid(int(sel[d])) {
						from = sel[d]
						break
					}
				}
			}
			src[k] = append(src[k], from)
		}
		if len(rows) == max {
			if err := flush(); err != nil {
				return err
			}
		}
		i = j
	}
	return flush()
}
