package columnar

// ArrayBytes is what b's arrays hold, by capacity: its columns' values,
// null flags and tag ids, and its dictionaries' string headers (their
// bytes are the segment's or the head's, shared). Queries charge their
// readers' buffers by it.
func (b *ColumnBatch) ArrayBytes() int64 {
	n := int64(cap(b.Time))*8 + int64(cap(b.Sel))*4
	for i := range b.Tags {
		t := &b.Tags[i]
		n += int64(cap(t.IDs))*4 + int64(cap(t.Dict))*16
	}
	for i := range b.Fields {
		f := &b.Fields[i]
		n += int64(cap(f.Null)) + int64(cap(f.B)) +
			8*int64(cap(f.F)+cap(f.I)+cap(f.U)) + 16*int64(cap(f.S))
	}
	return n
}
