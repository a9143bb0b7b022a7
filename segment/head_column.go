package segment

import (
	"slices"
	"unsafe"

	"github.com/siltdb/silt/columnar"
)

// A head field column is a list of fixed-size chunks of chunkRows rows.
// Appends fill the last chunk; a full chunk is cut off and never written
// again, and the next one is allocated at its full size at once. So an
// append never re-grows and copies the column (which, for a head of a few
// gigabytes, copied every value several times over and was the bulk of the
// ingest CPU), and a reader shares full chunks without a copy or a lock.
// Only a column's first chunk grows by doubling, so that a small table does
// not take a whole chunk per field.
//
// chunkRows equals blockRows and both start at row 0, so a sealed block is
// exactly one chunk and a scan of a whole block reads its values in place.
const (
	chunkShift = 13
	chunkRows  = 1 << chunkShift
	chunkMask  = chunkRows - 1
	chunkWords = chunkRows / 64
)

// colChunk holds rows [k*chunkRows, (k+1)*chunkRows) of a column, or fewer
// for the last chunk.
type colChunk struct {
	num   []uint64 // float64 bits, int64, uint64, bool 0/1
	off   []uint32 // strings: end offsets into str, one per row
	str   []byte
	valid []uint64 // bitmap, bit j set when the chunk's row j has a value
}

// chunkBytes is the memory of a chunk's arrays.
func chunkBytes(ch *colChunk) int64 {
	return int64(8*cap(ch.num) + 4*cap(ch.off) + cap(ch.str) + 8*cap(ch.valid))
}

type fieldColumn struct {
	typ  columnar.FieldType
	n    int         // rows covered (absent values at the end are not yet padded)
	full []*colChunk // rows [0, len(full)*chunkRows), immutable
	cur  colChunk    // rows [len(full)*chunkRows, n), the one being filled
	// In a View, the last word of cur's bitmap, which the head may still
	// set bits in: the view shares the words before it and keeps its own
	// copy of this one.
	tail    uint64
	hasTail bool
}

// fullChunkBytes is what cutting a chunk costs: the next chunk's arrays,
// allocated whole, and the chunk's entry in the list.
func (c *fieldColumn) fullChunkBytes() int64 {
	per := int64(8)
	if c.typ == columnar.FieldString {
		per = 4
	}
	return per*chunkRows + 8*chunkWords + int64(unsafe.Sizeof(colChunk{})) + 8
}

// push appends one row: value v (numbers) or s (strings) when has is set,
// an absent value otherwise. It returns the bytes it allocated.
func (c *fieldColumn) push(v uint64, s []byte, has bool) int64 {
	var grown int64
	j := c.n - len(c.full)<<chunkShift
	if j == chunkRows {
		grown = c.cut()
		j = 0
	}
	ch := &c.cur
	if c.typ == columnar.FieldString {
		if has {
			before := cap(ch.str)
			ch.str = append(ch.str, s...)
			grown += int64(cap(ch.str) - before)
		}
		if len(ch.off) == cap(ch.off) {
			grown += 4 * int64(growChunk(&ch.off, chunkRows))
		}
		ch.off = append(ch.off, uint32(len(ch.str)))
	} else {
		if len(ch.num) == cap(ch.num) {
			grown += 8 * int64(growChunk(&ch.num, chunkRows))
		}
		ch.num = append(ch.num, v)
	}
	if j%64 == 0 {
		if len(ch.valid) == cap(ch.valid) {
			grown += 8 * int64(growChunk(&ch.valid, chunkWords))
		}
		ch.valid = append(ch.valid, 0)
	}
	if has {
		ch.valid[j/64] |= 1 << (j % 64)
	}
	c.n++
	return grown
}

// cut moves the full current chunk to the list and starts the next one at
// its full size.
func (c *fieldColumn) cut() int64 {
	done := new(colChunk)
	*done = c.cur
	c.full = append(c.full, done)
	c.cur = colChunk{valid: make([]uint64, 0, chunkWords)}
	if c.typ == columnar.FieldString {
		c.cur.off = make([]uint32, 0, chunkRows)
	} else {
		c.cur.num = make([]uint64, 0, chunkRows)
	}
	return c.fullChunkBytes()
}

// growChunk doubles the capacity of the first chunk's array s (at least 8,
// at most limit) and returns the capacity added. Later chunks are
// allocated whole and never get here.
func growChunk[T any](s *[]T, limit int) int {
	old := cap(*s)
	n := min(max(2*old, 8), limit)
	grown := make([]T, len(*s), n)
	copy(grown, *s)
	*s = grown
	return n - old
}

// pad appends absent values until the column covers rows [0, n).
func (c *fieldColumn) pad(n int) int64 {
	var grown int64
	for c.n < n {
		grown += c.push(0, nil, false)
	}
	return grown
}

func (c *fieldColumn) append(b *columnar.Batch, f *columnar.Field) int64 {
	if c.typ == columnar.FieldString {
		return c.push(0, b.Bytes(f.Str), true)
	}
	return c.push(f.Num, nil, true)
}

// setLast overwrites the value of the last row (same key twice in a line).
func (c *fieldColumn) setLast(b *columnar.Batch, f *columnar.Field) int64 {
	ch, j := c.chunk(c.n - 1)
	if c.typ == columnar.FieldString {
		// Strings are append-only; rewrite the tail.
		start := uint32(0)
		if j > 0 {
			start = ch.off[j-1]
		}
		before := cap(ch.str)
		ch.str = append(ch.str[:start], b.Bytes(f.Str)...)
		ch.off[j] = uint32(len(ch.str))
		return int64(cap(ch.str) - before)
	}
	ch.num[j] = f.Num
	return 0
}

// chunk returns the chunk holding row i (< c.n) and i's index in it.
func (c *fieldColumn) chunk(i int) (*colChunk, int) {
	if k := i >> chunkShift; k < len(c.full) {
		return c.full[k], i & chunkMask
	}
	return &c.cur, i & chunkMask
}

// chunkList returns the column's chunks in row order, the current one
// last, for loops that read many rows: chunks[i>>chunkShift] holds row i.
func (c *fieldColumn) chunkList() []*colChunk {
	return append(c.full[:len(c.full):len(c.full)], &c.cur)
}

// isValid reports whether row i has a value; rows past the column's end
// (only in views, which are not padded) have none.
func (c *fieldColumn) isValid(i int) bool {
	if i >= c.n {
		return false
	}
	ch, j := c.chunk(i)
	if w := j / 64; w < len(ch.valid) {
		return ch.valid[w]&(1<<(j%64)) != 0
	}
	return c.tail&(1<<(j%64)) != 0 // a View's last word
}

// numAt returns the numeric value of row i, 0 past the column's end.
func (c *fieldColumn) numAt(i int) uint64 {
	if i >= c.n {
		return 0
	}
	ch, j := c.chunk(i)
	return ch.num[j]
}

// strAt returns the string value of row i (< c.n).
func (c *fieldColumn) strAt(i int) []byte {
	ch, j := c.chunk(i)
	start := uint32(0)
	if j > 0 {
		start = ch.off[j-1]
	}
	return ch.str[start:ch.off[j]]
}

// viewTo sets fc to a read-only copy of the column's chunk list that
// shares every array: full chunks are immutable, and the head writes the
// current chunk only past the view's lengths, except for its bitmap's last
// word, which the view copies.
func (c *fieldColumn) viewTo(fc *fieldColumn) {
	cur := c.cur
	*fc = fieldColumn{typ: c.typ, n: c.n, full: c.full[:len(c.full):len(c.full)],
		cur: colChunk{num: cur.num[:len(cur.num):len(cur.num)], off: cur.off[:len(cur.off):len(cur.off)],
			str: cur.str[:len(cur.str):len(cur.str)]}}
	if w := len(cur.valid); w > 0 {
		fc.cur.valid, fc.tail, fc.hasTail = cur.valid[:w-1:w-1], cur.valid[w-1], true
	}
}

// nullsRange sets fv.Null to the absent rows among rows [lo, hi), or nil when
// every one has a value.
func (c *fieldColumn) nullsRange(fv *columnar.FieldVector, lo, hi int) {
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
}

// batchVector sets fv to rows [lo, hi) of the column; rows past the
// column's end (a View's unpadded tail) have no value. Numeric values of
// rows within one chunk are not copied: fv aliases the chunk.
func (c *fieldColumn) batchVector(fv *columnar.FieldVector, lo, hi int) {
	n := hi - lo
	c.nullsRange(fv, lo, hi)
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
	var num []uint64
	if lo < c.n && lo>>chunkShift == (hi-1)>>chunkShift {
		// One chunk; it reaches only c.n: a View may have fewer values
		// than rows.
		ch, j := c.chunk(lo)
		num = ch.num[j:min(j+n, len(ch.num))]
	}
	if len(num) < n {
		// Across chunks or past the end (neither happens for a sealed
		// block): a copy of its own, as fv may alias a chunk.
		own := make([]uint64, n)
		for i := lo; i < hi; i++ {
			own[i-lo] = c.numAt(i)
		}
		num = own
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

// gatherVector sets fv to the column's values at rows.
func (c *fieldColumn) gatherVector(fv *columnar.FieldVector, rows []int32) {
	n := len(rows)
	var num []uint64 // the 8-byte values' array, whatever their type
	switch c.typ {
	case columnar.FieldFloat:
		fv.F = slices.Grow(fv.F[:0], n)[:n]
		num = unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(fv.F))), n)
	case columnar.FieldInt:
		fv.I = slices.Grow(fv.I[:0], n)[:n]
		num = unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(fv.I))), n)
	case columnar.FieldUint:
		fv.U = slices.Grow(fv.U[:0], n)[:n]
		num = fv.U
	}
	if num == nil { // booleans and strings
		c.gatherNulls(fv, rows)
		switch c.typ {
		case columnar.FieldBool:
			fv.B = slices.Grow(fv.B[:0], n)[:n]
			for i, r := range rows {
				fv.B[i] = c.numAt(int(r)) != 0
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
		return
	}
	// One pass for values and validity, a chunk lookup per row. The NULL
	// flags are made only once a row without a value turns up: live data
	// has none, and a flag array per column and batch was most of a
	// filtered scan's allocation.
	var null []bool
	for i, r := range rows {
		ri := int(r)
		if ri >= c.n { // a View's unpadded end: no value
			num[i] = 0
			null = c.markNull(fv, null, i, n)
			continue
		}
		ch, j := c.chunk(ri)
		num[i] = ch.num[j]
		word := c.tail // a View's last word
		if w := j >> 6; w < len(ch.valid) {
			word = ch.valid[w]
		}
		if word&(1<<(j&63)) == 0 {
			null = c.markNull(fv, null, i, n)
		}
	}
	fv.Null = null
}

// markNull sets flag i of null, making it (from fv.Null's array, all
// false) on the first call; it returns null.
func (c *fieldColumn) markNull(fv *columnar.FieldVector, null []bool, i, n int) []bool {
	if null == nil {
		null = slices.Grow(fv.Null[:0], n)[:n]
		clear(null)
	}
	null[i] = true
	return null
}

// gatherNulls sets fv.Null to the flags of rows without a value, nil
// when every row has one.
func (c *fieldColumn) gatherNulls(fv *columnar.FieldVector, rows []int32) {
	var null []bool
	for i, r := range rows {
		if !c.isValid(int(r)) {
			null = c.markNull(fv, null, i, len(rows))
		}
	}
	fv.Null = null
}
