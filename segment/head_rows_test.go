package segment

import (
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
)

func TestAppendRowsRoundTrips(t *testing.T) {
	s := columnar.NewTableSchema()
	var in columnar.Batch
	in.StartRow([]byte("m"), 1)
	in.AddTag([]byte("host"), []byte("a"))
	in.AddFloat([]byte("v"), 1.5)
	in.EndRow(10)
	in.StartRow([]byte("m"), 2)
	in.AddTag([]byte("dc"), []byte("x"))
	in.AddString([]byte("s"), []byte("hi"))
	in.AddNum([]byte("n"), columnar.FieldInt, 7)
	in.EndRow(5)
	in.StartRow([]byte("m"), 3)
	in.AddTag([]byte("host"), []byte("a"))
	in.AddNum([]byte("b"), columnar.FieldBool, 1)
	in.EndRow(10)
	h := NewHead(s)
	for i := range in.Rows {
		if err := s.Admit(&in, &in.Rows[i]); err != nil {
			t.Fatal(err)
		}
		h.Append(&in, &in.Rows[i], false)
	}
	h.Finish()
	var out columnar.Batch
	h.AppendRows(&out, "m")
	render := func(b *columnar.Batch) []map[string]any {
		var rows []map[string]any
		for _, r := range b.Rows {
			m := map[string]any{"table": b.Str(r.Table), "time": r.Time}
			for _, t := range b.RowTags(&r) {
				m["t:"+b.Str(t.Key)] = b.Str(t.Value)
			}
			for _, f := range b.RowFields(&r) {
				if f.Type == columnar.FieldString {
					m["f:"+b.Str(f.Key)] = b.Str(f.Str)
				} else {
					m["f:"+b.Str(f.Key)] = [2]uint64{uint64(f.Type), f.Num}
				}
			}
			rows = append(rows, m)
		}
		return rows
	}
	if got, want := render(&out), render(&in); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}
