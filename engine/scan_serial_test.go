package engine

import (
	"fmt"
	"math"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// headRowsIn, which decides whether a head's scan runs on workers,
// estimates the rows a range and a choice of series read close to the
// count taken from the rows written, on a head of evenly spaced rows (a
// live head's shape), without reading the rows.
func TestHeadRowsInEstimate(t *testing.T) {
	const series, perSeries = 20, 2000
	s := int64(1e9)
	base := int64(1_767_225_600_000_000_000)
	var b columnar.Batch
	type row struct {
		host int
		t    int64
	}
	var model []row
	n := 0
	for k := range int64(perSeries) {
		for host := range series {
			n++
			b.StartRow([]byte("m"), n)
			b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", host))
			b.AddFloat([]byte("v"), float64(n))
			b.EndRow(base + k*s)
			model = append(model, row{host, base + k*s})
		}
	}
	schema := columnar.NewTableSchema()
	h := segment.NewHead(schema)
	for r := range b.Rows {
		if err := schema.Admit(&b, &b.Rows[r]); err != nil {
			t.Fatal(err)
		}
		h.Append(&b, &b.Rows[r], r > 0)
	}
	if got := headRowsIn(segment.NewHead(columnar.NewTableSchema()), timeSpan{math.MinInt64, math.MaxInt64}, func() []bool { return nil }); got != 0 {
		t.Errorf("an empty head: %v rows, want 0", got)
	}
	last := base + (perSeries-1)*s
	for _, c := range []struct {
		name   string
		span   timeSpan
		hosts  map[string][]string // nil: every series
		wanted func(r row) bool
	}{
		{"every series, the whole head", timeSpan{math.MinInt64, math.MaxInt64}, nil,
			func(row) bool { return true }},
		{"every series, the middle half", timeSpan{base + perSeries/4*s, base + 3*perSeries/4*s}, nil,
			func(r row) bool { return r.t >= base+perSeries/4*s && r.t < base+3*perSeries/4*s }},
		{"one series, its last tenth", timeSpan{base + 9*perSeries/10*s, math.MaxInt64}, map[string][]string{"host": {"h07"}},
			func(r row) bool { return r.host == 7 && r.t >= base+9*perSeries/10*s }},
		{"two series, past the head's end", timeSpan{last - 100*s, last + 3600*s}, map[string][]string{"host": {"h01", "h02"}},
			func(r row) bool { return (r.host == 1 || r.host == 2) && r.t >= last-100*s }},
		{"every series, after the head", timeSpan{last + s, math.MaxInt64}, nil,
			func(row) bool { return false }},
		{"a series the head lacks", timeSpan{math.MinInt64, math.MaxInt64}, map[string][]string{"host": {"nope"}},
			func(row) bool { return false }},
	} {
		exact := 0
		for _, r := range model {
			if c.wanted(r) {
				exact++
			}
		}
		got := headRowsIn(h, c.span, func() []bool { return h.MatchSeries(c.hosts) })
		if math.Abs(got-float64(exact)) > 0.02*float64(exact)+2 {
			t.Errorf("%s: estimated %.1f rows, the rows written say %d", c.name, got, exact)
		}
	}
}
