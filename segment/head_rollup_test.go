package segment

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// ScanRollup's partials, combined per series and window, equal the
// aggregates of the merged points in range — with and without late and
// duplicate points, for all series and a tag subset, ranges cutting blocks.
func TestHeadScanRollup(t *testing.T) {
	const width = int64(60e9)
	type agg struct {
		n             int64
		sum, min, max float64
		ft, lt        int64
		first, last   float64
	}
	for _, late := range []bool{false, true} {
		h := blockedHead(t, late)
		for _, tags := range []map[string][]string{nil, {"host": {"h03", "h30"}}} {
			for _, perSeries := range []bool{true, false} {
				for _, r := range scanRanges {
					want := map[string]*agg{}
					if err := h.ScanOrdered(func(p *columnar.Point) error {
						if !inSpan(p.Time, r[0], r[1]) || (tags != nil && p.Tags[0].Value != "h03" && p.Tags[0].Value != "h30") {
							return nil
						}
						for _, f := range p.Fields {
							if f.Key != "usage" {
								continue
							}
							v := math.Float64frombits(f.Num)
							k := fmt.Sprint(WindowStart(p.Time, width))
							if perSeries {
								k = fmt.Sprint(p.Tags, WindowStart(p.Time, width))
							}
							a := want[k]
							if a == nil {
								a = &agg{min: v, max: v, ft: p.Time, first: v, lt: p.Time, last: v}
								want[k] = a
							}
							a.n++
							a.sum += v
							a.min, a.max = min(a.min, v), max(a.max, v)
							if p.Time < a.ft {
								a.ft, a.first = p.Time, v
							}
							if p.Time >= a.lt { // points of one series come in time order
								a.lt, a.last = p.Time, v
							}
						}
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					got := map[string]*agg{}
					cols := []string{"usage", "msg"}
					if perSeries {
						cols = append(cols, "host", "region")
					}
					err := h.ScanRollup(cols, h.MatchSeries(tags), r[0], r[1], width, 500, func(b *columnar.ColumnBatch) error {
						if b.Rollup != width {
							t.Fatalf("batch marked rollup %d, want %d", b.Rollup, width)
						}
						dicts := make([][]string, len(b.Tags))
						for j := range b.Tags {
							dicts[j] = b.Tags[j].Dict
						}
						for i := range b.Rows() {
							var p columnar.Point
							b.RowPoint(int(i), &p, dicts)
							part := map[string]uint64{}
							for _, f := range p.Fields {
								part[f.Key] = f.Num
							}
							n := int64(part[RollupColumn("usage", PartCount)])
							if n == 0 {
								continue
							}
							f := func(k string) float64 { return math.Float64frombits(part[RollupColumn("usage", k)]) }
							k := fmt.Sprint(p.Time)
							if perSeries {
								k = fmt.Sprint(p.Tags, p.Time)
							}
							a := got[k]
							ft, lt := int64(part[RollupColumn("usage", PartFirstTime)]), int64(part[RollupColumn("usage", PartLastTime)])
							if a == nil {
								a = &agg{min: f(PartMin), max: f(PartMax), ft: ft, first: f(PartFirst), lt: lt, last: f(PartLast)}
								got[k] = a
							}
							a.n += n
							a.sum += f(PartSum)
							a.min, a.max = min(a.min, f(PartMin)), max(a.max, f(PartMax))
							if ft < a.ft {
								a.ft, a.first = ft, f(PartFirst)
							}
							if lt > a.lt {
								a.lt, a.last = lt, f(PartLast)
							}
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					// Across series, first and last at a shared time are any of the
					// tied values: only their times are compared.
					if !perSeries {
						for _, m := range []map[string]*agg{got, want} {
							for _, a := range m {
								a.first, a.last = 0, 0
							}
						}
					}
					// Sums of partials may round differently from one sum.
					for k, a := range got {
						if w := want[k]; w != nil && math.Abs(a.sum-w.sum) <= 1e-9*math.Abs(w.sum) {
							a.sum = w.sum
						}
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("late=%v tags=%v perSeries=%v range=%v: %d windows, want %d (or partials differ)", late, tags, perSeries, r, len(got), len(want))
					}
				}
			}
		}
	}
}
