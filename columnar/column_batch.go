package columnar

import (
	"iter"
	"math"
	"slices"
	"strings"
)

// ColumnBatch is a run of a table's rows column by column: what a query
// scan hands the executor instead of one Point per row. Its slices belong
// to the producer and are valid only until the callback that received the
// batch returns; strings may alias decode buffers (clone to keep them).
type ColumnBatch struct {
	Len  int     // rows in every column
	Time []int64 // per row
	// Sel, when not nil, lists the rows (ascending) the consumer should
	// take; the others were ruled out by an index and may hold anything.
	Sel    []int32
	Tags   []TagVector
	Fields []FieldVector
	// Rollup, when not 0, says the rows are rollup rows (rollup.go) of
	// windows this wide: Time is a window's start, Fields its partials.
	Rollup int64
}

// TagVector is one tag column, dictionary-encoded per batch.
type TagVector struct {
	Name string
	Dict []string
	IDs  []int32 // per row: index into Dict, -1 where the row lacks the tag
	// Stable, when set by the producer, says Dict's values are distinct
	// and are strings of their own that nothing ever rewrites (a head's
	// dictionary: each value copied once when first written), never
	// views of a decode buffer the next batch reuses. A consumer may then
	// keep a value without copying it, and, starting from no values,
	// need not look one up to know it is new. Producers that build or
	// reuse a dictionary leave it false; whoever replaces Dict must too.
	Stable bool
}

// FieldVector is one field column. Only the slice of Type is set; Null is
// nil when every row has a value.
type FieldVector struct {
	Name string
	Type FieldType
	Null []bool // per row: true where the row lacks the field
	F    []float64
	I    []int64
	U    []uint64
	B    []bool
	S    []string
}

// IsNull reports whether row i lacks the field.
func (v *FieldVector) IsNull(i int) bool { return v.Null != nil && v.Null[i] }

// BatchBuilder collects Points into ColumnBatches of a fixed set of
// columns: the bridge from row sources (heads, merged overlapping sources)
// to the columnar scan. Tag dictionaries start afresh in every batch, so a
// consumer's per-batch work stays proportional to the batch.
type BatchBuilder struct {
	b       ColumnBatch
	max     int
	tagAt   map[string]int // name → index in b.Tags
	fieldAt map[string]int
	dicts   []map[string]int32
}

// NewBatchBuilder returns a builder of batches of up to max rows holding
// the given tags and fields (their types as in the table's schema).
func NewBatchBuilder(tags []string, fields []FieldSchema, max int) *BatchBuilder {
	bb := &BatchBuilder{max: max, tagAt: map[string]int{}, fieldAt: map[string]int{}}
	for _, t := range tags {
		if _, dup := bb.tagAt[t]; dup {
			continue
		}
		bb.tagAt[t] = len(bb.b.Tags)
		bb.b.Tags = append(bb.b.Tags, TagVector{Name: t})
		bb.dicts = append(bb.dicts, map[string]int32{})
	}
	for _, f := range fields {
		if _, dup := bb.fieldAt[f.Name]; dup {
			continue
		}
		bb.fieldAt[f.Name] = len(bb.b.Fields)
		bb.b.Fields = append(bb.b.Fields, FieldVector{Name: f.Name, Type: f.Type})
	}
	return bb
}

// Add appends p; when the batch is full it is passed to emit and reset.
func (bb *BatchBuilder) Add(p *Point, emit func(*ColumnBatch) error) error {
	b := &bb.b
	row := b.Len
	b.Len++
	b.Time = append(b.Time, p.Time)
	for i := range b.Tags {
		b.Tags[i].IDs = append(b.Tags[i].IDs, -1)
	}
	for _, tv := range p.Tags {
		i, ok := bb.tagAt[tv.Key]
		if !ok {
			continue
		}
		tc := &b.Tags[i]
		id, ok := bb.dicts[i][tv.Value]
		if !ok {
			id = int32(len(tc.Dict))
			tc.Dict = append(tc.Dict, tv.Value) // strings are immutable: a reused Point only reslices
			bb.dicts[i][tv.Value] = id
		}
		tc.IDs[row] = id
	}
	for i := range b.Fields {
		fc := &b.Fields[i]
		fc.Null = append(fc.Null, true)
		switch fc.Type {
		case FieldFloat:
			fc.F = append(fc.F, 0)
		case FieldInt:
			fc.I = append(fc.I, 0)
		case FieldUint:
			fc.U = append(fc.U, 0)
		case FieldBool:
			fc.B = append(fc.B, false)
		case FieldString:
			fc.S = append(fc.S, "")
		}
	}
	for _, fv := range p.Fields {
		i, ok := bb.fieldAt[fv.Key]
		if !ok || b.Fields[i].Type != fv.Type {
			continue
		}
		fc := &b.Fields[i]
		fc.Null[row] = false
		switch fc.Type {
		case FieldFloat:
			fc.F[row] = math.Float64frombits(fv.Num)
		case FieldInt:
			fc.I[row] = int64(fv.Num)
		case FieldUint:
			fc.U[row] = fv.Num
		case FieldBool:
			fc.B[row] = fv.Num != 0
		case FieldString:
			fc.S[row] = fv.Str
		}
	}
	if b.Len >= bb.max {
		return bb.Flush(emit)
	}
	return nil
}

// Flush passes the rows added since the last batch, if any, to emit.
func (bb *BatchBuilder) Flush(emit func(*ColumnBatch) error) error {
	b := &bb.b
	if b.Len == 0 {
		return nil
	}
	// Fields every row has need no NULL vector: consumers take a faster
	// path without one.
	nulls := make([][]bool, len(b.Fields))
	for i := range b.Fields {
		fc := &b.Fields[i]
		nulls[i] = fc.Null
		if !slices.Contains(fc.Null, true) {
			fc.Null = nil
		}
	}
	err := emit(b)
	b.Len, b.Time, b.Sel = 0, b.Time[:0], nil
	for i := range b.Tags {
		b.Tags[i].Dict, b.Tags[i].IDs = b.Tags[i].Dict[:0], b.Tags[i].IDs[:0]
		clear(bb.dicts[i])
	}
	for i := range b.Fields {
		fc := &b.Fields[i]
		fc.Null = nulls[i][:0]
		fc.F, fc.I, fc.U, fc.B, fc.S = fc.F[:0], fc.I[:0], fc.U[:0], fc.B[:0], fc.S[:0]
	}
	return err
}

// RowPoint sets p to row i of the batch: tags through dicts (one per tag
// vector, b's own or copies that outlive the batch), field strings cloned.
// Rows yields the rows a consumer should take: those of Sel, or all Len.
func (b *ColumnBatch) Rows() iter.Seq[int] {
	return func(yield func(int) bool) {
		if b.Sel != nil {
			for _, i := range b.Sel {
				if !yield(int(i)) {
					return
				}
			}
			return
		}
		for i := range b.Len {
			if !yield(i) {
				return
			}
		}
	}
}

func (b *ColumnBatch) RowPoint(i int, p *Point, dicts [][]string) {
	p.Time = b.Time[i]
	p.Tags, p.Fields = p.Tags[:0], p.Fields[:0]
	for j, tv := range b.Tags {
		if id := tv.IDs[i]; id >= 0 {
			p.Tags = append(p.Tags, TagValue{Key: tv.Name, Value: dicts[j][id]})
		}
	}
	for j := range b.Fields {
		fc := &b.Fields[j]
		if fc.IsNull(i) {
			continue
		}
		fv := FieldValue{Key: fc.Name, Type: fc.Type}
		switch fc.Type {
		case FieldFloat:
			fv.Num = math.Float64bits(fc.F[i])
		case FieldInt:
			fv.Num = uint64(fc.I[i])
		case FieldUint:
			fv.Num = fc.U[i]
		case FieldBool:
			if fc.B[i] {
				fv.Num = 1
			}
		case FieldString:
			fv.Str = strings.Clone(fc.S[i])
		}
		p.Fields = append(p.Fields, fv)
	}
	SortTags(p.Tags)
}
