package cluster

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// Points of every field type, with absent tags and fields, go through the
// Arrow stream and come back from the head they build unchanged.
func TestRowsRoundTrip(t *testing.T) {
	fields := []columnar.FieldSchema{{Name: "f", Type: columnar.FieldFloat}, {Name: "i", Type: columnar.FieldInt},
		{Name: "u", Type: columnar.FieldUint}, {Name: "b", Type: columnar.FieldBool}, {Name: "s", Type: columnar.FieldString}}
	tags := []string{"dc", "host"}
	var in []columnar.Point
	for k := range 20_000 { // more than one Arrow batch
		p := columnar.Point{Time: int64(k) * 1000}
		if k%5 != 0 {
			p.Tags = append(p.Tags, columnar.TagValue{Key: "dc", Value: fmt.Sprintf("dc%d", k%3)})
		}
		p.Tags = append(p.Tags, columnar.TagValue{Key: "host", Value: fmt.Sprintf("h%d", k%7)})
		p.Fields = append(p.Fields, columnar.FieldValue{Key: "f", Type: columnar.FieldFloat, Num: math.Float64bits(float64(k) / 3)})
		if k%2 == 0 {
			p.Fields = append(p.Fields, columnar.FieldValue{Key: "i", Type: columnar.FieldInt, Num: uint64(int64(-k))})
		}
		if k%3 == 0 {
			p.Fields = append(p.Fields, columnar.FieldValue{Key: "u", Type: columnar.FieldUint, Num: math.MaxUint64 - uint64(k)})
		}
		p.Fields = append(p.Fields, columnar.FieldValue{Key: "b", Type: columnar.FieldBool, Num: uint64(k % 2)})
		if k%4 == 1 {
			p.Fields = append(p.Fields, columnar.FieldValue{Key: "s", Type: columnar.FieldString, Str: fmt.Sprintf("v%d", k)})
		}
		in = append(in, p)
	}
	var buf bytes.Buffer
	rw := NewRowWriter(&buf, tags, fields)
	for i := range in {
		if err := rw.Add(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	schema := columnar.NewTableSchema()
	schema.AddTag("host") // the reader's schema may know some columns, in another order
	h, err := ReadHead(&buf, "cpu", schema)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != len(in) {
		t.Fatalf("head has %d rows, want %d", h.Len(), len(in))
	}
	want := map[string]string{}
	for _, p := range in {
		want[pointText(&p)] = ""
	}
	n := 0
	err = h.Scan(func(p *columnar.Point) error {
		n++
		if _, ok := want[pointText(p)]; !ok {
			return fmt.Errorf("point not written: %s", pointText(p))
		}
		return nil
	})
	if err != nil || n != len(in) {
		t.Fatalf("scanned %d points (%v), want %d", n, err, len(in))
	}
	if len(schema.Tags) != 1 {
		t.Fatal("ReadHead changed the caller's schema")
	}
}

// pointText renders a point with its tags and fields sorted by key.
func pointText(p *columnar.Point) string {
	tags := map[string]string{}
	for _, t := range p.Tags {
		tags[t.Key] = t.Value
	}
	fields := map[string]string{}
	for _, f := range p.Fields {
		if f.Type == columnar.FieldString {
			fields[f.Key] = "s:" + f.Str
		} else {
			fields[f.Key] = fmt.Sprintf("%d:%d", f.Type, f.Num)
		}
	}
	return fmt.Sprint(p.Time, tags, fields)
}
