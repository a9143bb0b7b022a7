package segment

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// TestScanRowGroupsFilteredMatchesHead reads a many-page segment with
// late materialization — filters keeping scattered rows, clustered rows,
// rows of a sparse field, none and all — by time range and tag set,
// without a page cache and through caches large and small, and checks
// every row against the head it was flushed from. It also checks that
// the filter is ignored when its field is not read, and that a field the
// segment lacks keeps no row.
func TestScanRowGroupsFilteredMatchesHead(t *testing.T) {
	h, seg := pagedSegment(t)

	cols := []string{"host", "region", "usage", "n", "msg", "ok", "u"}
	// pointField returns p's value of a numeric field, or false.
	pointField := func(p *columnar.Point, name string) (float64, bool) {
		for _, f := range p.Fields {
			if f.Key != name {
				continue
			}
			switch f.Type {
			case columnar.FieldFloat:
				return math.Float64frombits(f.Num), true
			case columnar.FieldInt:
				return float64(int64(f.Num)), true
			}
		}
		return 0, false
	}
	type filter struct {
		name  string
		field string
		typ   columnar.FieldType
		pass  func(v float64) bool
	}
	filters := []filter{
		{"scattered", "usage", columnar.FieldFloat, func(v float64) bool { return int64(v)%97 < 2 }},
		{"clustered", "usage", columnar.FieldFloat, func(v float64) bool { return v > 16500 }},
		{"sparse int", "n", columnar.FieldInt, func(v float64) bool { return int64(v)%11 == -3 }},
		{"none", "usage", columnar.FieldFloat, func(v float64) bool { return v < -1 }},
		{"all", "usage", columnar.FieldFloat, func(v float64) bool { return v >= 0 }},
	}
	rowFilter := func(f filter) *RowFilter {
		return &RowFilter{Fields: []string{f.field}, Keep: func(b *columnar.ColumnBatch, out []int32) []int32 {
			var fv *columnar.FieldVector
			for i := range b.Fields {
				if b.Fields[i].Name == f.field && b.Fields[i].Type == f.typ {
					fv = &b.Fields[i]
				}
			}
			if fv == nil {
				return out
			}
			for r := range b.Len {
				if fv.IsNull(r) {
					continue
				}
				v := fv.F
				if f.typ == columnar.FieldInt {
					if f.pass(float64(fv.I[r])) {
						out = append(out, int32(r))
					}
					continue
				}
				if f.pass(v[r]) {
					out = append(out, int32(r))
				}
			}
			return out
		}}
	}
	const min, sec = int64(60e9), int64(1e9)
	ranges := [][2]int64{
		{math.MinInt64, math.MaxInt64},
		{3600 * sec, 3600*sec + 30*min},
		{4 * 3600 * sec, 4*3600*sec + 10*sec},
	}
	tagSets := []map[string][]string{nil, {"host": {"h00", "h17", "h59"}}, {"region": {"r0"}}}
	caches := []*PageCache{nil, NewPageCache(1 << 30), NewPageCache(256 << 10)}
	// The head's rows, read once: what each query keeps of them is
	// decided below.
	type headRow struct {
		time int64
		tags []columnar.TagValue
		vals map[string]float64
		text string
	}
	var rows []headRow
	if err := h.ScanOrdered(func(p *columnar.Point) error {
		hr := headRow{time: p.Time, tags: slices.Clone(p.Tags), vals: map[string]float64{}, text: pointText(p, cols)}
		for _, f := range []string{"usage", "n"} {
			if v, ok := pointField(p, f); ok {
				hr.vals[f] = v
			}
		}
		rows = append(rows, hr)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, f := range filters {
		for _, r := range ranges {
			for _, tags := range tagSets {
				name := fmt.Sprintf("%s %v %v", f.name, r, tags)
				var want []string
			rows:
				for _, p := range rows {
					if p.time < r[0] || (r[1] != math.MaxInt64 && p.time >= r[1]) {
						continue
					}
					for k, vals := range tags {
						v, ok := tagValueOf(p.tags, k)
						if !ok || !slices.Contains(vals, v) {
							continue rows
						}
					}
					if v, ok := p.vals[f.field]; !ok || !f.pass(v) {
						continue
					}
					want = append(want, p.text)
				}
				for _, cache := range caches {
					seg.SetPageCache(cache)
					for pass := 0; pass < 2; pass++ { // a cache's second read hits
						var rs ReadStats
						var got []string
						if err := seg.ScanRowGroupsFiltered(cols, tags, r[0], r[1], 0, seg.NumRowGroups(), &rs, rowFilter(f), func(b *columnar.ColumnBatch) error {
							for i := 0; i < b.Len; i++ {
								// Every row delivered passes: the time
								// range and the filter were applied.
								got = append(got, rowText(b, i))
							}
							return nil
						}); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if !slices.Equal(got, want) {
							t.Fatalf("%s (cache %v, pass %d): %d rows, want %d\ngot  %.3q\nwant %.3q", name, cache != nil, pass, len(got), len(want), got, want)
						}
						if read := rs.RowsRead.Load(); rs.RowsFiltered.Load() > read || (f.name != "all" && read > 0 && rs.RowsFiltered.Load() == 0) {
							t.Fatalf("%s: %d rows read, %d filtered", name, read, rs.RowsFiltered.Load())
						}
					}
				}
				seg.SetPageCache(nil)
			}
		}
	}

	// The clustered filter over the whole segment reads far fewer values
	// than the same scan unfiltered.
	var all, late ReadStats
	if err := seg.ScanRowGroupsFiltered(cols, nil, math.MinInt64, math.MaxInt64, 0, seg.NumRowGroups(), &all, nil, func(*columnar.ColumnBatch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := seg.ScanRowGroupsFiltered(cols, nil, math.MinInt64, math.MaxInt64, 0, seg.NumRowGroups(), &late, rowFilter(filters[1]), func(*columnar.ColumnBatch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if a, l := all.ValuesRead.Load(), late.ValuesRead.Load(); l*2 > a || late.RowsFiltered.Load() == 0 {
		t.Fatalf("clustered filter read %d values, the unfiltered scan %d", l, a)
	}

	// A filter on a field the scan does not read is not applied; one on a
	// field the segment lacks keeps nothing (its values are NULL).
	count := func(cols []string, f *RowFilter) int {
		n := 0
		if err := seg.ScanRowGroupsFiltered(cols, nil, math.MinInt64, math.MaxInt64, 0, seg.NumRowGroups(), nil, f, func(b *columnar.ColumnBatch) error {
			n += b.Len
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n, want := count([]string{"host", "msg"}, rowFilter(filters[3])), int(seg.Info.Rows); n != want {
		t.Fatalf("filter on a field not read: %d rows, want all %d", n, want)
	}
	missing := filter{"missing", "absent", columnar.FieldFloat, func(float64) bool { return true }}
	if n := count([]string{"host", "absent"}, rowFilter(missing)); n != 0 {
		t.Fatalf("filter on a field the segment lacks: %d rows, want 0", n)
	}
}
