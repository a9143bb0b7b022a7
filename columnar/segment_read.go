package columnar

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// Point is one row in row form: the slow, simple shape used by export and
// tests (the query engine reads columns instead).
type Point struct {
	Time   int64
	Tags   []TagValue // sorted by key
	Fields []FieldValue
}

// TagValue is a tag of a Point.
type TagValue struct{ Key, Value string }

// FieldValue is a field of a Point. Num holds numeric and boolean values as
// in Field; Str holds strings.
type FieldValue struct {
	Key  string
	Type FieldType
	Num  uint64
	Str  string
}

// Segment is an open segment file.
type Segment struct {
	f     *os.File
	size  int64
	pf    *parquet.File
	Info  SegmentInfo
	Index TagIndex
}

// OpenSegment opens the segment at path and reads its footer and tag index.
func OpenSegment(path string) (*Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("stat segment %s: %w", path, err), f.Close())
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open parquet %s: %w", path, err), f.Close())
	}
	s := &Segment{f: f, pf: pf, size: st.Size()}
	raw, ok := pf.Lookup(MetaKeyInfo)
	if !ok {
		return nil, errors.Join(fmt.Errorf("segment %s has no %s metadata", path, MetaKeyInfo), f.Close())
	}
	if err := json.Unmarshal([]byte(raw), &s.Info); err != nil {
		return nil, errors.Join(fmt.Errorf("parse %s of %s: %w", MetaKeyInfo, path, err), f.Close())
	}
	if raw, ok := pf.Lookup(MetaKeyIndex); ok {
		if s.Index, err = DecodeTagIndex(raw); err != nil {
			return nil, errors.Join(fmt.Errorf("segment %s: %w", path, err), f.Close())
		}
	}
	return s, nil
}

// File returns the underlying Parquet file.
func (s *Segment) File() *parquet.File { return s.pf }

// Close closes the file.
func (s *Segment) Close() error { return s.f.Close() }

// Scan calls fn with every row of the segment in file order. The Point is
// reused between calls.
func (s *Segment) Scan(fn func(p *Point) error) error {
	type colDef struct {
		kind byte
		name string
		typ  FieldType
	}
	defs := make([]colDef, len(s.pf.Schema().Columns()))
	fieldType := map[string]FieldType{}
	for _, f := range s.Info.Fields {
		fieldType[f.Name] = f.Type
	}
	isTag := map[string]bool{}
	for _, t := range s.Info.Tags {
		isTag[t] = true
	}
	for i, path := range s.pf.Schema().Columns() {
		name := path[0]
		switch {
		case name == TimeColumn:
			defs[i] = colDef{kind: 't', name: name}
		case isTag[name]:
			defs[i] = colDef{kind: 'g', name: name}
		default:
			defs[i] = colDef{kind: 'f', name: name, typ: fieldType[name]}
		}
	}
	var p Point
	lastTag := make([]string, len(defs))
	buf := make([]parquet.Row, 512)
	for _, rg := range s.pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				p.Tags, p.Fields = p.Tags[:0], p.Fields[:0]
				for _, v := range row {
					d := defs[v.Column()]
					if v.IsNull() {
						continue
					}
					switch d.kind {
					case 't':
						p.Time = v.Int64()
					case 'g':
						// Rows are sorted by series, so a tag value
						// usually repeats the previous row's: reuse its
						// string instead of allocating.
						b := v.ByteArray()
						if last := lastTag[v.Column()]; last != string(b) {
							lastTag[v.Column()] = string(b)
						}
						p.Tags = append(p.Tags, TagValue{Key: d.name, Value: lastTag[v.Column()]})
					case 'f':
						fv := FieldValue{Key: d.name, Type: d.typ}
						switch d.typ {
						case FieldFloat:
							fv.Num = math.Float64bits(v.Double())
						case FieldInt, FieldUint:
							fv.Num = uint64(v.Int64())
						case FieldBool:
							if v.Boolean() {
								fv.Num = 1
							}
						case FieldString:
							fv.Str = string(v.ByteArray())
						}
						p.Fields = append(p.Fields, fv)
					}
				}
				sortTags(p.Tags)
				if ferr := fn(&p); ferr != nil {
					return errors.Join(ferr, rows.Close())
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return errors.Join(fmt.Errorf("read segment rows: %w", err), rows.Close())
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Scan calls fn with every row of the frozen head in arrival order (no
// deduplication). The Point is reused between calls.
func (h *Head) Scan(fn func(p *Point) error) error {
	h.Finish()
	var p Point
	for i := range h.times {
		h.fillPoint(&p, i, nil)
		if err := fn(&p); err != nil {
			return err
		}
	}
	return nil
}

// fillPoint sets p to row i of the head. fieldRow, if not nil, names the
// row each field column's value comes from (merged duplicates).
func (h *Head) fillPoint(p *Point, i int, fieldRow func(col, row int) int) {
	p.Time = h.times[i]
	p.Tags, p.Fields = p.Tags[:0], p.Fields[:0]
	sid := h.series[i]
	for c, d := range h.dicts {
		if id := h.tagID(sid, c); id >= 0 {
			p.Tags = append(p.Tags, TagValue{Key: h.Schema.Tags[c], Value: d.vals[id]})
		}
	}
	for c, col := range h.fields {
		row := i
		if fieldRow != nil {
			row = fieldRow(c, i)
		}
		if !col.isValid(row) {
			continue
		}
		fv := FieldValue{Key: h.Schema.Fields[c].Name, Type: col.typ}
		if col.typ == FieldString {
			fv.Str = string(col.strAt(row))
		} else {
			fv.Num = col.num[row]
		}
		p.Fields = append(p.Fields, fv)
	}
	sortTags(p.Tags)
}

func sortTags(t []TagValue) {
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && t[j].Key < t[j-1].Key; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}

// ScanOrdered calls fn with the frozen head's points in segment order —
// window, series, time — with duplicates merged as a flush would write
// them. The Point is reused between calls.
func (h *Head) ScanOrdered(fn func(p *Point) error) error {
	h.Finish()
	var p Point
	for _, run := range h.flushOrder() {
		k := 0 // next override in byOut, sorted by (Out, Col)
		byOut := run.Overrides
		if len(byOut) > 0 {
			byOut = append([]override(nil), byOut...)
			sortOverridesByOut(byOut)
		}
		for out, src := range run.Rows {
			h.fillPoint(&p, int(src), func(c, row int) int {
				if k < len(byOut) && int(byOut[k].Out) == out && int(byOut[k].Col) == c {
					row = int(byOut[k].Src)
					k++
				}
				return row
			})
			if err := fn(&p); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortOverridesByOut(o []override) {
	slices.SortFunc(o, func(a, b override) int {
		if c := cmp.Compare(a.Out, b.Out); c != 0 {
			return c
		}
		return cmp.Compare(a.Col, b.Col)
	})
}
