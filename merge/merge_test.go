package merge_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/merge"
)

// sliceSource yields points from a slice, reusing one Point as segment
// readers do (so the merge must not keep a point past the next call).
type sliceSource struct {
	pts []columnar.Point
	i   int
	buf columnar.Point
	err error // returned once the points run out
}

func (s *sliceSource) Next() (*columnar.Point, error) {
	if s.i >= len(s.pts) {
		return nil, s.err
	}
	p := &s.pts[s.i]
	s.i++
	s.buf.Time = p.Time
	s.buf.Tags = append(s.buf.Tags[:0], p.Tags...)
	s.buf.Fields = append(s.buf.Fields[:0], p.Fields...)
	return &s.buf, nil
}

func pt(t int64, host string, fields ...any) columnar.Point {
	p := columnar.Point{Time: t}
	if host != "" {
		p.Tags = []columnar.TagValue{{Key: "host", Value: host}}
	}
	for i := 0; i < len(fields); i += 2 {
		p.Fields = append(p.Fields, columnar.FieldValue{Key: fields[i].(string), Type: columnar.FieldFloat, Num: uint64(fields[i+1].(int))})
	}
	return p
}

func srcs(lists ...[]columnar.Point) []merge.Source {
	var out []merge.Source
	for _, l := range lists {
		out = append(out, &sliceSource{pts: l})
	}
	return out
}

// drain returns copies of every merged point and the merge's error.
func drain(m *merge.Merger) ([]columnar.Point, error) {
	var out []columnar.Point
	for p := m.Next(); p != nil; p = m.Next() {
		out = append(out, columnar.Point{Time: p.Time, Tags: slices.Clone(p.Tags), Fields: slices.Clone(p.Fields)})
	}
	return out, m.Err()
}

func TestMerge(t *testing.T) {
	tagOrder := []string{"host"}
	f := func(name string, sources [][]columnar.Point, want []columnar.Point) {
		t.Helper()
		got, err := drain(merge.New(tagOrder, true, srcs(sources...)...))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s:\ngot  %v\nwant %v", name, got, want)
		}
	}
	f("no sources", nil, nil)
	f("empty sources", [][]columnar.Point{nil, {}, nil}, nil)
	f("one source", [][]columnar.Point{{pt(1, "a", "x", 1), pt(2, "a", "x", 2)}},
		[]columnar.Point{pt(1, "a", "x", 1), pt(2, "a", "x", 2)})
	f("empty among others", [][]columnar.Point{nil, {pt(1, "a", "x", 1)}, {}, {pt(2, "a", "x", 2)}, nil},
		[]columnar.Point{pt(1, "a", "x", 1), pt(2, "a", "x", 2)})
	f("interleaved by time", [][]columnar.Point{
		{pt(1, "a", "x", 1), pt(3, "a", "x", 3)},
		{pt(2, "a", "x", 2), pt(4, "a", "x", 4)}},
		[]columnar.Point{pt(1, "a", "x", 1), pt(2, "a", "x", 2), pt(3, "a", "x", 3), pt(4, "a", "x", 4)})
	f("series before time", [][]columnar.Point{
		{pt(5, "a", "x", 1), pt(1, "b", "x", 2)},
		{pt(9, "a", "x", 3)}},
		[]columnar.Point{pt(5, "a", "x", 1), pt(9, "a", "x", 3), pt(1, "b", "x", 2)})
	f("absent tag first", [][]columnar.Point{
		{pt(5, "a", "x", 1)},
		{pt(9, "", "x", 2)}},
		[]columnar.Point{pt(9, "", "x", 2), pt(5, "a", "x", 1)})
	day := int64(24 * time.Hour)
	f("window before series", [][]columnar.Point{
		{pt(1, "b", "x", 1), pt(day+1, "a", "x", 2)},
		{pt(2, "c", "x", 3)}},
		[]columnar.Point{pt(1, "b", "x", 1), pt(2, "c", "x", 3), pt(day+1, "a", "x", 2)})
	f("newest source wins", [][]columnar.Point{
		{pt(1, "a", "x", 1)},
		{pt(1, "a", "x", 2)},
		{pt(1, "a", "x", 3)}},
		[]columnar.Point{pt(1, "a", "x", 3)})
	f("newest wins whatever the order of tied sources in the heap", [][]columnar.Point{
		{pt(0, "a", "x", 0), pt(1, "a", "x", 1)},
		{pt(1, "a", "x", 2)},
		{pt(1, "a", "x", 3)},
		{pt(0, "a", "y", 9), pt(1, "a", "x", 4)}},
		[]columnar.Point{pt(0, "a", "x", 0, "y", 9), pt(1, "a", "x", 4)})
	f("fields merge, each from its newest source", [][]columnar.Point{
		{pt(1, "a", "x", 1, "y", 1)},
		{pt(1, "a", "y", 2, "z", 2)},
		{pt(1, "a", "x", 3)}},
		[]columnar.Point{pt(1, "a", "x", 3, "y", 2, "z", 2)})
	f("ties and singles mixed", [][]columnar.Point{
		{pt(1, "a", "x", 1), pt(2, "a", "x", 1), pt(3, "b", "x", 1)},
		{pt(2, "a", "x", 2), pt(3, "b", "y", 2), pt(4, "b", "x", 2)}},
		[]columnar.Point{pt(1, "a", "x", 1), pt(2, "a", "x", 2), pt(3, "b", "x", 1, "y", 2), pt(4, "b", "x", 2)})
}

func TestMergeErrors(t *testing.T) {
	tagOrder := []string{"host"}
	boom := errors.New("boom")
	s := srcs([]columnar.Point{pt(1, "a", "x", 1)}, []columnar.Point{pt(2, "a", "x", 2), pt(3, "a", "x", 3)})
	s[1].(*sliceSource).err = boom
	got, err := drain(merge.New(tagOrder, false, s...))
	var se *merge.SourceError
	if !errors.Is(err, boom) || !errors.As(err, &se) || se.Source != 1 {
		t.Fatalf("err = %v, want boom from source 1", err)
	}
	if len(got) != 3 {
		t.Fatalf("got %v before the error, want the three points before it", got)
	}

	unsorted := []columnar.Point{pt(2, "a", "x", 1), pt(1, "a", "x", 1)}
	if _, err := drain(merge.New(tagOrder, true, srcs(unsorted, nil)...)); !errors.Is(err, merge.ErrOutOfOrder) {
		t.Fatalf("checked merge of an unsorted source: err = %v, want ErrOutOfOrder", err)
	}
	twice := []columnar.Point{pt(1, "a", "x", 1), pt(1, "a", "x", 2)}
	if _, err := drain(merge.New(tagOrder, true, srcs(twice)...)); !errors.Is(err, merge.ErrOutOfOrder) {
		t.Fatalf("checked merge of a source holding a point twice: err = %v, want ErrOutOfOrder", err)
	}
	got, err = drain(merge.New(tagOrder, false, srcs(twice)...))
	if err != nil || len(got) != 2 {
		t.Fatalf("unchecked merge passes disorder on: got %v, %v", got, err)
	}
}

// TestMergeModel merges random sorted sources with many duplicates and
// checks the result against a map of the last write of each field.
func TestMergeModel(t *testing.T) {
	tagOrder := []string{"region", "host"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		type id struct {
			series string
			t      int64
		}
		want := map[id]map[string]uint64{}
		tagsOf := map[string][]columnar.TagValue{}
		var sources [][]columnar.Point
		for s := range rng.IntN(6) {
			var pts []columnar.Point
			for range rng.IntN(40) {
				p := columnar.Point{Time: int64(rng.IntN(20)) * int64(5*time.Hour)}
				if r := rng.IntN(3); r > 0 {
					p.Tags = append(p.Tags, columnar.TagValue{Key: "host", Value: fmt.Sprint("h", rng.IntN(3))})
				}
				if r := rng.IntN(3); r > 0 {
					p.Tags = append(p.Tags, columnar.TagValue{Key: "region", Value: fmt.Sprint("r", r)})
				}
				for _, k := range []string{"a", "b", "c"} {
					if rng.IntN(2) == 0 {
						p.Fields = append(p.Fields, columnar.FieldValue{Key: k, Num: uint64(round*1000 + s)})
					}
				}
				pts = append(pts, p)
			}
			slices.SortStableFunc(pts, func(a, b columnar.Point) int { return merge.Compare(tagOrder, &a, &b) })
			// A source holds a point once: keep the last of equal ones.
			var kept []columnar.Point
			for _, p := range pts {
				if n := len(kept); n > 0 && merge.Compare(tagOrder, &kept[n-1], &p) == 0 {
					kept[n-1] = p
				} else {
					kept = append(kept, p)
				}
			}
			pts = kept
			for _, p := range pts {
				k := id{fmt.Sprint(p.Tags), p.Time}
				tagsOf[k.series] = p.Tags
				if want[k] == nil {
					want[k] = map[string]uint64{}
				}
				for _, f := range p.Fields {
					want[k][f.Key] = f.Num
				}
			}
			sources = append(sources, pts)
		}
		got, err := drain(merge.New(tagOrder, true, srcs(sources...)...))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d points, want %d", round, len(got), len(want))
		}
		for i, p := range got {
			if i > 0 && merge.Compare(tagOrder, &got[i-1], &p) >= 0 {
				t.Fatalf("round %d: %v then %v: out of order", round, got[i-1], p)
			}
			fields := map[string]uint64{}
			for _, f := range p.Fields {
				fields[f.Key] = f.Num
			}
			if w := want[id{fmt.Sprint(p.Tags), p.Time}]; fmt.Sprint(w) != fmt.Sprint(fields) {
				t.Fatalf("round %d: %v: fields %v, want %v", round, p, fields, w)
			}
		}
	}
}
