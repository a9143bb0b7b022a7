package segment

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/siltdb/silt/columnar"
)

// ArrowSchema returns the Arrow schema of a table: time timestamp[ns, UTC],
// tags dictionary<int32, utf8>, fields by type, all nullable but time.
func ArrowSchema(s *columnar.TableSchema) *arrow.Schema {
	fs := []arrow.Field{{Name: columnar.TimeColumn, Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}}}
	for _, t := range s.Tags {
		fs = append(fs, arrow.Field{Name: t, Nullable: true,
			Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}})
	}
	for _, f := range s.Fields {
		fs = append(fs, arrow.Field{Name: f.Name, Type: ArrowType(f.Type), Nullable: true})
	}
	return arrow.NewSchema(fs, nil)
}

// ArrowType maps a field type to its Arrow type.
func ArrowType(t columnar.FieldType) arrow.DataType {
	switch t {
	case columnar.FieldFloat:
		return arrow.PrimitiveTypes.Float64
	case columnar.FieldInt:
		return arrow.PrimitiveTypes.Int64
	case columnar.FieldUint:
		return arrow.PrimitiveTypes.Uint64
	case columnar.FieldBool:
		return arrow.FixedWidthTypes.Boolean
	}
	return arrow.BinaryTypes.String
}

// Record returns the frozen head as one Arrow record in arrival order. Time
// shares the head's memory (no copy); field columns are copied out of their
// chunks; tag columns are dictionary arrays whose indices are gathered from
// the series table.
// The head must not be appended to while the record is in use.
func (h *Head) Record(mem memory.Allocator) arrow.RecordBatch {
	h.Finish()
	n := len(h.times)
	cols := make([]arrow.Array, 0, 1+len(h.dicts)+len(h.fields))
	sch := ArrowSchema(h.Schema)

	cols = append(cols, array.NewTimestampData(array.NewData(sch.Field(0).Type, n,
		[]*memory.Buffer{nil, memory.NewBufferBytes(sliceBytes(h.times))}, nil, 0, 0)))

	for c, d := range h.dicts {
		idx := make([]int32, n)
		valid := make([]uint64, (n+63)/64)
		nulls := 0
		for i, sid := range h.series {
			id := h.tagID(sid, c)
			if id < 0 {
				nulls++
				continue
			}
			idx[i] = id
			valid[i/64] |= 1 << (i % 64)
		}
		var validBuf *memory.Buffer
		if nulls > 0 {
			validBuf = memory.NewBufferBytes(sliceBytes(valid))
		}
		indices := array.NewData(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{validBuf, memory.NewBufferBytes(sliceBytes(idx))}, nil, nulls, 0)
		sb := array.NewStringBuilder(mem)
		sb.AppendValues(d.vals, nil)
		dict := sb.NewArray()
		sb.Release()
		dt := sch.Field(1 + c).Type.(*arrow.DictionaryType)
		data := array.NewData(dt, n, indices.Buffers(), nil, nulls, 0)
		data.SetDictionary(dict.Data())
		cols = append(cols, array.MakeFromData(data))
		indices.Release()
		dict.Release()
	}

	for _, col := range h.fields {
		// The column's chunks are concatenated: Arrow wants one buffer.
		valid := make([]uint64, (n+63)/64)
		nulls := 0
		for i := 0; i < n; i++ {
			if col.isValid(i) {
				valid[i/64] |= 1 << (i % 64)
			} else {
				nulls++
			}
		}
		var validBuf *memory.Buffer
		if nulls > 0 {
			validBuf = memory.NewBufferBytes(sliceBytes(valid))
		}
		typ := ArrowType(col.typ)
		var data arrow.ArrayData
		switch col.typ {
		case columnar.FieldBool:
			vals := make([]uint64, (n+63)/64)
			for i := 0; i < n; i++ {
				if col.numAt(i) != 0 {
					vals[i/64] |= 1 << (i % 64)
				}
			}
			data = array.NewData(typ, n, []*memory.Buffer{validBuf, memory.NewBufferBytes(sliceBytes(vals))}, nil, nulls, 0)
		case columnar.FieldString:
			offs := make([]int32, n+1)
			var str []byte
			for i := 0; i < n; i++ {
				if col.isValid(i) {
					str = append(str, col.strAt(i)...)
				}
				offs[i+1] = int32(len(str))
			}
			data = array.NewData(typ, n, []*memory.Buffer{validBuf, memory.NewBufferBytes(sliceBytes(offs)), memory.NewBufferBytes(str)}, nil, nulls, 0)
		default:
			vals := make([]uint64, n)
			for i := range vals {
				vals[i] = col.numAt(i)
			}
			data = array.NewData(typ, n, []*memory.Buffer{validBuf, memory.NewBufferBytes(sliceBytes(vals))}, nil, nulls, 0)
		}
		cols = append(cols, array.MakeFromData(data))
	}
	return array.NewRecordBatch(sch, cols, int64(n))
}

// sliceBytes views a slice of fixed-size values as bytes without copying.
func sliceBytes[T int64 | int32 | uint64 | uint32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}
