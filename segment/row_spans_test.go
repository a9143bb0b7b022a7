package segment

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestRowSpansMatchBitmaps checks the span algebra a tag filter uses
// against roaring's own union and intersection: random bitmaps of runs
// (series-sorted rows) and of scattered rows, several values per key
// (some repeated, some empty), two keys intersected, and the rows each
// span list yields in random ranges.
func TestRowSpansMatchBitmaps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	random := func() *roaring.Bitmap {
		bm := roaring.New()
		switch r.IntN(4) {
		case 0: // empty
		case 1: // scattered rows
			for range r.IntN(300) {
				bm.Add(uint32(r.IntN(200000)))
			}
		default: // runs
			for range r.IntN(6) + 1 {
				a := uint64(r.IntN(200000))
				bm.AddRange(a, a+uint64(r.IntN(20000))+1)
			}
		}
		return bm
	}
	for iter := range 300 {
		var keys [][]*roaring.Bitmap
		for range r.IntN(2) + 1 {
			var vals []*roaring.Bitmap
			for range r.IntN(4) + 1 {
				vals = append(vals, random())
			}
			if r.IntN(3) == 0 {
				vals = append(vals, vals[0]) // a value named twice
			}
			keys = append(keys, vals)
		}
		var model *roaring.Bitmap
		var spans []rowSpan
		for k, vals := range keys {
			u := roaring.New()
			var s []rowSpan
			for _, bm := range vals {
				u.Or(bm)
				s = bitmapSpans(s, bm)
			}
			s = unionSpans(s)
			if k == 0 {
				model, spans = u, s
			} else {
				model.And(u)
				spans = intersectSpans(spans, s)
			}
		}
		got := roaring.New()
		for i, sp := range spans {
			if sp.a >= sp.b || (i > 0 && spans[i-1].b >= sp.a) {
				t.Fatalf("iter %d: spans not ascending, disjoint and apart: %v", iter, spans)
			}
			got.AddRange(sp.a, sp.b)
		}
		if !got.Equals(model) {
			t.Fatalf("iter %d: spans hold %d rows, the bitmaps' %d", iter, got.GetCardinality(), model.GetCardinality())
		}
		for range 20 {
			lo := uint64(r.IntN(230000))
			hi := lo + uint64(r.IntN(30000))
			in := roaring.New()
			spansIn(spans, lo, hi, func(a, b uint64) {
				if a < lo || b > hi || a >= b {
					t.Fatalf("iter %d: piece [%d, %d) outside [%d, %d)", iter, a, b, lo, hi)
				}
				in.AddRange(a, b)
			})
			want := model.Clone()
			want.And(roaring.FlipInt(roaring.New(), int(lo), int(hi)))
			if !in.Equals(want) {
				t.Fatalf("iter %d: [%d, %d) yields %d rows, want %d", iter, lo, hi, in.GetCardinality(), want.GetCardinality())
			}
			if spansMeet(spans, lo, hi) != !want.IsEmpty() {
				t.Fatalf("iter %d: spansMeet [%d, %d) = %v with %d rows there", iter, lo, hi, !want.IsEmpty(), want.GetCardinality())
			}
		}
	}
}
