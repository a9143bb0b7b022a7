package cluster

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// The rows a writer holds outside the bucket travel to query nodes as an
// Arrow IPC stream: a column "time" (int64 ns), one nullable string column
// per tag and one nullable typed column per field, told apart by the
// column metadata key kindKey. Asked for them (StampsParam), a writer
// adds a last column of each point's write stamp (int64, kind
// kindStamp): the query node merges writers' copies of a point by them.
const (
	kindKey   = "silt.kind"
	kindTag   = "tag"
	kindField = "field"
	kindStamp = "stamp"
	timeCol   = "time"
	rowsBatch = 8 << 10
)

// StampsParam, set to "1" on RowsPath, asks a writer for its rows' write
// stamps (a writer of an older build ignores it and sends none).
const StampsParam = "stamps"

// RowWriter encodes points of one table as an Arrow IPC stream.
type RowWriter struct {
	tags   []string
	fields []columnar.FieldSchema
	tagIdx map[string]int
	fldIdx map[string]int
	b      *array.RecordBuilder
	w      *ipc.Writer
	n      int
	tagSet []bool
	fldSet []bool
	tagVal []string
	fldVal []columnar.FieldValue
	// stampCol is the builder of the stamp column (-1: none).
	stampCol int
}

// NewRowWriter writes to out the points of a table with these tags and
// fields (points may lack any of them).
func NewRowWriter(out io.Writer, tags []string, fields []columnar.FieldSchema) *RowWriter {
	return NewStampedRowWriter(out, tags, fields, false)
}

// NewStampedRowWriter is NewRowWriter with, if stamped, the stamp column
// (AddStamped gives each point's).
func NewStampedRowWriter(out io.Writer, tags []string, fields []columnar.FieldSchema, stamped bool) *RowWriter {
	cols := []arrow.Field{{Name: timeCol, Type: arrow.PrimitiveTypes.Int64}}
	rw := &RowWriter{tags: tags, fields: fields, tagIdx: map[string]int{}, fldIdx: map[string]int{},
		tagSet: make([]bool, len(tags)), fldSet: make([]bool, len(fields)),
		tagVal: make([]string, len(tags)), fldVal: make([]columnar.FieldValue, len(fields)), stampCol: -1}
	for i, t := range tags {
		rw.tagIdx[t] = i
		cols = append(cols, arrow.Field{Name: t, Type: arrow.BinaryTypes.String, Nullable: true,
			Metadata: arrow.NewMetadata([]string{kindKey}, []string{kindTag})})
	}
	for i, f := range fields {
		rw.fldIdx[f.Name] = i
		cols = append(cols, arrow.Field{Name: f.Name, Type: segment.ArrowType(f.Type), Nullable: true,
			Metadata: arrow.NewMetadata([]string{kindKey}, []string{kindField})})
	}
	if stamped {
		rw.stampCol = len(cols)
		cols = append(cols, arrow.Field{Name: kindStamp, Type: arrow.PrimitiveTypes.Int64,
			Metadata: arrow.NewMetadata([]string{kindKey}, []string{kindStamp})})
	}
	schema := arrow.NewSchema(cols, nil)
	rw.b = array.NewRecordBuilder(memory.DefaultAllocator, schema)
	rw.w = ipc.NewWriter(out, ipc.WithSchema(schema))
	return rw
}

// Add appends one point; columns it names that the writer was not made
// with are an error (the table's schema grew after the scan opened).
func (rw *RowWriter) Add(p *columnar.Point) error { return rw.AddStamped(p, 0) }

// AddStamped is Add with the point's write stamp (kept by a stamped
// writer; 0: unknown).
func (rw *RowWriter) AddStamped(p *columnar.Point, stamp int64) error {
	clear(rw.tagSet)
	clear(rw.fldSet)
	for _, t := range p.Tags {
		i, ok := rw.tagIdx[t.Key]
		if !ok {
			return fmt.Errorf("point has tag %q outside the table's schema", t.Key)
		}
		rw.tagSet[i], rw.tagVal[i] = true, t.Value
	}
	for _, f := range p.Fields {
		i, ok := rw.fldIdx[f.Key]
		if !ok || rw.fields[i].Type != f.Type {
			return fmt.Errorf("point has field %q outside the table's schema", f.Key)
		}
		rw.fldSet[i], rw.fldVal[i] = true, f
	}
	rw.b.Field(0).(*array.Int64Builder).Append(p.Time)
	if rw.stampCol >= 0 {
		rw.b.Field(rw.stampCol).(*array.Int64Builder).Append(stamp)
	}
	for i := range rw.tags {
		tb := rw.b.Field(1 + i).(*array.StringBuilder)
		if rw.tagSet[i] {
			tb.Append(rw.tagVal[i])
		} else {
			tb.AppendNull()
		}
	}
	for i, f := range rw.fields {
		fb := rw.b.Field(1 + len(rw.tags) + i)
		if !rw.fldSet[i] {
			fb.AppendNull()
			continue
		}
		v := rw.fldVal[i]
		switch f.Type {
		case columnar.FieldFloat:
			fb.(*array.Float64Builder).Append(math.Float64frombits(v.Num))
		case columnar.FieldInt:
			fb.(*array.Int64Builder).Append(int64(v.Num))
		case columnar.FieldUint:
			fb.(*array.Uint64Builder).Append(v.Num)
		case columnar.FieldBool:
			fb.(*array.BooleanBuilder).Append(v.Num != 0)
		default:
			fb.(*array.StringBuilder).Append(v.Str)
		}
	}
	rw.n++
	if rw.n == rowsBatch {
		return rw.flush()
	}
	return nil
}

func (rw *RowWriter) flush() error {
	rec := rw.b.NewRecordBatch()
	defer rec.Release()
	rw.n = 0
	return rw.w.Write(rec)
}

// Close writes the last batch and the end of the stream.
func (rw *RowWriter) Close() error {
	var err error
	if rw.n > 0 {
		err = rw.flush()
	}
	rw.b.Release()
	return errors.Join(err, rw.w.Close())
}

// ReadHead decodes a stream written by RowWriter into a new head of table
// with a copy of schema, extended by the stream's columns it lacks: the
// rows become one more source of a scan. A field whose type differs from
// the schema's is an error.
func ReadHead(r io.Reader, table string, schema *columnar.TableSchema) (*segment.Head, error) {
	rd, err := ipc.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	defer rd.Release()
	s := schema.Clone()
	h := segment.NewHead(s)
	var b columnar.Batch
	name := []byte(table)
	for rd.Next() {
		rec := rd.RecordBatch()
		if err := appendRecord(&b, name, rec); err != nil {
			return nil, err
		}
		// The rows' write stamps, if sent: a run in the head per change
		// (the rows come in series order, so up to one a row).
		var stamps *array.Int64
		for c := 1; c < rec.Schema().NumFields(); c++ {
			if k, _ := rec.Schema().Field(c).Metadata.GetValue(kindKey); k == kindStamp {
				if stamps, _ = rec.Column(c).(*array.Int64); stamps == nil {
					return nil, fmt.Errorf("rows of %s: stamp column is %s", table, rec.Column(c).DataType())
				}
			}
		}
		for i := range b.Rows {
			if lerr := s.Admit(&b, &b.Rows[i]); lerr != nil {
				return nil, fmt.Errorf("rows of %s: %s", table, lerr.Error())
			}
			if stamps != nil {
				h.StampNext(stamps.Value(i))
			}
			h.Append(&b, &b.Rows[i], false)
		}
		b.Reset()
	}
	if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	return h, nil
}

// appendRecord adds rec's rows to b.
func appendRecord(b *columnar.Batch, table []byte, rec arrow.RecordBatch) error {
	sc := rec.Schema()
	if sc.NumFields() == 0 || sc.Field(0).Name != timeCol {
		return errors.New("rows: first column is not time")
	}
	times, ok := rec.Column(0).(*array.Int64)
	if !ok {
		return errors.New("rows: time column is not int64")
	}
	keys := make([][]byte, sc.NumFields())
	for c := 1; c < sc.NumFields(); c++ {
		keys[c] = []byte(sc.Field(c).Name)
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		b.StartRow(table, 0)
		for c := 1; c < sc.NumFields(); c++ {
			col := rec.Column(c)
			if col.IsNull(i) {
				continue
			}
			kind, _ := sc.Field(c).Metadata.GetValue(kindKey)
			if kind == kindStamp {
				continue // not a field: ReadHead reads it
			}
			switch a := col.(type) {
			case *array.String:
				if kind == kindTag {
					b.AddTag(keys[c], []byte(a.Value(i)))
				} else {
					b.AddString(keys[c], []byte(a.Value(i)))
				}
			case *array.Float64:
				b.AddFloat(keys[c], a.Value(i))
			case *array.Int64:
				b.AddNum(keys[c], columnar.FieldInt, uint64(a.Value(i)))
			case *array.Uint64:
				b.AddNum(keys[c], columnar.FieldUint, a.Value(i))
			case *array.Boolean:
				v := uint64(0)
				if a.Value(i) {
					v = 1
				}
				b.AddNum(keys[c], columnar.FieldBool, v)
			default:
				return fmt.Errorf("rows: column %s has type %s", sc.Field(c).Name, col.DataType())
			}
		}
		b.EndRow(times.Value(i))
	}
	return nil
}
