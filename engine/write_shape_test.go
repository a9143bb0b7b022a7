package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// TestShapeMarksMatchRowShape: the shapes a write marks before the engine
// lock (shared key spans, else the shapes' bytes) are those admitLocked
// computed under it: row i has the shape of row i-1 exactly when their
// columnar.RowShape signatures are equal — for batches whose rows share
// key spans (decoders) and for the same rows with every string copied
// (a batch read back from another encoder), keys equal in bytes but not
// in span, and equal keys with other field types.
func TestShapeMarksMatchRowShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []string{"a", "b", "host", "hosu"}
	for round := range 50 {
		var b columnar.Batch
		for i := range 300 {
			table := "cpu"
			if rng.IntN(20) == 0 {
				table = "mem"
			}
			b.StartRow([]byte(table), i+1)
			for j := range rng.IntN(2) + 1 {
				k := keys[j]
				if rng.IntN(30) == 0 {
					k = keys[rng.IntN(len(keys))]
				}
				b.AddTag([]byte(k), []byte("v"))
			}
			for j := range rng.IntN(2) + 1 {
				typ := columnar.FieldFloat
				if rng.IntN(15) == 0 {
					typ = columnar.FieldInt
				}
				k := "f" + keys[j]
				if rng.IntN(30) == 0 {
					k = "f" + keys[rng.IntN(len(keys))]
				}
				b.AddNum([]byte(k), typ, 1)
			}
			b.EndRow(int64(i))
		}
		check := func(name string, b *columnar.Batch) {
			var s shapeScratch
			s.mark(b)
			var prev []byte
			for i := range b.Rows {
				cur := columnar.RowShape(nil, b, &b.Rows[i])
				want := i > 0 && string(cur) == string(prev)
				if s.same[i] != want {
					t.Fatalf("round %d, %s, row %d: marked same shape %v, RowShape says %v", round, name, i, s.same[i], want)
				}
				prev = cur
			}
		}
		check("decoded", &b)
		// Every string in its own span, as a batch built without reuse.
		var c columnar.Batch
		for _, r := range b.Rows {
			r.Table = c.Put(b.Bytes(r.Table))
			ts, fs := uint32(len(c.Tags)), uint32(len(c.Fields))
			for _, tg := range b.RowTags(&r) {
				c.Tags = append(c.Tags, columnar.Tag{Key: c.Put(b.Bytes(tg.Key)), Value: c.Put(b.Bytes(tg.Value))})
			}
			for _, f := range b.RowFields(&r) {
				f.Key = c.Put(b.Bytes(f.Key))
				c.Fields = append(c.Fields, f)
			}
			r.TagStart, r.TagEnd, r.FieldStart, r.FieldEnd = ts, uint32(len(c.Tags)), fs, uint32(len(c.Fields))
			c.Rows = append(c.Rows, r)
		}
		check("copied", &c)
	}
}
