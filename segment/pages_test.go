package segment

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// pagedHead holds 60 series × 2000 points at 10 s (120k rows: four row
// groups of many pages each), with sparse fields of every type and a tag
// only some series have, arriving out of order.
func pagedHead(t *testing.T) *Head {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	b := &columnar.Batch{}
	for i := 0; i < 2000; i++ {
		for k := 0; k < 60; k++ {
			host := (k*37 + i) % 60 // arrival order interleaves series
			b.StartRow([]byte("cpu"), 1)
			b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%02d", host)))
			if host%4 == 0 {
				b.AddTag([]byte("region"), []byte(fmt.Sprintf("r%d", host%3)))
			}
			b.AddFloat([]byte("usage"), float64(i*60+host)/7)
			if (i+host)%5 == 0 {
				b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(-i*host)))
			}
			if (i+host)%7 == 0 {
				b.AddString([]byte("msg"), []byte(fmt.Sprintf("m%d-%d", host, i)))
			}
			if (i+host)%3 == 0 {
				b.AddNum([]byte("ok"), columnar.FieldBool, uint64(i%2))
			}
			if (i+host)%2 == 0 {
				b.AddNum([]byte("u"), columnar.FieldUint, uint64(i)<<40)
			}
			b.EndRow(int64(i) * 10e9)
		}
	}
	admitAll(t, s, h, b)
	return h
}

// rowText renders row i of a batch, columns in the order named.
func rowText(b *columnar.ColumnBatch, i int) string {
	var sb strings.Builder
	fmt.Fprint(&sb, b.Time[i])
	for _, tv := range b.Tags {
		if id := tv.IDs[i]; id >= 0 {
			fmt.Fprintf(&sb, " %s=%s", tv.Name, tv.Dict[id])
		}
	}
	for _, f := range b.Fields {
		if f.IsNull(i) {
			continue
		}
		switch f.Type {
		case columnar.FieldFloat:
			fmt.Fprintf(&sb, " %s=%v", f.Name, f.F[i])
		case columnar.FieldInt:
			fmt.Fprintf(&sb, " %s=%di", f.Name, f.I[i])
		case columnar.FieldUint:
			fmt.Fprintf(&sb, " %s=%du", f.Name, f.U[i])
		case columnar.FieldBool:
			fmt.Fprintf(&sb, " %s=%v", f.Name, f.B[i])
		default:
			fmt.Fprintf(&sb, " %s=%q", f.Name, f.S[i])
		}
	}
	return sb.String()
}

// pointText renders p like rowText, for the columns cols.
func pointText(p *columnar.Point, cols []string) string {
	var sb strings.Builder
	fmt.Fprint(&sb, p.Time)
	for _, c := range cols {
		for _, tg := range p.Tags {
			if tg.Key == c {
				fmt.Fprintf(&sb, " %s=%s", c, tg.Value)
			}
		}
	}
	for _, c := range cols {
		for _, f := range p.Fields {
			if f.Key != c {
				continue
			}
			switch f.Type {
			case columnar.FieldFloat:
				fmt.Fprintf(&sb, " %s=%v", c, math.Float64frombits(f.Num))
			case columnar.FieldInt:
				fmt.Fprintf(&sb, " %s=%di", c, int64(f.Num))
			case columnar.FieldUint:
				fmt.Fprintf(&sb, " %s=%du", c, f.Num)
			case columnar.FieldBool:
				fmt.Fprintf(&sb, " %s=%v", c, f.Num != 0)
			default:
				fmt.Fprintf(&sb, " %s=%q", c, f.Str)
			}
		}
	}
	return sb.String()
}

// pagedSegment flushes pagedHead to one segment and opens it; the
// segment is closed when the test ends.
func pagedSegment(t *testing.T) (*Head, *Segment) {
	h := pagedHead(t)
	dir := t.TempDir()
	ms, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	seg, err := OpenSegment(filepath.Join(dir, ms[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return h, seg
}

// TestScanRowGroupsRangeMatchesHead reads a many-page segment by series
// and time range, whole and split across row groups, and checks every
// row against the head it was flushed from: page skipping, seeks within
// and across pages, sparse columns of every type and tags some rows lack.
func TestScanRowGroupsRangeMatchesHead(t *testing.T) {
	h, seg := pagedSegment(t)
	if seg.NumRowGroups() < 3 {
		t.Fatalf("%d row groups: the test needs several", seg.NumRowGroups())
	}
	if p := seg.rowGroupPages(0); len(p.first[p.timeCol]) < 4 || p.minT == nil {
		t.Fatalf("row group 0 has %d time pages (bounds %v): the test needs page bounds", len(p.first[p.timeCol]), p.minT != nil)
	}
	const min, sec = int64(60e9), int64(1e9)
	ranges := [][2]int64{
		{math.MinInt64, math.MaxInt64},
		{3600 * sec, 3600*sec + 30*min}, // inside each series' pages
		{0, 10 * min},
		{19990 * sec, math.MaxInt64}, // the last point only
		{4 * 3600 * sec, 4*3600*sec + 10*sec},
		{30000 * sec, math.MaxInt64}, // after every point
	}
	tagSets := []map[string][]string{
		nil,
		{"host": {"h03"}},
		{"host": {"h00", "h17", "h59", "nope"}},
		{"region": {"r0"}},
		{"host": {"h04", "h05", "h08"}, "region": {"r1", "r2"}},
	}
	colSets := [][]string{
		{"host", "region", "usage", "n", "msg", "ok", "u"},
		{"usage"},
		{"n", "msg"},
		{"host", "u", "ok"},
	}
	// Without a page cache; through one that keeps everything, read cold
	// then warm; through one so small that pages are evicted while read.
	caches := []*PageCache{nil, NewPageCache(1 << 30), NewPageCache(256 << 10)}
	for _, r := range ranges {
		scanRangesMatchHead(t, h, seg, r, tagSets, colSets, caches)
	}
	for _, cache := range caches {
		if st := cache.Stats(); cache != nil && (st.Bytes > st.MaxBytes || st.Hits == 0 || st.Misses == 0) {
			t.Fatalf("cache %d: %+v: over its bound, or never hit or missed", st.MaxBytes, st)
		}
	}
	if st := caches[2].Stats(); st.Evictions == 0 {
		t.Fatalf("the small cache evicted nothing: %+v", st)
	}
}

// scanRangesMatchHead checks the segment's reads of range r against the
// head, for every tag set and column set, through each of caches (a
// cache's second read is answered from its pages).
func scanRangesMatchHead(t *testing.T, h *Head, seg *Segment, r [2]int64, tagSets []map[string][]string, colSets [][]string, caches []*PageCache) {
	t.Helper()
	{
		for _, tags := range tagSets {
			for _, cols := range colSets {
				name := fmt.Sprintf("%v %v %v", r, tags, cols)
				var want []string
				if err := h.ScanOrdered(func(p *columnar.Point) error {
					if p.Time < r[0] || (r[1] != math.MaxInt64 && p.Time >= r[1]) {
						return nil
					}
					for k, vals := range tags {
						v, ok := tagValueOf(p.Tags, k)
						if !ok || !slices.Contains(vals, v) {
							return nil
						}
					}
					want = append(want, pointText(p, cols))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				n := seg.NumRowGroups()
				read := func(first, end int) []string {
					var got []string
					if err := seg.ScanRowGroupsRange(cols, tags, r[0], r[1], first, end, func(b *columnar.ColumnBatch) error {
						if b.Sel != nil {
							t.Fatalf("%s: batch with a selection", name)
						}
						for i := 0; i < b.Len; i++ {
							if b.Time[i] >= r[0] && (r[1] == math.MaxInt64 || b.Time[i] < r[1]) {
								got = append(got, rowText(b, i))
							}
						}
						return nil
					}); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					return got
				}
				check := func(what string, got []string) {
					if len(got) != len(want) {
						t.Fatalf("%s, %s: %d rows, want %d", name, what, len(got), len(want))
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s, %s: row %d is\n%s\nwant\n%s", name, what, i, got[i], want[i])
						}
					}
				}
				for _, cache := range caches {
					seg.SetPageCache(cache)
					check("whole", read(0, n))
					check("in two parts", append(read(0, 1), read(1, n)...))
					if cache != nil {
						check("whole again", read(0, n))
					}
				}
				seg.SetPageCache(nil)
			}
		}
	}
}
