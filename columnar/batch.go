// Package columnar holds Silt's data model: the decoded Batch that travels
// from decoders through the WAL into the head, the table schema, the row
// form (Point) and the column form (ColumnBatch) that scans produce. It
// imports no storage format, so decoders stay light.
package columnar

import (
	"encoding/binary"
	"fmt"
	"math"
)

// FieldType is the type of a field column. The zero value is invalid.
type FieldType uint8

// Field types, stable: they are written into WAL records and segment metadata.
const (
	FieldFloat  FieldType = 1
	FieldInt    FieldType = 2
	FieldUint   FieldType = 3
	FieldBool   FieldType = 4
	FieldString FieldType = 5
)

// String returns the name used in the schema API and in error messages.
func (t FieldType) String() string {
	switch t {
	case FieldFloat:
		return "float"
	case FieldInt:
		return "integer"
	case FieldUint:
		return "unsigned"
	case FieldBool:
		return "boolean"
	case FieldString:
		return "string"
	}
	return fmt.Sprintf("FieldType(%d)", uint8(t))
}

// Span locates a byte string inside Batch.Buf.
type Span struct{ Off, Len uint32 }

// Tag is one tag key and value of a row.
type Tag struct{ Key, Value Span }

// Field is one field of a row. Num holds the value of numeric and boolean
// fields (float64 bits, int64 as uint64, uint64, or 0/1); Str holds the value
// of string fields.
type Field struct {
	Key  Span
	Str  Span
	Num  uint64
	Type FieldType
}

// Float returns the value of a FieldFloat.
func (f *Field) Float() float64 { return math.Float64frombits(f.Num) }

// Int returns the value of a FieldInt.
func (f *Field) Int() int64 { return int64(f.Num) }

// Bool returns the value of a FieldBool.
func (f *Field) Bool() bool { return f.Num != 0 }

// Row is one point: a table, a time, its tags Tags[TagStart:TagEnd] and its
// fields Fields[FieldStart:FieldEnd]. Line is the 1-based source line (0 when
// unknown), kept so that later stages can name the line they reject.
type Row struct {
	Table      Span
	Time       int64
	TagStart   uint32
	TagEnd     uint32
	FieldStart uint32
	FieldEnd   uint32
	Line       uint32
}

// Batch is a set of decoded rows in a flat, pointer-free form: every string
// lives in one arena (Buf) and rows refer to it by Span. Decoders fill it with
// StartRow/AddTag/AddField/EndRow without allocating once its slices have
// grown; the WAL serializes it as is. A Batch is not safe for concurrent use.
type Batch struct {
	Buf    []byte
	Rows   []Row
	Tags   []Tag
	Fields []Field

	// mark of the row under construction, for AbortRow.
	mBuf, mTags, mFields int
	cur                  Row
	// prevTags and prevFields are the previous row's, whose strings the
	// current row's take when equal (reuse); empty for a first row.
	prevTags   []Tag
	prevFields []Field
}

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.Buf = b.Buf[:0]
	b.Rows = b.Rows[:0]
	b.Tags = b.Tags[:0]
	b.Fields = b.Fields[:0]
	b.prevTags, b.prevFields = nil, nil
}

// Bytes returns the bytes of s. The result aliases Buf: it is valid until the
// batch is reset or appended to.
func (b *Batch) Bytes(s Span) []byte { return b.Buf[s.Off : s.Off+s.Len : s.Off+s.Len] }

// Str returns a copy of s as a string.
func (b *Batch) Str(s Span) string { return string(b.Bytes(s)) }

// Put appends p to the arena and returns its span.
func (b *Batch) Put(p []byte) Span {
	off := len(b.Buf)
	b.Buf = append(b.Buf, p...)
	return Span{Off: uint32(off), Len: uint32(len(p))}
}

// PutString appends s to the arena and returns its span.
func (b *Batch) PutString(s string) Span {
	off := len(b.Buf)
	b.Buf = append(b.Buf, s...)
	return Span{Off: uint32(off), Len: uint32(len(s))}
}

// StartRow begins a row of table. Tags and fields added until EndRow or
// AbortRow belong to it.
func (b *Batch) StartRow(table []byte, line int) {
	b.mBuf, b.mTags, b.mFields = len(b.Buf), len(b.Tags), len(b.Fields)
	var prev Span
	if n := len(b.Rows); n > 0 {
		p := &b.Rows[n-1]
		prev = p.Table
		// Views of the slices as they are: an append that grows Tags or
		// Fields copies them, and the old arrays keep these rows as
		// they were.
		b.prevTags, b.prevFields = b.Tags[p.TagStart:p.TagEnd], b.Fields[p.FieldStart:p.FieldEnd]
	} else {
		b.prevTags, b.prevFields = nil, nil
	}
	b.cur = Row{
		Table:      b.reuse(table, prev),
		TagStart:   uint32(len(b.Tags)),
		FieldStart: uint32(len(b.Fields)),
		Line:       uint32(line),
	}
}

// AddTag adds a tag to the current row.
func (b *Batch) AddTag(key, value []byte) {
	prev := b.prevTag()
	b.Tags = append(b.Tags, Tag{Key: b.reuse(key, prev.Key), Value: b.reuse(value, prev.Value)})
}

// AddNum adds a numeric or boolean field to the current row.
func (b *Batch) AddNum(key []byte, t FieldType, num uint64) {
	b.Fields = append(b.Fields, Field{Key: b.reuse(key, b.prevFieldKey()), Type: t, Num: num})
}

// Rows of one source mostly repeat the previous row's table, tag keys and
// field keys (and many of its tag values), in the same order. The arena
// then holds them once: a string equal to the one at the same place in
// the previous row takes that row's span instead of a copy. A batch of
// Telegraf or TSBS rows shrinks to about half, and with it everything
// that copies the arena: the WAL record (its encoding, its compression,
// the bytes written and synced) and the decoded batch a write holds.
// Spans only ever point back, to rows before the current one, so
// truncating the batch to an earlier row (AbortRow, a decoder's mark)
// leaves every kept span valid; nothing writes the arena's bytes in
// place.

// reuse returns prev when it holds p's bytes, else p put in the arena.
// A zero prev (no previous row, or none at this place) holds nothing.
func (b *Batch) reuse(p []byte, prev Span) Span {
	if n := len(p); int(prev.Len) == n && n != 0 {
		q := b.Buf[prev.Off : prev.Off+prev.Len]
		// Keys and tag values are mostly 8 to 16 bytes: two overlapping
		// word loads compare them inline, where == calls memequal.
		if n >= 8 && n <= 16 {
			if binary.LittleEndian.Uint64(q) == binary.LittleEndian.Uint64(p) &&
				binary.LittleEndian.Uint64(q[n-8:]) == binary.LittleEndian.Uint64(p[n-8:]) {
				return prev
			}
		} else if string(q) == string(p) {
			return prev
		}
	}
	return b.Put(p)
}

// prevTag is the tag of the previous row at the place the current row's
// next tag takes (zero when none).
func (b *Batch) prevTag() Tag {
	if i := uint(len(b.Tags) - int(b.cur.TagStart)); i < uint(len(b.prevTags)) {
		return b.prevTags[i]
	}
	return Tag{}
}

// prevFieldKey is the key of the previous row's field at the place the
// current row's next field takes (zero when none).
func (b *Batch) prevFieldKey() Span {
	if i := uint(len(b.Fields) - int(b.cur.FieldStart)); i < uint(len(b.prevFields)) {
		return b.prevFields[i].Key
	}
	return Span{}
}

// AddFloat adds a float field to the current row.
func (b *Batch) AddFloat(key []byte, v float64) { b.AddNum(key, FieldFloat, math.Float64bits(v)) }

// AddString adds a string field to the current row.
func (b *Batch) AddString(key, value []byte) {
	b.Fields = append(b.Fields, Field{Key: b.reuse(key, b.prevFieldKey()), Type: FieldString, Str: b.Put(value)})
}

// EndRow finishes the current row with time t (nanoseconds since the epoch).
func (b *Batch) EndRow(t int64) {
	b.cur.Time = t
	b.cur.TagEnd = uint32(len(b.Tags))
	b.cur.FieldEnd = uint32(len(b.Fields))
	b.Rows = append(b.Rows, b.cur)
}

// AbortRow drops the row under construction and everything it added.
func (b *Batch) AbortRow() {
	b.Buf, b.Tags, b.Fields = b.Buf[:b.mBuf], b.Tags[:b.mTags], b.Fields[:b.mFields]
}

// RowTags returns the tags of r; the slice aliases the batch.
func (b *Batch) RowTags(r *Row) []Tag { return b.Tags[r.TagStart:r.TagEnd] }

// RowFields returns the fields of r; the slice aliases the batch.
func (b *Batch) RowFields(r *Row) []Field { return b.Fields[r.FieldStart:r.FieldEnd] }

// LineError describes one input line a decoder or the schema rejected.
// Code is a stable identifier clients may match on.
type LineError struct {
	Line   int    `json:"line"`
	Code   string `json:"code"`
	Reason string `json:"error"`
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Precision is the unit of timestamps in an ingest request.
type Precision int64

// Precisions, as nanoseconds per unit.
const (
	Nanosecond  Precision = 1
	Microsecond Precision = 1e3
	Millisecond Precision = 1e6
	Second      Precision = 1e9
	Minute      Precision = 60e9
	Hour        Precision = 3600e9
)

// ParsePrecision accepts the spellings InfluxDB v1 and v2 clients send
// ("ns", "n", "us", "u", "µ", "ms", "s", "m", "h"; empty means ns).
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "", "ns", "n":
		return Nanosecond, nil
	case "us", "u", "µ", "µs":
		return Microsecond, nil
	case "ms":
		return Millisecond, nil
	case "s":
		return Second, nil
	case "m":
		return Minute, nil
	case "h":
		return Hour, nil
	}
	return 0, fmt.Errorf("unknown precision %q (want ns, us, ms, s, m or h)", s)
}

// Scale converts t in units of p to nanoseconds, reporting overflow.
func (p Precision) Scale(t int64) (int64, bool) {
	if p == Nanosecond {
		return t, true
	}
	n := t * int64(p)
	if n/int64(p) != t {
		return 0, false
	}
	return n, true
}
