package columnar

import (
	"fmt"
	"slices"
)

// FieldSchema is one field column of a table.
type FieldSchema struct {
	Name string    `json:"name"`
	Type FieldType `json:"type"`
}

// TableSchema is the schema of one table: tag and field columns in the order
// they first appeared. Schemas only grow; a field never changes type.
// A TableSchema is not safe for concurrent use; the engine guards it.
type TableSchema struct {
	Tags   []string      `json:"tags"`
	Fields []FieldSchema `json:"fields"`

	tagIdx   map[string]int
	fieldIdx map[string]int

	// snap is Snapshot's copy of the schema as it is now, dropped at
	// every change.
	snap *TableSchema
	// frozen marks a Snapshot: shared by readers without a lock, so a
	// change to it would be a data race; it panics instead.
	frozen bool
}

// NewTableSchema returns an empty schema.
func NewTableSchema() *TableSchema {
	return &TableSchema{tagIdx: map[string]int{}, fieldIdx: map[string]int{}}
}

// Clone returns a deep copy (for the manifest and readers), which the
// caller may change.
func (s *TableSchema) Clone() *TableSchema {
	c := &TableSchema{}
	if len(s.Tags) > 0 { // none stays nil, as in a new schema
		c.Tags = slices.Clone(s.Tags)
	}
	if len(s.Fields) > 0 {
		c.Fields = slices.Clone(s.Fields)
	}
	c.Reindex()
	return c
}

// Snapshot returns a read-only copy of the schema as it is now, the same
// copy until the schema next changes: each query reads its table's schema
// (the catalog it plans over, a head's view), and a copy made per query
// was a tenth of a small query's work. Call it where s may be read (under
// the lock that guards s); the copy may then be read by any number of
// goroutines without one. Adding a column to the copy panics; Clone it to
// change it.
func (s *TableSchema) Snapshot() *TableSchema {
	if s.frozen {
		return s
	}
	if s.snap == nil {
		c := s.Clone()
		// No spare capacity: two readers appending to the shared
		// slices would write the same spare slot.
		c.Tags, c.Fields = slices.Clip(c.Tags), slices.Clip(c.Fields)
		c.frozen = true
		s.snap = c
	}
	return s.snap
}

// changing is called before every change to s: a snapshot must not
// change, and s's own snapshot no longer shows it.
func (s *TableSchema) changing() {
	if s.frozen {
		panic("columnar: a TableSchema snapshot is read-only (Clone it to change it)")
	}
	s.snap = nil
}

// Reindex rebuilds lookup maps after JSON decoding.
func (s *TableSchema) Reindex() {
	s.changing()
	s.tagIdx = make(map[string]int, len(s.Tags))
	s.fieldIdx = make(map[string]int, len(s.Fields))
	for i, t := range s.Tags {
		s.tagIdx[t] = i
	}
	for i, f := range s.Fields {
		s.fieldIdx[f.Name] = i
	}
}

// Tag returns the column index of tag key k.
func (s *TableSchema) Tag(k []byte) (int, bool) {
	i, ok := s.tagIdx[string(k)]
	return i, ok
}

// Field returns the column index of field key k.
func (s *TableSchema) Field(k []byte) (int, bool) {
	i, ok := s.fieldIdx[string(k)]
	return i, ok
}

// AddTag adds tag key k if absent and returns its index.
func (s *TableSchema) AddTag(k string) int {
	if i, ok := s.tagIdx[k]; ok {
		return i
	}
	s.changing()
	s.Tags = append(s.Tags, k)
	s.tagIdx[k] = len(s.Tags) - 1
	return len(s.Tags) - 1
}

// AddField adds field k of type t if absent and returns its index.
func (s *TableSchema) AddField(k string, t FieldType) int {
	if i, ok := s.fieldIdx[k]; ok {
		return i
	}
	s.changing()
	s.Fields = append(s.Fields, FieldSchema{Name: k, Type: t})
	s.fieldIdx[k] = len(s.Fields) - 1
	return len(s.Fields) - 1
}

// Truncate drops the columns added after the schema had nTags tags and
// nFields fields: the undo of Admit for rows that were not written after all.
func (s *TableSchema) Truncate(nTags, nFields int) {
	if nTags == len(s.Tags) && nFields == len(s.Fields) {
		return // nothing was added
	}
	s.changing()
	for _, t := range s.Tags[nTags:] {
		delete(s.tagIdx, t)
	}
	for _, f := range s.Fields[nFields:] {
		delete(s.fieldIdx, f.Name)
	}
	s.Tags, s.Fields = s.Tags[:nTags], s.Fields[:nFields]
}

// Stable codes of schema rejections.
const (
	CodeFieldTypeConflict = "field-type-conflict"
	CodeTagFieldConflict  = "tag-field-conflict"
	CodeReservedKey       = "reserved-key"
)

// RowShape appends the signature of r's shape to dst: table, tag keys, field
// keys and types, in row order. Two rows with equal shapes are admitted or
// rejected alike by a schema that has not changed in between, and a schema
// that admitted a shape keeps admitting it (schemas only grow).
func RowShape(dst []byte, b *Batch, r *Row) []byte {
	dst = append(dst, b.Bytes(r.Table)...)
	dst = append(dst, 0)
	for _, t := range b.RowTags(r) {
		dst = append(dst, b.Bytes(t.Key)...)
		dst = append(dst, 0)
	}
	dst = append(dst, 1)
	for _, f := range b.RowFields(r) {
		dst = append(dst, b.Bytes(f.Key)...)
		dst = append(dst, 0, byte(f.Type))
	}
	return dst
}

// TimeColumn is the name of the time column; no tag or field may use it.
const TimeColumn = "time"

// NewColumns returns how many columns admitting row r of b would add to the
// schema (a key repeated within the row counts each time).
func (s *TableSchema) NewColumns(b *Batch, r *Row) int {
	n := 0
	for _, t := range b.RowTags(r) {
		if _, ok := s.tagIdx[string(b.Bytes(t.Key))]; !ok {
			n++
		}
	}
	for _, f := range b.RowFields(r) {
		if _, ok := s.fieldIdx[string(b.Bytes(f.Key))]; !ok {
			n++
		}
	}
	return n
}

// Admit checks row r of b against the schema and, if it fits, extends the
// schema with the row's new tags and fields. A row that does not fit leaves
// the schema untouched and gets a LineError naming the column.
func (s *TableSchema) Admit(b *Batch, r *Row) *LineError {
	table := b.Bytes(r.Table)
	// Check everything first so a rejected row adds no columns.
	for _, t := range b.RowTags(r) {
		k := b.Bytes(t.Key)
		if string(k) == TimeColumn {
			return &LineError{Line: int(r.Line), Code: CodeReservedKey, Reason: fmt.Sprintf("tag key %q is reserved in table %q", k, table)}
		}
		if _, ok := s.fieldIdx[string(k)]; ok {
			return &LineError{Line: int(r.Line), Code: CodeTagFieldConflict, Reason: fmt.Sprintf("%q is a field in table %q and cannot also be a tag", k, table)}
		}
	}
	fields := b.RowFields(r)
	for i := range fields {
		f := &fields[i]
		k := b.Bytes(f.Key)
		if string(k) == TimeColumn {
			return &LineError{Line: int(r.Line), Code: CodeReservedKey, Reason: fmt.Sprintf("field key %q is reserved in table %q", k, table)}
		}
		if j, ok := s.fieldIdx[string(k)]; ok {
			if have := s.Fields[j].Type; have != f.Type {
				return &LineError{Line: int(r.Line), Code: CodeFieldTypeConflict,
					Reason: fmt.Sprintf("field %q is %s in table %q, this line has %s", k, have, table, f.Type)}
			}
			continue
		}
		if _, ok := s.tagIdx[string(k)]; ok {
			return &LineError{Line: int(r.Line), Code: CodeTagFieldConflict, Reason: fmt.Sprintf("%q is a tag in table %q and cannot also be a field", k, table)}
		}
		for _, t := range b.RowTags(r) {
			if string(b.Bytes(t.Key)) == string(k) {
				return &LineError{Line: int(r.Line), Code: CodeTagFieldConflict, Reason: fmt.Sprintf("%q is both a tag and a field in this line", k)}
			}
		}
		// Two new fields of one name and different types within a row.
		for g := range fields[:i] {
			if string(b.Bytes(fields[g].Key)) == string(k) && fields[g].Type != f.Type {
				return &LineError{Line: int(r.Line), Code: CodeFieldTypeConflict,
					Reason: fmt.Sprintf("field %q appears twice with types %s and %s", k, fields[g].Type, f.Type)}
			}
		}
	}
	for _, t := range b.RowTags(r) {
		if _, ok := s.tagIdx[string(b.Bytes(t.Key))]; !ok {
			s.AddTag(string(b.Bytes(t.Key)))
		}
	}
	for i := range fields {
		if _, ok := s.fieldIdx[string(b.Bytes(fields[i].Key))]; !ok {
			s.AddField(string(b.Bytes(fields[i].Key)), fields[i].Type)
		}
	}
	return nil
}

// TagCol returns the column of tag name, as Tag does for a byte key.
func (s *TableSchema) TagCol(name string) (int, bool) {
	i, ok := s.tagIdx[name]
	return i, ok
}

// FieldCol returns the column of field name, as Field does for a byte key.
func (s *TableSchema) FieldCol(name string) (int, bool) {
	i, ok := s.fieldIdx[name]
	return i, ok
}
