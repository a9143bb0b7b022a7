package columnar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ScanColumns is Scan restricted to the named columns (time is always
// read): only their column chunks are decoded, column by column, through
// Apache Arrow's Parquet reader. Names the segment does not have are
// ignored. Tag values that repeat the previous row's (rows are sorted by
// series) reuse its string. The Point is reused between calls.
func (s *Segment) ScanColumns(cols []string, fn func(p *Point) error) error {
	// A section reader, not the file: closing the Parquet reader closes its
	// source when it can, and the segment owns the file.
	rdr, err := file.NewParquetReader(io.NewSectionReader(s.f, 0, s.size))
	if err != nil {
		return fmt.Errorf("open segment for column scan: %w", err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("arrow reader for segment: %w", err)
	}
	sch := rdr.MetaData().Schema
	isTag := map[string]bool{}
	for _, t := range s.Info.Tags {
		isTag[t] = true
	}
	fieldType := map[string]FieldType{}
	for _, f := range s.Info.Fields {
		fieldType[f.Name] = f.Type
	}
	type colRead struct {
		name string
		kind byte // 't' time, 'g' tag, 'f' field
		typ  FieldType
	}
	var idx []int
	var reads []colRead
	add := func(name string) {
		i := sch.ColumnIndexByName(name)
		if i < 0 {
			return
		}
		for _, r := range reads {
			if r.name == name {
				return
			}
		}
		switch {
		case name == TimeColumn:
			reads = append(reads, colRead{name: name, kind: 't'})
		case isTag[name]:
			reads = append(reads, colRead{name: name, kind: 'g'})
		default:
			reads = append(reads, colRead{name: name, kind: 'f', typ: fieldType[name]})
		}
		idx = append(idx, i)
	}
	add(TimeColumn)
	for _, c := range cols {
		add(c)
	}
	rr, err := fr.GetRecordReader(context.Background(), idx, nil)
	if err != nil {
		return fmt.Errorf("read segment columns: %w", err)
	}
	defer rr.Release()
	var p Point
	lastTag := make([]string, len(reads))
	for rr.Next() {
		rec := rr.RecordBatch()
		// The record's columns follow idx's order; find each by name to be
		// safe against reordering.
		arrs := make([]arrow.Array, len(reads))
		for j, r := range reads {
			ci := rec.Schema().FieldIndices(r.name)
			if len(ci) == 0 {
				return fmt.Errorf("segment column %s missing from the arrow record", r.name)
			}
			arrs[j] = rec.Column(ci[0])
		}
		n := int(rec.NumRows())
		for i := 0; i < n; i++ {
			p.Tags, p.Fields = p.Tags[:0], p.Fields[:0]
			for j, r := range reads {
				a := arrs[j]
				if a.IsNull(i) {
					continue
				}
				switch r.kind {
				case 't':
					ts, ok := a.(*array.Timestamp)
					if !ok {
						return fmt.Errorf("segment time column is %s", a.DataType())
					}
					p.Time = int64(ts.Value(i))
				case 'g':
					v, err := stringAt(a, i)
					if err != nil {
						return fmt.Errorf("tag %s: %w", r.name, err)
					}
					if lastTag[j] != v {
						lastTag[j] = string([]byte(v)) // own copy: v may alias the batch
					}
					p.Tags = append(p.Tags, TagValue{Key: r.name, Value: lastTag[j]})
				case 'f':
					fv := FieldValue{Key: r.name, Type: r.typ}
					switch x := a.(type) {
					case *array.Float64:
						fv.Num = math.Float64bits(x.Value(i))
					case *array.Int64:
						fv.Num = uint64(x.Value(i))
					case *array.Uint64:
						fv.Num = x.Value(i)
					case *array.Boolean:
						if x.Value(i) {
							fv.Num = 1
						}
					default:
						v, err := stringAt(a, i)
						if err != nil {
							return fmt.Errorf("field %s: %w", r.name, err)
						}
						fv.Str = string([]byte(v))
					}
					p.Fields = append(p.Fields, fv)
				}
			}
			sortTags(p.Tags)
			if err := fn(&p); err != nil {
				return err
			}
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("read segment columns: %w", err)
	}
	return nil
}

// stringAt returns the string at row i of a string-like Arrow array.
func stringAt(a arrow.Array, i int) (string, error) {
	switch x := a.(type) {
	case *array.String:
		return x.Value(i), nil
	case *array.LargeString:
		return x.Value(i), nil
	case *array.Binary:
		return string(x.Value(i)), nil
	case *array.Dictionary:
		return stringAt(x.Dictionary(), x.GetValueIndex(i))
	}
	return "", fmt.Errorf("unexpected arrow type %s", a.DataType())
}
