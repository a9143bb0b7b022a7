package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// TestScanDedupedFiltered checks that a filtered head scan delivers
// exactly the points of ScanDeduped that pass the test, with the merged
// values (a rewrite without the tested field keeps the earlier value), on
// a head with NULLs, rewrites, strings and booleans.
func TestScanDedupedFiltered(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	for i := 0; i < 3000; i++ {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", rng.IntN(13)))
		if rng.IntN(6) != 0 {
			b.AddNum([]byte("u"), columnar.FieldInt, uint64(rng.IntN(100)))
		}
		if rng.IntN(3) != 0 {
			b.AddFloat([]byte("f"), rng.Float64()*10)
		}
		b.AddString([]byte("msg"), fmt.Appendf(nil, "m%d", i))
		b.AddNum([]byte("ok"), columnar.FieldBool, uint64(i%2))
		b.EndRow(int64(1000 + 10*rng.IntN(400))) // many rewrites
	}
	admitAll(t, s, h, &b)
	h.Finish()
	cols := []string{"host", "u", "f", "msg", "ok"}
	keepU := func(limit int64) *RowFilter {
		return &RowFilter{Fields: []string{"u"}, Keep: func(b *columnar.ColumnBatch, out []int32) []int32 {
			var fv *columnar.FieldVector
			for i := range b.Fields {
				if b.Fields[i].Name == "u" {
					fv = &b.Fields[i]
				}
			}
			for r := range int32(b.Len) {
				if fv != nil && !fv.IsNull(int(r)) && fv.I[r] > limit {
					out = append(out, r)
				}
			}
			return out
		}}
	}
	type point struct {
		Time int64
		Host string
		U    any
		F    any
		Msg  any
		OK   any
	}
	value := func(fv *columnar.FieldVector, r int) any {
		if fv.IsNull(r) {
			return nil
		}
		switch fv.Type {
		case columnar.FieldInt:
			return fv.I[r]
		case columnar.FieldFloat:
			return fv.F[r]
		case columnar.FieldBool:
			return fv.B[r]
		}
		return fv.S[r]
	}
	collect := func(scan func(fn func(*columnar.ColumnBatch) error) error) []point {
		var out []point
		if err := scan(func(b *columnar.ColumnBatch) error {
			for r := 0; r < b.Len; r++ {
				p := point{Time: b.Time[r], Host: b.Tags[0].Dict[b.Tags[0].IDs[r]]}
				for i := range b.Fields {
					v := value(&b.Fields[i], r)
					switch b.Fields[i].Name {
					case "u":
						p.U = v
					case "f":
						p.F = v
					case "msg":
						p.Msg = v
					case "ok":
						p.OK = v
					}
				}
				out = append(out, p)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, limit := range []int64{-1, 50, 90, 99} {
		for _, max := range []int{7, 1000} {
			all := collect(func(fn func(*columnar.ColumnBatch) error) error {
				return h.ScanDeduped(cols, nil, 0, 1<<62, max, fn)
			})
			var want []point
			for _, p := range all {
				if u, ok := p.U.(int64); ok && u > limit {
					want = append(want, p)
				}
			}
			got := collect(func(fn func(*columnar.ColumnBatch) error) error {
				return h.ScanDedupedFiltered(cols, nil, 0, 1<<62, max, keepU(limit), fn)
			})
			if len(want) == 0 && limit < 99 {
				t.Fatalf("u > %d: no points to compare", limit)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("u > %d, batches of %d: %d points, want %d", limit, max, len(got), len(want))
			}
		}
	}
	// A tested field the scan does not read: no filtering, every point.
	all := collect(func(fn func(*columnar.ColumnBatch) error) error {
		return h.ScanDeduped([]string{"host", "f"}, nil, 0, 1<<62, 100, fn)
	})
	got := collect(func(fn func(*columnar.ColumnBatch) error) error {
		return h.ScanDedupedFiltered([]string{"host", "f"}, nil, 0, 1<<62, 100, keepU(50), fn)
	})
	if !reflect.DeepEqual(got, all) {
		t.Fatalf("unscanned tested field: %d points, want all %d", len(got), len(all))
	}
}

// ScanRangeFiltered delivers exactly the rows of ScanRange that pass the
// test, on a head without duplicates spanning several sealed blocks (read
// whole or cut by the range) and its tail, with NULLs in the tested field.
func TestScanRangeFiltered(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	n := 3*blockRows + 321
	for i := range n {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i%11))
		if i%7 != 0 {
			b.AddNum([]byte("u"), columnar.FieldInt, uint64(i*31%100))
		}
		b.AddFloat([]byte("f"), float64(i)/4)
		b.EndRow(int64(i/11) * 1e9)
	}
	admitAll(t, s, h, &b)
	h.Finish()
	if !h.NoDuplicates() || len(h.blocks) != 3 {
		t.Fatalf("want 3 sealed blocks without duplicates, have %d (no duplicates: %v)", len(h.blocks), h.NoDuplicates())
	}
	const limit = 80
	keep := &RowFilter{Fields: []string{"u"}, Keep: func(b *columnar.ColumnBatch, out []int32) []int32 {
		fv := &b.Fields[0]
		for r := range int32(b.Len) {
			if !fv.IsNull(int(r)) && fv.I[r] > limit {
				out = append(out, r)
			}
		}
		return out
	}}
	cols := []string{"host", "u", "f"}
	rowsOf := func(scan func(fn func(*columnar.ColumnBatch) error) error, test bool) []string {
		var out []string
		if err := scan(func(b *columnar.ColumnBatch) error {
			for r := range b.Len {
				u := &b.Fields[0]
				if test && (u.IsNull(r) || u.I[r] <= limit) {
					continue
				}
				out = append(out, fmt.Sprint(b.Time[r], b.Tags[0].Dict[b.Tags[0].IDs[r]], u.IsNull(r), u.I[r], b.Fields[1].F[r]))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {100e9, 1500e9}, {2000e9, math.MaxInt64}} {
		for _, tags := range []map[string][]string{nil, {"host": {"h3", "h7"}}} {
			match := h.MatchSeries(tags)
			want := rowsOf(func(fn func(*columnar.ColumnBatch) error) error {
				return h.ScanRange(cols, match, r[0], r[1], 1000, fn)
			}, true)
			got := rowsOf(func(fn func(*columnar.ColumnBatch) error) error {
				return h.ScanRangeFiltered(cols, match, r[0], r[1], 1000, keep, fn)
			}, false)
			if len(want) == 0 {
				t.Fatalf("range %v tags %v: no rows pass", r, tags)
			}
			if !slices.Equal(got, want) {
				t.Errorf("range %v tags %v: %d rows, want %d", r, tags, len(got), len(want))
			}
		}
	}
}
