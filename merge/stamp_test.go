package merge_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/merge"
)

// stampedSource is a sliceSource whose points carry write stamps.
type stampedSource struct {
	sliceSource
	stamps []int64
}

func (s *stampedSource) Stamp() int64 { return s.stamps[s.i-1] }

// Writers (sources) hold copies of points with stamps drawn so that
// their ranges interleave; with OrderByStamp each point's fields are
// those of a model that applies its versions oldest stamp first (ties:
// source order), and the merged stamp is the greatest. Without it the
// merge answers source order, which the model's answer differs from
// (the test could fail).
func TestMergeByStamp(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	const writers, points = 4, 400
	type version struct {
		src    int
		stamp  int64
		fields []columnar.FieldValue
	}
	versions := map[int][]version{} // point (time) → its copies
	lists := make([][]columnar.Point, writers)
	stamps := make([][]int64, writers)
	for tm := range points {
		for w := range writers {
			if rng.IntN(2) == 0 {
				continue
			}
			var fs []columnar.FieldValue
			for _, k := range []string{"a", "b"} {
				if rng.IntN(4) != 0 {
					fs = append(fs, columnar.FieldValue{Key: k, Type: columnar.FieldInt, Num: uint64(rng.IntN(1000))})
				}
			}
			if len(fs) == 0 {
				fs = append(fs, columnar.FieldValue{Key: "a", Type: columnar.FieldInt, Num: 7})
			}
			st := int64(1 + rng.IntN(50)) // small: ties happen
			lists[w] = append(lists[w], columnar.Point{Time: int64(tm), Tags: []columnar.TagValue{{Key: "host", Value: "h"}}, Fields: fs})
			stamps[w] = append(stamps[w], st)
			versions[tm] = append(versions[tm], version{src: w, stamp: st, fields: fs})
		}
	}
	model := func(tm int) (map[string]uint64, int64) {
		vs := slices.Clone(versions[tm])
		slices.SortStableFunc(vs, func(a, b version) int { return cmp.Or(cmp.Compare(a.stamp, b.stamp), cmp.Compare(a.src, b.src)) })
		out := map[string]uint64{}
		var top int64
		for _, v := range vs {
			for _, f := range v.fields {
				out[f.Key] = f.Num
			}
			top = max(top, v.stamp)
		}
		return out, top
	}
	run := func(byStamp bool) (diffs int) {
		var sources []merge.Source
		for w := range writers {
			sources = append(sources, &stampedSource{sliceSource: sliceSource{pts: lists[w]}, stamps: stamps[w]})
		}
		m := merge.New([]string{"host"}, true, sources...)
		if byStamp {
			m.OrderByStamp()
		}
		n := 0
		for p := m.Next(); p != nil; p = m.Next() {
			n++
			want, top := model(int(p.Time))
			got := map[string]uint64{}
			for _, f := range p.Fields {
				got[f.Key] = f.Num
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				diffs++
				if byStamp {
					t.Fatalf("point %d: merged %v, model %v (versions %v)", p.Time, got, want, versions[int(p.Time)])
				}
			}
			if m.Stamp() != top {
				t.Fatalf("point %d: merged stamp %d, model %d", p.Time, m.Stamp(), top)
			}
		}
		if err := m.Err(); err != nil {
			t.Fatal(err)
		}
		if n != len(versions) {
			t.Fatalf("%d points merged, %d written", n, len(versions))
		}
		return diffs
	}
	run(true)
	if run(false) == 0 {
		t.Fatal("source order answers as the stamps do: the case proves nothing")
	}
}
