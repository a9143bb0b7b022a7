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

// Stamped rows keep each point's write stamp through the stream (and the
// stamp column does not become a field); unstamped rows have none.
func TestRowsStampsRoundTrip(t *testing.T) {
	fields := []columnar.FieldSchema{{Name: "v", Type: columnar.FieldFloat}}
	want := map[string]int64{}
	var buf bytes.Buffer
	rw := NewStampedRowWriter(&buf, []string{"host"}, fields, true)
	for k := range 20_000 { // more than one Arrow batch
		p := columnar.Point{Time: int64(k), Tags: []columnar.TagValue{{Key: "host", Value: fmt.Sprint("h", k%3)}},
			Fields: []columnar.FieldValue{{Key: "v", Type: columnar.FieldFloat, Num: math.Float64bits(1)}}}
		st := int64(1e18) + int64(k%17)*1000 + int64(k/100) // runs of one stamp are short: rows in series order
		want[pointText(&p)] = st
		if err := rw.AddStamped(&p, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHead(&buf, "cpu", columnar.NewTableSchema())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Schema.FieldCol(kindStamp); ok {
		t.Fatal("the stamp column became a field")
	}
	n := 0
	err = h.ScanOrderedRangeStamped(math.MinInt64, math.MaxInt64, -1, func(p *columnar.Point, st int64) error {
		n++
		if w, ok := want[pointText(p)]; !ok || w != st {
			return fmt.Errorf("point %s: stamp %d, written with %d (%v)", pointText(p), st, w, ok)
		}
		return nil
	})
	if err != nil || n != len(want) {
		t.Fatalf("scanned %d points (%v), want %d", n, err, len(want))
	}

	buf.Reset()
	rw = NewRowWriter(&buf, []string{"host"}, fields)
	p := columnar.Point{Time: 1, Tags: []columnar.TagValue{{Key: "host", Value: "a"}},
		Fields: []columnar.FieldValue{{Key: "v", Type: columnar.FieldFloat, Num: math.Float64bits(1)}}}
	if err := rw.Add(&p); err != nil {
		t.Fatal(err)
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	if h, err = ReadHead(&buf, "cpu", columnar.NewTableSchema()); err != nil {
		t.Fatal(err)
	}
	err = h.ScanOrderedRangeStamped(math.MinInt64, math.MaxInt64, -1, func(p *columnar.Point, st int64) error {
		if st != -1 {
			return fmt.Errorf("an unstamped row has stamp %d, want the fallback", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
