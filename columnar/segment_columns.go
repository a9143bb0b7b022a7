package columnar

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ScanColumns is Scan restricted to the named columns (time is always
// read): only their column chunks are decoded, column by column. Names the segment does not have are
// ignored. Tag values that repeat the previous row's (rows are sorted by
// series) reuse its string. The Point is reused between calls.
//
// tags, if not empty, says that only rows whose tag k has one of tags[k]
// (for every k) are wanted: the segment's tag index then picks the rows, and
// only the row groups holding them are read. Other rows may be skipped but
// callers must still filter (a tag the index lacks disables the shortcut).
func (s *Segment) ScanColumns(cols []string, tags map[string][]string, fn func(p *Point) error) error {
	want, ok := s.matchingRows(tags)
	if ok && want.IsEmpty() {
		return nil
	}
	rdr := s.rdr
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
	// Row groups to read, and where each starts in the segment's rows.
	var groups []int
	var starts []int64
	var start int64
	for g := 0; g < rdr.NumRowGroups(); g++ {
		n := rdr.MetaData().RowGroup(g).NumRows()
		if !ok || want.IntersectsWithInterval(uint64(start), uint64(start+n)) {
			groups = append(groups, g)
			starts = append(starts, start)
		}
		start += n
	}
	if len(groups) == 0 {
		return nil
	}
	rr, err := fr.GetRecordReader(context.Background(), idx, groups)
	if err != nil {
		return fmt.Errorf("read segment columns: %w", err)
	}
	// row tracks the segment row number of the next record row: records
	// run through the chosen row groups in order.
	gi, row, left := 0, starts[0], rdr.MetaData().RowGroup(groups[0]).NumRows()
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
			for left == 0 {
				gi++
				row, left = starts[gi], rdr.MetaData().RowGroup(groups[gi]).NumRows()
			}
			this := row
			row++
			left--
			if ok && !want.Contains(uint32(this)) {
				continue
			}
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
						lastTag[j] = strings.Clone(v) // v may alias the batch
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
						fv.Str = strings.Clone(v)
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

// matchingRows returns the rows whose tags satisfy tags according to the
// segment's index, and false when the index cannot tell (no constraint, no
// index, or a constrained tag the index lacks).
func (s *Segment) matchingRows(tags map[string][]string) (*roaring.Bitmap, bool) {
	if len(tags) == 0 || s.Index == nil {
		return nil, false
	}
	var out *roaring.Bitmap
	for k, vals := range tags {
		byVal, ok := s.Index[k]
		if !ok {
			if slices.Contains(s.Info.Tags, k) {
				return nil, false // tag column without an index entry: cannot tell
			}
			return roaring.New(), true // the segment has no such tag: no row has a value
		}
		bm := roaring.New()
		for _, v := range vals {
			if b, ok := byVal[v]; ok {
				bm.Or(b)
			}
		}
		if out == nil {
			out = bm
		} else {
			out.And(bm)
		}
	}
	return out, true
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
