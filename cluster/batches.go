package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// A writer's answer to a pushed-down scan (RollupPath) is the column
// batches its own scan delivers: rollup batches (partials per series and
// window) and raw ones, whose columns differ. Each batch travels as one
// Arrow IPC stream (its schema, one record batch, the end marker) in a
// frame: its length as 8 bytes little-endian, then the stream. A frame of
// length 0 ends the answer, so a cut connection is told from the end.
// The record's schema metadata rollupKey holds ColumnBatch.Rollup; its
// columns are "time", then the tags (string, nullable, kind tag), then
// the fields (typed, nullable, kind field).
const (
	rollupKey = "silt.rollup"
	// maxFrame bounds one frame a query node accepts: a batch is at most
	// a head's batch of rows (64K) of the scan's columns.
	maxFrame = 64 << 20
)

// BatchWriter encodes column batches as frames (see above).
type BatchWriter struct {
	out io.Writer
	buf bytes.Buffer
	// Bytes counts what was written.
	Bytes int64
}

// NewBatchWriter writes frames to out.
func NewBatchWriter(out io.Writer) *BatchWriter { return &BatchWriter{out: out} }

// Write encodes b's rows (its Sel if set) as one frame.
func (bw *BatchWriter) Write(b *columnar.ColumnBatch) error {
	rows := b.Len
	if b.Sel != nil {
		rows = len(b.Sel)
	}
	if rows == 0 {
		return nil
	}
	row := func(k int) int {
		if b.Sel != nil {
			return int(b.Sel[k])
		}
		return k
	}
	cols := make([]arrow.Field, 0, 1+len(b.Tags)+len(b.Fields))
	cols = append(cols, arrow.Field{Name: timeCol, Type: arrow.PrimitiveTypes.Int64})
	for _, t := range b.Tags {
		cols = append(cols, arrow.Field{Name: t.Name, Type: arrow.BinaryTypes.String, Nullable: true,
			Metadata: arrow.NewMetadata([]string{kindKey}, []string{kindTag})})
	}
	for _, f := range b.Fields {
		cols = append(cols, arrow.Field{Name: f.Name, Type: segment.ArrowType(f.Type), Nullable: true,
			Metadata: arrow.NewMetadata([]string{kindKey}, []string{kindField})})
	}
	md := arrow.NewMetadata([]string{rollupKey}, []string{strconv.FormatInt(b.Rollup, 10)})
	schema := arrow.NewSchema(cols, &md)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	tb := rb.Field(0).(*array.Int64Builder)
	tb.Reserve(rows)
	for k := range rows {
		tb.UnsafeAppend(b.Time[row(k)])
	}
	for i := range b.Tags {
		tv := &b.Tags[i]
		sb := rb.Field(1 + i).(*array.StringBuilder)
		sb.Reserve(rows)
		for k := range rows {
			if id := tv.IDs[row(k)]; id >= 0 {
				sb.Append(tv.Dict[id])
			} else {
				sb.AppendNull()
			}
		}
	}
	for i := range b.Fields {
		appendField(rb.Field(1+len(b.Tags)+i), &b.Fields[i], rows, row)
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	bw.buf.Reset()
	bw.buf.Write(make([]byte, 8)) // the length, set below
	w := ipc.NewWriter(&bw.buf, ipc.WithSchema(schema))
	if err := errors.Join(w.Write(rec), w.Close()); err != nil {
		return fmt.Errorf("encode a batch: %w", err)
	}
	frame := bw.buf.Bytes()
	binary.LittleEndian.PutUint64(frame, uint64(len(frame)-8))
	n, err := bw.out.Write(frame)
	bw.Bytes += int64(n)
	return err
}

func appendField(fb array.Builder, fv *columnar.FieldVector, rows int, row func(int) int) {
	fb.Reserve(rows)
	for k := range rows {
		r := row(k)
		if fv.IsNull(r) {
			fb.AppendNull()
			continue
		}
		switch fv.Type {
		case columnar.FieldFloat:
			fb.(*array.Float64Builder).Append(fv.F[r])
		case columnar.FieldInt:
			fb.(*array.Int64Builder).Append(fv.I[r])
		case columnar.FieldUint:
			fb.(*array.Uint64Builder).Append(fv.U[r])
		case columnar.FieldBool:
			fb.(*array.BooleanBuilder).Append(fv.B[r])
		default:
			fb.(*array.StringBuilder).Append(fv.S[r])
		}
	}
}

// Close writes the end frame.
func (bw *BatchWriter) Close() error {
	n, err := bw.out.Write(make([]byte, 8))
	bw.Bytes += int64(n)
	return err
}

// BatchReader decodes frames written by BatchWriter, a batch at a time.
type BatchReader struct {
	in  io.Reader
	buf []byte
	b   columnar.ColumnBatch
	// Bytes counts what was read.
	Bytes int64
	// dicts maps a tag's values to their ids within the current batch.
	dicts []map[string]int32
}

// NewBatchReader reads frames from in.
func NewBatchReader(in io.Reader) *BatchReader { return &BatchReader{in: in} }

// Each passes fn every batch until the end frame; the batch is valid until
// fn returns. A stream cut before the end frame is an error.
func (br *BatchReader) Each(fn func(*columnar.ColumnBatch) error) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br.in, hdr[:]); err != nil {
			return fmt.Errorf("read a batch frame: %w", noEOF(err))
		}
		br.Bytes += 8
		n := binary.LittleEndian.Uint64(hdr[:])
		if n == 0 {
			return nil
		}
		if n > maxFrame {
			return fmt.Errorf("a batch frame of %d bytes passes the bound of %d", n, maxFrame)
		}
		if uint64(cap(br.buf)) < n {
			br.buf = make([]byte, n)
		}
		br.buf = br.buf[:n]
		if _, err := io.ReadFull(br.in, br.buf); err != nil {
			return fmt.Errorf("read a batch frame: %w", noEOF(err))
		}
		br.Bytes += int64(n)
		if err := br.decode(fn); err != nil {
			return err
		}
	}
}

// noEOF turns a clean EOF mid-answer into ErrUnexpectedEOF: the answer
// ends with its end frame only.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (br *BatchReader) decode(fn func(*columnar.ColumnBatch) error) error {
	rd, err := ipc.NewReader(bytes.NewReader(br.buf))
	if err != nil {
		return fmt.Errorf("decode a batch: %w", err)
	}
	defer rd.Release()
	for rd.Next() {
		if err := br.emit(rd.RecordBatch(), fn); err != nil {
			return err
		}
	}
	if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode a batch: %w", err)
	}
	return nil
}

// emit converts rec into the reused batch and passes it to fn.
func (br *BatchReader) emit(rec arrow.RecordBatch, fn func(*columnar.ColumnBatch) error) error {
	sc := rec.Schema()
	b := &br.b
	b.Sel, b.Rollup = nil, 0
	if md := sc.Metadata(); md.FindKey(rollupKey) >= 0 {
		w, err := strconv.ParseInt(md.Values()[md.FindKey(rollupKey)], 10, 64)
		if err != nil {
			return fmt.Errorf("decode a batch: rollup width: %w", err)
		}
		b.Rollup = w
	}
	if sc.NumFields() == 0 || sc.Field(0).Name != timeCol {
		return errors.New("decode a batch: first column is not time")
	}
	times, ok := rec.Column(0).(*array.Int64)
	if !ok {
		return errors.New("decode a batch: time column is not int64")
	}
	n := int(rec.NumRows())
	b.Len = n
	b.Time = append(b.Time[:0], times.Int64Values()...)
	b.Tags, b.Fields = b.Tags[:0], b.Fields[:0]
	nt := 0
	for c := 1; c < sc.NumFields(); c++ {
		f := sc.Field(c)
		kind, _ := f.Metadata.GetValue(kindKey)
		col := rec.Column(c)
		if kind == kindTag {
			s, ok := col.(*array.String)
			if !ok {
				return fmt.Errorf("decode a batch: tag %s has type %s", f.Name, col.DataType())
			}
			if nt == len(br.dicts) {
				br.dicts = append(br.dicts, map[string]int32{})
			}
			dict := br.dicts[nt]
			clear(dict)
			nt++
			tv := columnar.TagVector{Name: f.Name}
			if k := len(b.Tags); k < cap(b.Tags) {
				tv.IDs, tv.Dict = b.Tags[:k+1][k].IDs[:0], b.Tags[:k+1][k].Dict[:0]
			}
			for i := range n {
				if s.IsNull(i) {
					tv.IDs = append(tv.IDs, -1)
					continue
				}
				v := s.Value(i)
				id, ok := dict[v]
				if !ok {
					id = int32(len(tv.Dict))
					v = string([]byte(v)) // the record's memory goes with it
					tv.Dict = append(tv.Dict, v)
					dict[v] = id
				}
				tv.IDs = append(tv.IDs, id)
			}
			b.Tags = append(b.Tags, tv)
			continue
		}
		var fv columnar.FieldVector
		if k := len(b.Fields); k < cap(b.Fields) {
			old := b.Fields[:k+1][k]
			fv = columnar.FieldVector{Null: old.Null[:0], F: old.F[:0], I: old.I[:0], U: old.U[:0], B: old.B[:0], S: old.S[:0]}
		}
		fv.Name = f.Name
		if col.NullN() > 0 {
			for i := range n {
				fv.Null = append(fv.Null, col.IsNull(i))
			}
		} else {
			fv.Null = nil
		}
		switch a := col.(type) {
		case *array.Float64:
			fv.Type, fv.F = columnar.FieldFloat, append(fv.F, a.Float64Values()...)
		case *array.Int64:
			fv.Type, fv.I = columnar.FieldInt, append(fv.I, a.Int64Values()...)
		case *array.Uint64:
			fv.Type, fv.U = columnar.FieldUint, append(fv.U, a.Uint64Values()...)
		case *array.Boolean:
			fv.Type = columnar.FieldBool
			for i := range n {
				fv.B = append(fv.B, a.Value(i))
			}
		case *array.String:
			fv.Type = columnar.FieldString
			for i := range n {
				fv.S = append(fv.S, string([]byte(a.Value(i))))
			}
		default:
			return fmt.Errorf("decode a batch: field %s has type %s", f.Name, col.DataType())
		}
		b.Fields = append(b.Fields, fv)
	}
	return fn(b)
}
