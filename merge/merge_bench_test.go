package merge_test

import (
	"fmt"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/merge"
)

// benchSource replays points from memory without copying, so the benchmark
// measures the merge itself.
type benchSource struct {
	pts []columnar.Point
	i   int
}

func (s *benchSource) Next() (*columnar.Point, error) {
	if s.i >= len(s.pts) {
		return nil, nil
	}
	s.i++
	return &s.pts[s.i-1], nil
}

// BenchmarkMerger merges sources shaped like a compaction's TSBS inputs:
// each holds 100 consecutive 10 s intervals of every one of 1000 hosts, the
// next source the following 100 (so the merge interleaves every series),
// and, with dups, a last source rewrites every tenth interval of the first
// (versions to resolve). Reports merged points/s.
func BenchmarkMerger(b *testing.B) {
	const hosts, intervals, fields = 1000, 100, 10
	tagOrder := []string{"arch", "hostname", "region"}
	mk := func(first int, every int) []columnar.Point {
		var pts []columnar.Point
		for h := range hosts {
			tags := []columnar.TagValue{{Key: "arch", Value: "x64"}, {Key: "hostname", Value: fmt.Sprintf("host_%04d", h)}, {Key: "region", Value: "eu-west-1"}}
			for i := first; i < first+intervals; i += every {
				p := columnar.Point{Time: int64(i) * 10e9, Tags: tags}
				for f := range fields {
					p.Fields = append(p.Fields, columnar.FieldValue{Key: fmt.Sprint("usage_", f), Type: columnar.FieldFloat, Num: uint64(i)})
				}
				pts = append(pts, p)
			}
		}
		return pts
	}
	for _, c := range []struct {
		inputs int
		dups   bool
	}{{1, false}, {2, false}, {8, false}, {8, true}} {
		var lists [][]columnar.Point
		for s := range c.inputs {
			lists = append(lists, mk(s*intervals, 1))
		}
		if c.dups {
			lists = append(lists, mk(0, 10))
		}
		b.Run(fmt.Sprintf("inputs=%d/dups=%v", c.inputs, c.dups), func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				sources := make([]merge.Source, len(lists))
				for i, l := range lists {
					sources[i] = &benchSource{pts: l}
				}
				m := merge.New(tagOrder, true, sources...)
				for p := m.Next(); p != nil; p = m.Next() {
					n++
				}
				if err := m.Err(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
