package columnar

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Binary form of a Batch (the WAL record payload), all integers uvarint
// unless noted. Version 2, written since session 20:
//
//	version(1 byte: 2) | len(Buf) | Buf | nRows | row*
//	row   = table time line nTags nFields tag* field*
//	time  = zigzag varint of the difference with the previous row's time
//	line  = zigzag varint of the difference with the previous row's line
//	tag   = key value
//	field = key type(1 byte) value
//	value = float: 8 bytes LE | integer: zigzag varint | unsigned,
//	        boolean: uvarint | string: a span
//
// A span (table, keys, string values) is written against the span at the
// same place in the previous row ("its slot": the previous row's table,
// its j-th tag's key or value, its j-th field's key or string, the zero
// span for the string of a field that is not a string; the zero span
// when that row has no such place, and for the first row): 0 when
// equal, else off+1 and len. The previous row is the one written before,
// in both the encoder and the decoder. Rows of one source repeat their
// previous row's keys, and a decoded batch's arena holds them once
// (reuse, batch.go), so most spans take one byte, and small integers and
// equal times take one byte too: about a quarter of version 1's bytes for
// TSBS rows, which is that much less for the WAL to compress.
//
// Version 1, still read (WAL files of earlier releases):
//
//	version(1 byte: 1) | len(Buf) | Buf | nRows | row*
//	row   = table.off table.len time(8 bytes LE) line nTags nFields tag* field*
//	tag   = key.off key.len value.off value.len
//	field = key.off key.len type(1 byte) (num(8 bytes LE) | str.off str.len)
//
// Rows are written by reference, so a batch whose Rows were filtered in place
// encodes only the kept rows (plus unreferenced arena bytes).
const (
	batchCodecV1      = 1
	batchCodecVersion = 2
)

// AppendBinary appends the binary form of b (version 2) to dst.
func (b *Batch) AppendBinary(dst []byte) []byte {
	dst = append(dst, batchCodecVersion)
	dst = binary.AppendUvarint(dst, uint64(len(b.Buf)))
	dst = append(dst, b.Buf...)
	dst = binary.AppendUvarint(dst, uint64(len(b.Rows)))
	var prevTime int64
	var prevLine uint32
	var prev *Row
	for i := range b.Rows {
		r := &b.Rows[i]
		var ptags []Tag
		var pfields []Field
		var ptable Span
		if prev != nil {
			ptable, ptags, pfields = prev.Table, b.Tags[prev.TagStart:prev.TagEnd], b.Fields[prev.FieldStart:prev.FieldEnd]
		}
		dst = appendSpanRef(dst, r.Table, ptable)
		dst = binary.AppendVarint(dst, r.Time-prevTime)
		dst = binary.AppendVarint(dst, int64(r.Line)-int64(prevLine))
		dst = binary.AppendUvarint(dst, uint64(r.TagEnd-r.TagStart))
		dst = binary.AppendUvarint(dst, uint64(r.FieldEnd-r.FieldStart))
		for j, t := range b.Tags[r.TagStart:r.TagEnd] {
			var slot Tag
			if j < len(ptags) {
				slot = ptags[j]
			}
			dst = appendSpanRef(dst, t.Key, slot.Key)
			dst = appendSpanRef(dst, t.Value, slot.Value)
		}
		for j := range b.Fields[r.FieldStart:r.FieldEnd] {
			f := &b.Fields[int(r.FieldStart)+j]
			var slot Field
			if j < len(pfields) {
				slot = pfields[j]
			}
			dst = appendSpanRef(dst, f.Key, slot.Key)
			dst = append(dst, byte(f.Type))
			switch f.Type {
			case FieldString:
				dst = appendSpanRef(dst, f.Str, slotStr(&slot))
			case FieldInt:
				dst = binary.AppendVarint(dst, int64(f.Num))
			case FieldUint, FieldBool:
				dst = binary.AppendUvarint(dst, f.Num)
			default: // float, and any type the decoder will refuse
				dst = binary.LittleEndian.AppendUint64(dst, f.Num)
			}
		}
		prevTime, prevLine, prev = r.Time, r.Line, r
	}
	return dst
}

// slotStr is the string span of a field's slot: the empty span unless
// the slot is a string field. The decoder reads numeric fields with an
// empty Str, so the encoder must not write a string against whatever Str
// a numeric field of the batch it encodes happens to hold.
func slotStr(slot *Field) Span {
	if slot.Type != FieldString {
		return Span{}
	}
	return slot.Str
}

// appendSpanRef appends s as written against its slot (see above).
func appendSpanRef(dst []byte, s, slot Span) []byte {
	if s == slot {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(s.Off)+1)
	return binary.AppendUvarint(dst, uint64(s.Len))
}

// appendBinaryV1 appends the version 1 form of b: what earlier releases
// wrote, for tests that their records still read back.
func (b *Batch) appendBinaryV1(dst []byte) []byte {
	dst = append(dst, batchCodecV1)
	dst = binary.AppendUvarint(dst, uint64(len(b.Buf)))
	dst = append(dst, b.Buf...)
	dst = binary.AppendUvarint(dst, uint64(len(b.Rows)))
	for i := range b.Rows {
		r := &b.Rows[i]
		dst = appendSpan(dst, r.Table)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time))
		dst = binary.AppendUvarint(dst, uint64(r.Line))
		dst = binary.AppendUvarint(dst, uint64(r.TagEnd-r.TagStart))
		dst = binary.AppendUvarint(dst, uint64(r.FieldEnd-r.FieldStart))
		for _, t := range b.Tags[r.TagStart:r.TagEnd] {
			dst = appendSpan(dst, t.Key)
			dst = appendSpan(dst, t.Value)
		}
		for _, f := range b.Fields[r.FieldStart:r.FieldEnd] {
			dst = appendSpan(dst, f.Key)
			dst = append(dst, byte(f.Type))
			if f.Type == FieldString {
				dst = appendSpan(dst, f.Str)
			} else {
				dst = binary.LittleEndian.AppendUint64(dst, f.Num)
			}
		}
	}
	return dst
}

func appendSpan(dst []byte, s Span) []byte {
	dst = binary.AppendUvarint(dst, uint64(s.Off))
	return binary.AppendUvarint(dst, uint64(s.Len))
}

// ErrBadBatch marks an undecodable batch encoding.
var ErrBadBatch = errors.New("bad batch encoding")

type batchReader struct {
	p   []byte
	err error
}

func (r *batchReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.err = ErrBadBatch
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *batchReader) u64() uint64 {
	if r.err != nil || len(r.p) < 8 {
		r.err = ErrBadBatch
		return 0
	}
	v := binary.LittleEndian.Uint64(r.p)
	r.p = r.p[8:]
	return v
}

func (r *batchReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.p)
	if n <= 0 {
		r.err = ErrBadBatch
		return 0
	}
	r.p = r.p[n:]
	return v
}

// spanRef reads a span written against slot (version 2).
func (r *batchReader) spanRef(bufLen int, slot Span) Span {
	off := r.uvarint()
	if r.err != nil || off == 0 {
		return slot
	}
	off--
	n := r.uvarint()
	if r.err == nil && (off > uint64(bufLen) || n > uint64(bufLen)-off) {
		r.err = ErrBadBatch
	}
	return Span{Off: uint32(off), Len: uint32(n)}
}

func (r *batchReader) byte1() byte {
	if r.err != nil || len(r.p) < 1 {
		r.err = ErrBadBatch
		return 0
	}
	v := r.p[0]
	r.p = r.p[1:]
	return v
}

func (r *batchReader) span(bufLen int) Span {
	off, n := r.uvarint(), r.uvarint()
	// Compared apart: off+n wraps past 2^64 (damaged bytes), and a span
	// far outside the arena would have passed.
	if r.err == nil && (off > uint64(bufLen) || n > uint64(bufLen)-off) {
		r.err = ErrBadBatch
	}
	return Span{Off: uint32(off), Len: uint32(n)}
}

// UnmarshalBinary replaces the contents of b with the batch encoded in p.
// The arena is copied, so p may be reused afterwards.
func (b *Batch) UnmarshalBinary(p []byte) error {
	b.Reset()
	r := batchReader{p: p}
	v := r.byte1()
	if r.err == nil && v != batchCodecV1 && v != batchCodecVersion {
		return fmt.Errorf("%w: version %d", ErrBadBatch, v)
	}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.p)) {
		return fmt.Errorf("%w: arena length", ErrBadBatch)
	}
	b.Buf = append(b.Buf, r.p[:n]...)
	r.p = r.p[n:]
	bufLen := len(b.Buf)
	rows := r.uvarint()
	if rows > uint64(len(r.p)) { // every row takes more than a byte
		return fmt.Errorf("%w: row count", ErrBadBatch)
	}
	if v == batchCodecVersion {
		if err := b.readRowsV2(&r, rows, bufLen); err != nil {
			return err
		}
		if len(r.p) != 0 {
			return fmt.Errorf("%w: %d trailing bytes", ErrBadBatch, len(r.p))
		}
		return nil
	}
	for i := uint64(0); i < rows && r.err == nil; i++ {
		row := Row{Table: r.span(bufLen)}
		row.Time = int64(r.u64())
		row.Line = uint32(r.uvarint())
		nt, nf := r.uvarint(), r.uvarint()
		if nt > uint64(len(r.p)) || nf > uint64(len(r.p)) {
			return fmt.Errorf("%w: tag or field count", ErrBadBatch)
		}
		row.TagStart = uint32(len(b.Tags))
		for j := uint64(0); j < nt; j++ {
			b.Tags = append(b.Tags, Tag{Key: r.span(bufLen), Value: r.span(bufLen)})
		}
		row.TagEnd = uint32(len(b.Tags))
		row.FieldStart = uint32(len(b.Fields))
		for j := uint64(0); j < nf; j++ {
			f := Field{Key: r.span(bufLen), Type: FieldType(r.byte1())}
			switch f.Type {
			case FieldString:
				f.Str = r.span(bufLen)
			case FieldFloat, FieldInt, FieldUint, FieldBool:
				f.Num = r.u64()
			default:
				if r.err == nil {
					r.err = fmt.Errorf("%w: field type %d", ErrBadBatch, f.Type)
				}
			}
			b.Fields = append(b.Fields, f)
		}
		row.FieldEnd = uint32(len(b.Fields))
		b.Rows = append(b.Rows, row)
	}
	if r.err != nil {
		return r.err
	}
	if len(r.p) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadBatch, len(r.p))
	}
	return nil
}

// readRowsV2 reads rows version 2 rows into b, whose arena holds bufLen
// bytes.
func (b *Batch) readRowsV2(r *batchReader, rows uint64, bufLen int) error {
	var prevTime int64
	var prevLine uint32
	var prev *Row
	for i := uint64(0); i < rows && r.err == nil; i++ {
		var ptable Span
		var ptags []Tag
		var pfields []Field
		if prev != nil {
			ptable, ptags, pfields = prev.Table, b.Tags[prev.TagStart:prev.TagEnd], b.Fields[prev.FieldStart:prev.FieldEnd]
		}
		row := Row{Table: r.spanRef(bufLen, ptable)}
		row.Time = prevTime + r.varint()
		row.Line = uint32(int64(prevLine) + r.varint())
		nt, nf := r.uvarint(), r.uvarint()
		if nt > uint64(len(r.p)) || nf > uint64(len(r.p)) {
			return fmt.Errorf("%w: tag or field count", ErrBadBatch)
		}
		row.TagStart = uint32(len(b.Tags))
		for j := uint64(0); j < nt; j++ {
			var slot Tag
			if j < uint64(len(ptags)) {
				slot = ptags[j]
			}
			k := r.spanRef(bufLen, slot.Key)
			b.Tags = append(b.Tags, Tag{Key: k, Value: r.spanRef(bufLen, slot.Value)})
		}
		row.TagEnd = uint32(len(b.Tags))
		row.FieldStart = uint32(len(b.Fields))
		for j := uint64(0); j < nf; j++ {
			var slot Field
			if j < uint64(len(pfields)) {
				slot = pfields[j]
			}
			f := Field{Key: r.spanRef(bufLen, slot.Key), Type: FieldType(r.byte1())}
			switch f.Type {
			case FieldString:
				f.Str = r.spanRef(bufLen, slotStr(&slot))
			case FieldInt:
				f.Num = uint64(r.varint())
			case FieldUint, FieldBool:
				f.Num = r.uvarint()
			case FieldFloat:
				f.Num = r.u64()
			default:
				if r.err == nil {
					r.err = fmt.Errorf("%w: field type %d", ErrBadBatch, f.Type)
				}
			}
			b.Fields = append(b.Fields, f)
		}
		row.FieldEnd = uint32(len(b.Fields))
		b.Rows = append(b.Rows, row)
		prevTime, prevLine = row.Time, row.Line
		prev = &b.Rows[len(b.Rows)-1]
	}
	return r.err
}
