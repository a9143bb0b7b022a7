package segment

import (
	"sync"

	"github.com/siltdb/silt/columnar"
)

// scanBuffers are the batch and scratch one segment read decodes into,
// kept between reads (scanBufPool): a batch is valid only until the
// reader's callback returns, so once a read ends nothing holds them.
type scanBuffers struct {
	b    columnar.ColumnBatch
	sc   pageScratch
	late lateScratch
}

var scanBufPool = sync.Pool{New: func() any { return &scanBuffers{} }}

// start readies the batch for a new read: no columns, no rows. The
// columns' buffers stay past the slices' length for addTag and addField.
func (s *scanBuffers) start() *columnar.ColumnBatch {
	s.b = columnar.ColumnBatch{Time: s.b.Time[:0], Tags: s.b.Tags[:0], Fields: s.b.Fields[:0]}
	return &s.b
}

// addTag appends a tag column named name to the batch, on the buffers of
// an earlier read's column if there is one.
func (s *scanBuffers) addTag(name string) {
	k := len(s.b.Tags)
	v := columnar.TagVector{Name: name}
	if k < cap(s.b.Tags) {
		old := s.b.Tags[:k+1][k]
		v.Dict, v.IDs = old.Dict[:0], old.IDs[:0]
	}
	s.b.Tags = append(s.b.Tags, v)
}

// addField appends a field column of type typ named name to the batch,
// on the buffers of an earlier read's column if there is one: only the
// slice of typ is kept, as a batch has only that one set.
func (s *scanBuffers) addField(name string, typ columnar.FieldType) {
	k := len(s.b.Fields)
	v := columnar.FieldVector{Name: name, Type: typ}
	if k < cap(s.b.Fields) {
		old := s.b.Fields[:k+1][k]
		v.Null = old.Null[:0]
		switch typ {
		case columnar.FieldFloat:
			v.F = old.F[:0]
		case columnar.FieldInt:
			v.I = old.I[:0]
		case columnar.FieldUint:
			v.U = old.U[:0]
		case columnar.FieldBool:
			v.B = old.B[:0]
		default:
			v.S = old.S[:0]
		}
	}
	s.b.Fields = append(s.b.Fields, v)
}
