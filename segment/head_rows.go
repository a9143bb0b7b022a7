package segment

import (
	"github.com/siltdb/silt/columnar"
)

// AppendRows appends every row of the head to b as a row of table, in
// arrival order, with its tags and the fields it has. It reads the head's
// columns: call it on a finished head (or under the lock of an active one).
// It serves the rare paths that need a head back as rows (keeping a head
// that cannot be flushed), not scans.
func (h *Head) AppendRows(b *columnar.Batch, table string) {
	s := h.Schema
	for i, t := range h.times {
		b.StartRow([]byte(table), 0)
		for col, id := range h.seriesTags[h.series[i]] {
			if id >= 0 {
				b.AddTag([]byte(s.Tags[col]), []byte(h.dicts[col].vals[id]))
			}
		}
		for col, c := range h.fields {
			if !c.isValid(i) {
				continue
			}
			key := []byte(s.Fields[col].Name)
			if c.typ == columnar.FieldString {
				b.AddString(key, c.strAt(i))
			} else {
				b.AddNum(key, c.typ, c.numAt(i))
			}
		}
		b.EndRow(t)
	}
}
