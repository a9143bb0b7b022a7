package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// blockedHead returns a head of several sealed blocks and an unsealed
// tail: 37 series written round-robin every second, every field type, some
// rows lacking fields. late adds points older than their series' latest
// and rewrites of existing points carrying only some fields.
func blockedHead(t *testing.T, late bool) *Head {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	rng := rand.New(rand.NewPCG(1, 2))
	var b columnar.Batch
	n := 3*blockRows + 123
	for i := range n {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", i%37))
		if i%37%3 == 0 {
			b.AddTag([]byte("region"), []byte("eu"))
		}
		b.AddFloat([]byte("usage"), float64(i)/3)
		if i%5 == 0 {
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(-i)))
			b.AddString([]byte("msg"), fmt.Appendf(nil, "m%d", i))
			b.AddNum([]byte("ok"), columnar.FieldBool, uint64(i%2))
		}
		tm := int64(i/37) * 1e9
		if late && i > 37 && rng.IntN(20) == 0 {
			// A late point, possibly exactly an earlier one.
			tm -= int64(rng.IntN(i/37+1)) * 1e9
			if rng.IntN(2) == 0 {
				tm -= 5e8
			}
		}
		b.EndRow(tm)
	}
	admitAll(t, s, h, &b)
	if len(h.blocks) != 3 || h.sealed != 3*blockRows {
		t.Fatalf("%d blocks sealing %d rows, want 3 and %d", len(h.blocks), h.sealed, 3*blockRows)
	}
	if h.NoDuplicates() == late {
		t.Fatalf("late %v: NoDuplicates %v", late, h.NoDuplicates())
	}
	return h
}

// scanRanges are (minT, maxT) pairs cutting blocks in various ways.
var scanRanges = [][2]int64{
	{math.MinInt64, math.MaxInt64},
	{100e9, 400e9},         // inside the second block
	{0, 1e9},               // the first second
	{200e9, math.MaxInt64}, // to the end, tail included
	{math.MinInt64, 221e9},
	{700e9, 800e9}, // after every row
	{150e9, 150e9}, // empty
}

// The block index gives exactly the points of the rows in range whose
// series match, each once, for heads with and without duplicates, and for
// a View that the head outgrows.
func TestHeadScanRange(t *testing.T) {
	for _, late := range []bool{false, true} {
		h := blockedHead(t, late)
		s := h.Schema
		cols := append([]string(nil), s.Tags...)
		for _, f := range s.Fields {
			cols = append(cols, f.Name)
		}
		for _, tags := range []map[string][]string{nil, {"host": {"h03", "h05", "h30"}}, {"region": {"eu"}}, {"host": {"nope"}}} {
			for _, r := range scanRanges {
				name := fmt.Sprintf("late=%v/tags=%v/range=%v", late, tags, r)
				checkScanRange(t, name, h, cols, tags, r[0], r[1])
			}
		}
	}
}

func checkScanRange(t *testing.T, name string, h *Head, cols []string, tags map[string][]string, minT, maxT int64) {
	t.Helper()
	match := func(p *columnar.Point) bool {
		if !inSpan(p.Time, minT, maxT) {
			return false
		}
		for k, vals := range tags {
			found := false
			for _, tv := range p.Tags {
				found = found || (tv.Key == k && contains(vals, tv.Value))
			}
			if !found {
				return false
			}
		}
		return true
	}
	want := mergedPoints(t, func(fn func(*columnar.Point) error) error {
		return h.ScanOrdered(func(p *columnar.Point) error {
			if !match(p) {
				return nil
			}
			return fn(p)
		})
	})
	emitted := 0
	got := mergedPoints(t, func(fn func(*columnar.Point) error) error {
		scan := h.ScanRange
		if !h.NoDuplicates() {
			scan = h.ScanDeduped
		}
		return scan(cols, h.MatchSeries(tags), minT, maxT, 1000, func(b *columnar.ColumnBatch) error {
			dicts := make([][]string, len(b.Tags))
			for j := range b.Tags {
				dicts[j] = b.Tags[j].Dict
			}
			for r := range b.Rows() {
				var p columnar.Point
				b.RowPoint(int(r), &p, dicts)
				emitted++
				if err := fn(&p); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %d points, want %d (or values differ)", name, len(got), len(want))
	}
	if emitted != len(want) {
		t.Errorf("%s: %d rows emitted for %d points", name, emitted, len(want))
	}
}

func contains(vals []string, v string) bool {
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

// A View keeps answering as of its creation while the head takes rows and
// seals more blocks.
func TestHeadViewBlocks(t *testing.T) {
	h := blockedHead(t, false)
	v := h.View()
	cols := []string{"host", "usage"}
	want := mergedPoints(t, v.ScanOrdered)
	var b columnar.Batch
	for i := range blockRows + 10 {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), []byte("h01"))
		b.AddFloat([]byte("usage"), -1)
		b.EndRow(1e12 + int64(i))
	}
	admitAll(t, h.Schema, h, &b)
	if len(h.blocks) != 4 || len(v.blocks) != 3 {
		t.Fatalf("head has %d blocks, view %d; want 4 and 3", len(h.blocks), len(v.blocks))
	}
	n := 0
	if err := v.ScanRange(cols, nil, math.MinInt64, math.MaxInt64, 4096, func(b *columnar.ColumnBatch) error {
		n += len(b.Time)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("view scanned %d rows after the head grew, want %d", n, len(want))
	}
}

// LatestRows holds, for every series and field, the row a fold of all rows
// in range would end on.
func TestHeadLatestRows(t *testing.T) {
	for _, late := range []bool{false, true} {
		h := blockedHead(t, late)
		var fieldCols []int
		for c := range h.fields {
			fieldCols = append(fieldCols, c)
		}
		for _, r := range scanRanges {
			for _, keep := range [][]bool{nil, h.MatchSeries(map[string][]string{"host": {"h07", "h09"}})} {
				all := make([]int32, 0, h.Len())
				for i := range h.Len() {
					all = append(all, int32(i))
				}
				want := foldLast(h, all, keep, r[0], r[1])
				got := foldLast(h, h.LatestRows(keep, r[0], r[1], fieldCols), keep, r[0], r[1])
				if !reflect.DeepEqual(got, want) {
					t.Errorf("late=%v range=%v keep=%v: latest values differ: got %d series, want %d", late, r, keep != nil, len(got), len(want))
				}
			}
		}
	}
}

// foldLast returns per series and field the (time, row) of the last value
// among rows (ascending) in range, a later row winning at an equal time.
func foldLast(h *Head, rows []int32, keep []bool, minT, maxT int64) map[uint32][][2]int64 {
	out := map[uint32][][2]int64{}
	for _, r := range rows {
		sid := h.series[r]
		if (keep != nil && !keep[sid]) || !inSpan(h.times[r], minT, maxT) {
			continue
		}
		if out[sid] == nil {
			out[sid] = make([][2]int64, len(h.fields))
			for c := range out[sid] {
				out[sid][c] = [2]int64{math.MinInt64, -1}
			}
		}
		for c, col := range h.fields {
			if col.isValid(int(r)) && h.times[r] >= out[sid][c][0] {
				out[sid][c] = [2]int64{h.times[r], int64(r)}
			}
		}
	}
	return out
}

// ScanOrderedRange gives exactly ScanOrdered's points in range, in the
// same order.
func TestHeadScanOrderedRange(t *testing.T) {
	for _, late := range []bool{false, true} {
		h := blockedHead(t, late)
		for _, r := range scanRanges {
			var want, got []string
			if err := h.ScanOrdered(func(p *columnar.Point) error {
				if inSpan(p.Time, r[0], r[1]) {
					want = append(want, fmt.Sprint(*p))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := h.ScanOrderedRange(r[0], r[1], func(p *columnar.Point) error {
				got = append(got, fmt.Sprint(*p))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("late=%v range=%v: %d points, want %d (or order/values differ)", late, r, len(got), len(want))
			}
		}
	}
}
