package engine

import (
	"fmt"
	"iter"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/merge"
)

// BenchmarkMergeSources merges in-memory sources through the scan's merge
// (pulled sequences, fields sorted): each holds 100 consecutive 10 s
// intervals of every one of 1000 hosts, the next source the following 100,
// and, with dups, a last source rewrites every tenth interval of the first.
// Reports merged points/s.
func BenchmarkMergeSources(b *testing.B) {
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
	seq := func(pts []columnar.Point) iter.Seq2[*columnar.Point, error] {
		return func(yield func(*columnar.Point, error) bool) {
			for i := range pts {
				if !yield(&pts[i], nil) {
					return
				}
			}
		}
	}
	for _, c := range []struct {
		inputs int
		dups   bool
	}{{2, false}, {8, false}, {8, true}} {
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
				var sources []iter.Seq2[*columnar.Point, error]
				for _, l := range lists {
					sources = append(sources, seq(l))
				}
				err := mergeSources(sources, tagOrder, func(*columnar.Point) error { n++; return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// comparePoints is the merge order, for tests that check a scan's order.
func comparePoints(tagOrder []string) func(a, b *columnar.Point) int {
	return func(a, b *columnar.Point) int { return merge.Compare(tagOrder, a, b) }
}
