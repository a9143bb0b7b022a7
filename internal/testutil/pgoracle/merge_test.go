package pgoracle

import (
	"reflect"
	"testing"
)

func TestMergeLastWriteWins(t *testing.T) {
	a := map[string]string{"host": "a", "region": "eu"}
	aAgain := map[string]string{"region": "eu", "host": "a", "empty": ""} // same series
	b := map[string]string{"host": "b", "region": "eu"}
	in := []Point{
		{Time: 10, Tags: a, Fields: map[string]any{"x": 1.0, "y": int64(1), "s": "first"}},
		{Time: 10, Tags: b, Fields: map[string]any{"x": 2.0}},                      // other series
		{Time: 20, Tags: a, Fields: map[string]any{"x": 3.0}},                      // other time
		{Time: 10, Tags: aAgain, Fields: map[string]any{"y": int64(2), "z": true}}, // partial rewrite
		{Time: 10, Tags: a, Fields: map[string]any{"s": "last"}},
		{Time: 20, Tags: a, Fields: map[string]any{"x": 4.0}},
	}
	want := []Point{
		{Time: 10, Tags: a, Fields: map[string]any{"x": 1.0, "y": int64(2), "s": "last", "z": true}},
		{Time: 10, Tags: b, Fields: map[string]any{"x": 2.0}},
		{Time: 20, Tags: a, Fields: map[string]any{"x": 4.0}},
	}
	snapshot := clonePoints(in)
	got := MergeLastWriteWins(in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged:\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(in, snapshot) {
		t.Errorf("input modified:\n got %v\nwant %v", in, snapshot)
	}
}

func TestMergeLastWriteWinsNoDuplicates(t *testing.T) {
	in := []Point{
		{Time: 2, Tags: map[string]string{"h": "a"}, Fields: map[string]any{"x": 1.0}},
		{Time: 1, Tags: map[string]string{"h": "a"}, Fields: map[string]any{"x": 2.0}},
		{Time: 1, Tags: map[string]string{"h": "a,b"}, Fields: map[string]any{"x": 3.0}},
		{Time: 1, Tags: map[string]string{"h": "a", "i": "b"}, Fields: map[string]any{"x": 4.0}},
		{Time: 1, Tags: nil, Fields: map[string]any{"x": 5.0}},
		{Time: 1, Tags: map[string]string{"h": ""}, Fields: map[string]any{"y": 6.0}}, // = no tags
	}
	got := MergeLastWriteWins(in)
	if len(got) != 5 {
		t.Fatalf("got %d points, want 5: %v", len(got), got)
	}
	if !reflect.DeepEqual(got[:4], in[:4]) {
		t.Errorf("distinct points changed or reordered: %v", got)
	}
	if want := map[string]any{"x": 5.0, "y": 6.0}; !reflect.DeepEqual(got[4].Fields, want) {
		t.Errorf("untagged point: got %v, want %v", got[4].Fields, want)
	}
	if len(MergeLastWriteWins(nil)) != 0 {
		t.Error("MergeLastWriteWins(nil) is not empty")
	}
}

// TestMergeLastWriteWinsDataset checks the merge of a generated dataset
// against a naive per-field replay.
func TestMergeLastWriteWinsDataset(t *testing.T) {
	pts := CPUDataset(5, testStart, testInterval, 200, 7, DatasetOptions{OutOfOrder: 0.3, Duplicates: 0.4})
	got := MergeLastWriteWins(pts)
	if len(got) != 5*200 {
		t.Fatalf("merged %d points into %d, want %d", len(pts), len(got), 5*200)
	}
	type key struct {
		host string
		time int64
	}
	want := map[key]map[string]any{}
	for _, p := range pts {
		k := key{p.Tags["hostname"], p.Time}
		if want[k] == nil {
			want[k] = map[string]any{}
		}
		for f, v := range p.Fields {
			want[k][f] = v
		}
	}
	for _, p := range got {
		if w := want[key{p.Tags["hostname"], p.Time}]; !reflect.DeepEqual(p.Fields, w) {
			t.Fatalf("%s at %d: got %v, want %v", p.Tags["hostname"], p.Time, p.Fields, w)
		}
	}
}

func clonePoints(ps []Point) []Point {
	out := make([]Point, len(ps))
	for i, p := range ps {
		out[i] = Point{Time: p.Time, Tags: map[string]string{}, Fields: map[string]any{}}
		for k, v := range p.Tags {
			out[i].Tags[k] = v
		}
		for k, v := range p.Fields {
			out[i].Fields[k] = v
		}
	}
	return out
}
