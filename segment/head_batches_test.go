package segment

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// NoDuplicates holds while each series' rows come in strictly increasing
// time (series may interleave), and ScanRange then gives exactly the
// points ScanOrdered gives; a repeated or earlier time clears it.
func TestHeadNoDuplicates(t *testing.T) {
	build := func(times map[string][]int64, order []string) *Head {
		s := columnar.NewTableSchema()
		h := NewHead(s)
		var b columnar.Batch
		next := map[string]int{}
		for i, host := range order {
			b.StartRow([]byte("m"), i+1)
			b.AddTag([]byte("host"), []byte(host))
			b.AddFloat([]byte("v"), float64(i))
			b.EndRow(times[host][next[host]])
			next[host]++
		}
		admitAll(t, s, h, &b)
		return h
	}
	order := []string{"a", "b", "a", "b", "a"}
	inOrder := build(map[string][]int64{"a": {1, 2, 3}, "b": {1, 5}}, order)
	if !inOrder.NoDuplicates() || !inOrder.View().NoDuplicates() {
		t.Fatal("interleaved series in time order: duplicates reported")
	}
	want := mergedPoints(t, inOrder.ScanOrdered)
	got := map[string]bool{}
	if err := inOrder.ScanRange([]string{"host", "v"}, nil, math.MinInt64, math.MaxInt64, 2, func(b *columnar.ColumnBatch) error {
		for i := range b.Len {
			k := fmt.Sprint(b.Time[i], []columnar.TagValue{{Key: "host", Value: b.Tags[0].Dict[b.Tags[0].IDs[i]]}})
			if got[k] {
				t.Errorf("point %s twice", k)
			}
			got[k] = true
			if w, ok := want[k]["v"]; !ok || w.Num != math.Float64bits(b.Fields[0].F[i]) {
				t.Errorf("point %s: v %v, want %v", k, b.Fields[0].F[i], w)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d points, want %d", len(got), len(want))
	}
	// Restricted to host b: its rows only, gathered.
	var onlyB []int64
	if err := inOrder.ScanRange([]string{"host"}, inOrder.MatchSeries(map[string][]string{"host": {"b"}}), math.MinInt64, math.MaxInt64, 2, func(b *columnar.ColumnBatch) error {
		for i := range b.Len {
			if host := b.Tags[0].Dict[b.Tags[0].IDs[i]]; host != "b" {
				t.Errorf("row of host %s delivered", host)
			}
			onlyB = append(onlyB, b.Time[i])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(onlyB, []int64{1, 5}) {
		t.Errorf("host b rows at %v, want [1 5]", onlyB)
	}
	for name, times := range map[string]map[string][]int64{
		"repeated time": {"a": {1, 2, 2}, "b": {1, 5}},
		"earlier time":  {"a": {1, 3, 2}, "b": {1, 5}},
	} {
		if build(times, order).NoDuplicates() {
			t.Errorf("%s: no duplicates reported", name)
		}
	}
}

// ScanDeduped gives the points ScanOrdered gives — duplicates merged field
// by field, every type, rows lacking fields — for a head and for a View of
// it, in batches that cut through runs.
func TestHeadScanDeduped(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	b := testBatch()
	admitAll(t, s, h, b)
	// Rewrite every 10th point with a new usage only: the merged point
	// keeps n, msg and ok from the first write (overrides).
	var dup columnar.Batch
	for i := range b.Rows {
		if i%10 != 0 {
			continue
		}
		r := &b.Rows[i]
		dup.StartRow([]byte("cpu"), i+1)
		for _, tg := range b.RowTags(r) {
			dup.AddTag(b.Bytes(tg.Key), b.Bytes(tg.Value))
		}
		dup.AddFloat([]byte("usage"), -float64(i))
		dup.EndRow(r.Time)
	}
	admitAll(t, s, h, &dup)
	if h.NoDuplicates() {
		t.Fatal("rewritten points: no duplicates reported")
	}
	for name, head := range map[string]*Head{"head": h, "view": h.View()} {
		for _, tags := range []map[string][]string{nil, {"host": {"h3", "h5"}, "region": {"eu"}}} {
			checkDeduped(t, name, head, s, tags)
		}
	}
}

// checkDeduped compares ScanDeduped, restricted to the series matching
// tags, with ScanOrdered filtered the same way.
func checkDeduped(t *testing.T, name string, head *Head, s *columnar.TableSchema, tags map[string][]string) {
	match := func(p *columnar.Point) bool {
		for k, vals := range tags {
			v, ok := "", false
			for _, tv := range p.Tags {
				if tv.Key == k {
					v, ok = tv.Value, true
				}
			}
			if !ok || !slices.Contains(vals, v) {
				return false
			}
		}
		return true
	}
	want := mergedPoints(t, func(fn func(*columnar.Point) error) error {
		return head.ScanOrdered(func(p *columnar.Point) error {
			if !match(p) {
				return nil
			}
			return fn(p)
		})
	})
	if tags != nil && (len(want) == 0 || len(want) == len(mergedPoints(t, head.ScanOrdered))) {
		t.Fatalf("%s: the tag filter should keep some points, not all (%d)", name, len(want))
	}
	cols := append([]string(nil), s.Tags...)
	for _, f := range s.Fields {
		cols = append(cols, f.Name)
	}
	got := mergedPoints(t, func(fn func(*columnar.Point) error) error {
		return head.ScanDeduped(cols, head.MatchSeries(tags), math.MinInt64, math.MaxInt64, 97, func(b *columnar.ColumnBatch) error {
			dicts := make([][]string, len(b.Tags))
			for j := range b.Tags {
				dicts[j] = b.Tags[j].Dict
			}
			rows := make([]int32, 0, b.Len)
			for i := range b.Len {
				rows = append(rows, int32(i))
			}
			if b.Sel != nil {
				rows = b.Sel
			}
			for _, r := range rows {
				i := int(r)
				p := &columnar.Point{}
				b.RowPoint(i, p, dicts)
				if err := fn(p); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s, tags %v: %d points, want %d (or values differ)", name, tags, len(got), len(want))
	}
}
