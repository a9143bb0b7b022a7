package columnar

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Binary form of a Batch (the WAL record payload), all integers uvarint
// unless noted:
//
//	version(1 byte) | len(Buf) | Buf | nRows | row*
//	row   = table.off table.len time(8 bytes LE) line nTags nFields tag* field*
//	tag   = key.off key.len value.off value.len
//	field = key.off key.len type(1 byte) (num(8 bytes LE) | str.off str.len)
//
// Rows are written by reference, so a batch whose Rows were filtered in place
// encodes only the kept rows (plus unreferenced arena bytes).
const batchCodecVersion = 1

// AppendBinary appends the binary form of b to dst.
func (b *Batch) AppendBinary(dst []byte) []byte {
	dst = append(dst, batchCodecVersion)
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
	if r.err == nil && off+n > uint64(bufLen) {
		r.err = ErrBadBatch
	}
	return Span{Off: uint32(off), Len: uint32(n)}
}

// UnmarshalBinary replaces the contents of b with the batch encoded in p.
// The arena is copied, so p may be reused afterwards.
func (b *Batch) UnmarshalBinary(p []byte) error {
	b.Reset()
	r := batchReader{p: p}
	if v := r.byte1(); r.err == nil && v != batchCodecVersion {
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
