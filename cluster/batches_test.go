package cluster

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// Batches of differing columns (a rollup batch, a raw one with a
// selection, nulls in tags and fields) go through frames unchanged, and
// an answer cut before its end frame is an error.
func TestBatchFramesRoundTrip(t *testing.T) {
	rollup := columnar.ColumnBatch{Len: 3, Time: []int64{0, 60e9, 120e9}, Rollup: 60e9,
		Tags: []columnar.TagVector{{Name: "host", Dict: []string{"a", "b"}, IDs: []int32{0, 1, -1}}},
		Fields: []columnar.FieldVector{
			{Name: "\x00rows", Type: columnar.FieldInt, I: []int64{4, 5, 6}},
			{Name: "usage\x00sum", Type: columnar.FieldFloat, F: []float64{1.5, 0, 3}, Null: []bool{false, true, false}},
		}}
	raw := columnar.ColumnBatch{Len: 4, Time: []int64{1, 2, 3, 4}, Sel: []int32{1, 3},
		Tags: []columnar.TagVector{{Name: "host", Dict: []string{"x", "y"}, IDs: []int32{0, 1, 0, 1}}},
		Fields: []columnar.FieldVector{
			{Name: "n", Type: columnar.FieldUint, U: []uint64{10, 20, 30, 40}},
			{Name: "ok", Type: columnar.FieldBool, B: []bool{true, false, true, true}},
			{Name: "s", Type: columnar.FieldString, S: []string{"p", "q", "r", "t"}},
		}}
	var buf bytes.Buffer
	bw := NewBatchWriter(&buf)
	for _, b := range []*columnar.ColumnBatch{&rollup, &raw} {
		if err := bw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if bw.Bytes != int64(buf.Len()) {
		t.Fatalf("writer counted %d bytes, wrote %d", bw.Bytes, buf.Len())
	}
	wantRaw := columnar.ColumnBatch{Len: 2, Time: []int64{2, 4},
		Tags: []columnar.TagVector{{Name: "host", Dict: []string{"y"}, IDs: []int32{0, 0}}},
		Fields: []columnar.FieldVector{
			{Name: "n", Type: columnar.FieldUint, U: []uint64{20, 40}},
			{Name: "ok", Type: columnar.FieldBool, B: []bool{false, true}},
			{Name: "s", Type: columnar.FieldString, S: []string{"q", "t"}},
		}}
	want := []columnar.ColumnBatch{rollup, wantRaw}
	full := buf.Bytes()
	br := NewBatchReader(bytes.NewReader(full))
	var got []columnar.ColumnBatch
	err := br.Each(func(b *columnar.ColumnBatch) error {
		got = append(got, clone(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if br.Bytes != int64(len(full)) {
		t.Fatalf("reader counted %d bytes of %d", br.Bytes, len(full))
	}
	if len(got) != 2 {
		t.Fatalf("%d batches, want 2", len(got))
	}
	for i := range want {
		if !sameBatch(got[i], want[i]) {
			t.Errorf("batch %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// Cut anywhere before the end frame: an error, never a clean end.
	for _, cut := range []int{0, 5, len(full) / 2, len(full) - 8, len(full) - 1} {
		err := NewBatchReader(bytes.NewReader(full[:cut])).Each(func(*columnar.ColumnBatch) error { return nil })
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("answer cut at %d of %d bytes: %v, want unexpected EOF", cut, len(full), err)
		}
	}
}

func clone(b *columnar.ColumnBatch) columnar.ColumnBatch {
	c := columnar.ColumnBatch{Len: b.Len, Time: append([]int64(nil), b.Time...), Rollup: b.Rollup}
	for _, tv := range b.Tags {
		c.Tags = append(c.Tags, columnar.TagVector{Name: tv.Name, Dict: append([]string(nil), tv.Dict...), IDs: append([]int32(nil), tv.IDs...)})
	}
	for _, fv := range b.Fields {
		c.Fields = append(c.Fields, columnar.FieldVector{Name: fv.Name, Type: fv.Type, Null: append([]bool(nil), fv.Null...),
			F: append([]float64(nil), fv.F...), I: append([]int64(nil), fv.I...), U: append([]uint64(nil), fv.U...),
			B: append([]bool(nil), fv.B...), S: append([]string(nil), fv.S...)})
	}
	return c
}

// sameBatch compares rows' values: tags by value, fields by value where
// not null.
func sameBatch(a, b columnar.ColumnBatch) bool {
	if a.Len != b.Len || a.Rollup != b.Rollup || !reflect.DeepEqual(a.Time, b.Time) || len(a.Tags) != len(b.Tags) || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Tags {
		x, y := a.Tags[i], b.Tags[i]
		if x.Name != y.Name {
			return false
		}
		for r := range a.Len {
			if (x.IDs[r] < 0) != (y.IDs[r] < 0) || (x.IDs[r] >= 0 && x.Dict[x.IDs[r]] != y.Dict[y.IDs[r]]) {
				return false
			}
		}
	}
	for i := range a.Fields {
		x, y := a.Fields[i], b.Fields[i]
		if x.Name != y.Name || x.Type != y.Type {
			return false
		}
		for r := range a.Len {
			if x.IsNull(r) != y.IsNull(r) {
				return false
			}
			if x.IsNull(r) {
				continue
			}
			var same bool
			switch x.Type {
			case columnar.FieldFloat:
				same = x.F[r] == y.F[r]
			case columnar.FieldInt:
				same = x.I[r] == y.I[r]
			case columnar.FieldUint:
				same = x.U[r] == y.U[r]
			case columnar.FieldBool:
				same = x.B[r] == y.B[r]
			default:
				same = x.S[r] == y.S[r]
			}
			if !same {
				return false
			}
		}
	}
	return true
}
