package segment

import (
	"math"
	"slices"
	"unsafe"

	"github.com/siltdb/silt/columnar"
)

// ScanArrival passes the head's rows to fn as ColumnBatches of up to max
// rows holding the named tags and fields (others are ignored), in arrival
// order and without merging duplicates: a later row for the same series
// and time is a later write. Tag dictionaries are the head's own (a batch
// may list values none of its rows use). keep, if not nil, says which
// series to deliver (MatchSeries): only their rows are gathered. A frozen
// head or a View only.
func (h *Head) ScanArrival(cols []string, keep []bool, max int, fn func(*columnar.ColumnBatch) error) error {
	b, tagCols, fieldCols := h.batchFor(cols)
	if keep != nil {
		return h.scanKept(&b, tagCols, fieldCols, keep, max, fn)
	}
	n := len(h.times)
	for lo := 0; lo < n; lo += max {
		hi := min(lo+max, n)
		b.Len, b.Time = hi-lo, h.times[lo:hi]
		for j, c := range tagCols {
			tv := &b.Tags[j]
			tv.IDs = slices.Grow(tv.IDs[:0], hi-lo)[:hi-lo]
			for i := lo; i < hi; i++ {
				tv.IDs[i-lo] = h.tagID(h.series[i], c)
			}
		}
		for j, c := range fieldCols {
			h.fields[c].batchVector(&b.Fields[j], lo, hi)
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	return nil
}

// batchFor returns an empty batch of the named columns the head has, and
// their tag and field column indexes.
func (h *Head) batchFor(cols []string) (b columnar.ColumnBatch, tagCols, fieldCols []int) {
	for _, name := range cols {
		if c, ok := h.Schema.TagCol(name); ok && c < len(h.dicts) && !slices.Contains(tagCols, c) {
			tagCols = append(tagCols, c)
			b.Tags = append(b.Tags, columnar.TagVector{Name: name, Dict: h.dicts[c].vals})
		}
		if c, ok := h.Schema.FieldCol(name); ok && c < len(h.fields) && !slices.Contains(fieldCols, c) {
			fieldCols = append(fieldCols, c)
			b.Fields = append(b.Fields, columnar.FieldVector{Name: name, Type: h.fields[c].typ})
		}
	}
	return b, tagCols, fieldCols
}

// scanKept is ScanArrival of the rows whose series keep holds, gathered.
func (h *Head) scanKept(b *columnar.ColumnBatch, tagCols, fieldCols []int, keep []bool, max int, fn func(*columnar.ColumnBatch) error) error {
	rows := make([]int32, 0, max)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		h.gatherBatch(b, tagCols, fieldCols, rows, rows)
		err := fn(b)
		rows = rows[:0]
		return err
	}
	for i, sid := range h.series {
		if int(sid) < len(keep) && keep[sid] {
			rows = append(rows, int32(i))
			if len(rows) == max {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
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
// series.
func (h *Head) MatchSeries(tags map[string][]string) []bool {
	if len(tags) == 0 {
		return nil
	}
	keep := make([]bool, len(h.seriesTags))
	for i := range keep {
		keep[i] = true
	}
	for k, vals := range tags {
		c, ok := h.Schema.TagCol(k)
		if !ok || c >= len(h.dicts) {
			clear(keep)
			return keep
		}
		allowed := map[int32]bool{}
		for id, v := range h.dicts[c].vals {
			if slices.Contains(vals, v) {
				allowed[int32(id)] = true
			}
		}
		for sid := range keep {
			if keep[sid] && !allowed[h.tagID(uint32(sid), c)] {
				keep[sid] = false
			}
		}
	}
	return keep
}

// batchVector sets fv to rows [lo, hi) of the column; rows past the
// column's end (a View's unpadded tail) have no value.
func (c *fieldColumn) batchVector(fv *columnar.FieldVector, lo, hi int) {
	n := hi - lo
	fv.Null = slices.Grow(fv.Null[:0], n)[:n]
	any := false
	for i := lo; i < hi; i++ {
		fv.Null[i-lo] = !c.isValid(i)
		any = any || fv.Null[i-lo]
	}
	if !any {
		fv.Null = nil
	}
	if c.typ == columnar.FieldString {
		fv.S = slices.Grow(fv.S[:0], n)[:n]
		for i := lo; i < hi; i++ {
			fv.S[i-lo] = ""
			if c.isValid(i) {
				fv.S[i-lo] = string(c.strAt(i))
			}
		}
		return
	}
	// num reaches only c.n: a View may have fewer values than rows.
	num := c.num[min(lo, len(c.num)):min(hi, len(c.num))]
	if len(num) < n {
		num = append(slices.Clone(num), make([]uint64, n-len(num))...)
	}
	switch c.typ {
	case columnar.FieldFloat:
		fv.F = unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(num))), n)
	case columnar.FieldInt:
		fv.I = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(num))), n)
	case columnar.FieldUint:
		fv.U = num
	case columnar.FieldBool:
		fv.B = slices.Grow(fv.B[:0], n)[:n]
		for i := range num {
			fv.B[i] = num[i] != 0
		}
	}
}

// ScanDeduped passes the head's points to fn as ColumnBatches of up to max
// rows holding the named tags and fields, with duplicates merged as a flush
// writes them (field by field, the last written value wins) — the columnar
// form of ScanOrdered, for heads that are not NoDuplicates. Rows come in
// segment order. A frozen head or a View only.
func (h *Head) ScanDeduped(cols []string, keep []bool, max int, fn func(*columnar.ColumnBatch) error) error {
	h.Finish()
	b, tagCols, fieldCols := h.batchFor(cols)
	src := make([]int32, 0, max) // per batch row: the row a column's value comes from
	for _, run := range h.flushOrder() {
		for lo := 0; lo < len(run.Rows); lo += max {
			rows := run.Rows[lo:min(lo+max, len(run.Rows))]
			n := len(rows)
			if keep != nil && !slices.ContainsFunc(rows, func(r int32) bool { return keep[h.series[r]] }) {
				continue
			}
			h.gatherBatch(&b, tagCols, nil, rows, rows)
			for j, c := range fieldCols {
				// Overrides are sorted by (Col, Out): this column's, in
				// output order, replace the source row of merged points.
				src = append(src[:0], rows...)
				k, _ := slices.BinarySearchFunc(run.Overrides, [2]int32{int32(c), int32(lo)}, func(o override, key [2]int32) int {
					if o.Col != key[0] {
						return int(o.Col - key[0])
					}
					return int(o.Out - key[1])
				})
				for ; k < len(run.Overrides) && run.Overrides[k].Col == int32(c) && int(run.Overrides[k].Out) < lo+n; k++ {
					src[int(run.Overrides[k].Out)-lo] = run.Overrides[k].Src
				}
				h.fields[c].gatherVector(&b.Fields[j], src)
			}
			if keep != nil {
				sel := make([]int32, 0, n)
				for i, r := range rows {
					if keep[h.series[r]] {
						sel = append(sel, int32(i))
					}
				}
				if len(sel) < n {
					b.Sel = sel
				}
			}
			if err := fn(&b); err != nil {
				return err
			}
		}
	}
	return nil
}

// gatherVector sets fv to the column's values at rows.
func (c *fieldColumn) gatherVector(fv *columnar.FieldVector, rows []int32) {
	n := len(rows)
	fv.Null = slices.Grow(fv.Null[:0], n)[:n]
	any := false
	for i, r := range rows {
		fv.Null[i] = !c.isValid(int(r))
		any = any || fv.Null[i]
	}
	if !any {
		fv.Null = nil
	}
	switch c.typ {
	case columnar.FieldFloat:
		fv.F = slices.Grow(fv.F[:0], n)[:n]
		for i, r := range rows {
			if int(r) < len(c.num) {
				fv.F[i] = math.Float64frombits(c.num[r])
			}
		}
	case columnar.FieldInt:
		fv.I = slices.Grow(fv.I[:0], n)[:n]
		for i, r := range rows {
			if int(r) < len(c.num) {
				fv.I[i] = int64(c.num[r])
			}
		}
	case columnar.FieldUint:
		fv.U = slices.Grow(fv.U[:0], n)[:n]
		for i, r := range rows {
			if int(r) < len(c.num) {
				fv.U[i] = c.num[r]
			}
		}
	case columnar.FieldBool:
		fv.B = slices.Grow(fv.B[:0], n)[:n]
		for i, r := range rows {
			fv.B[i] = int(r) < len(c.num) && c.num[r] != 0
		}
	case columnar.FieldString:
		fv.S = slices.Grow(fv.S[:0], n)[:n]
		for i, r := range rows {
			fv.S[i] = ""
			if c.isValid(int(r)) {
				fv.S[i] = string(c.strAt(int(r)))
			}
		}
	}
}
