package segment

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// TestHeadSeriesByHash checks the series Append gives each row against a
// model that knows nothing of dictionaries or hashes: a series is the set
// of the row's tag keys with their values (a key repeated in a row: its
// last value), numbered in order of first appearance, as the head numbers
// them. The rows name their tags in varying orders and subsets, so the
// same series arrives under several hashes and different series share
// values. Halfway through, every entry of seriesByHash is pointed at the
// wrong series, as hash collisions would: the rows after must still land
// in their own series (sameTags refuses the wrong one, also for a row
// that names a key twice).
//
// Each run is made three ways: the head hashing rows itself (Append, as
// replay calls it), given each row's RowTagsHash (AppendHashed, as a write
// computes it before the engine lock), and given a wrong hash for a third
// of the rows (a caller's bug): a wrong hash may cost lookups, never a
// row's series.
func TestHeadSeriesByHash(t *testing.T) {
	for _, mode := range []string{"own", "given", "wrong"} {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprint(mode, "/", seed), func(t *testing.T) { testHeadSeriesByHash(t, seed, mode) })
		}
	}
}

func testHeadSeriesByHash(t *testing.T, seed uint64, mode string) {
	rng := rand.New(rand.NewPCG(seed, 21))
	keys := []string{"host", "region", "dc", "rack"}
	vals := []string{"a", "b", "ab", "", "ba"}
	s := columnar.NewTableSchema()
	h := NewHead(s)
	model := map[string]uint32{}
	var want []uint32
	poisoned := false
	var shape, prevShape []byte
	var rowsDesc []string
	var hashBuf []byte
	wrong := 0
	for batchNo := 0; batchNo < 40; batchNo++ {
		if batchNo == 20 {
			if len(h.seriesByHash) < 2 {
				t.Fatalf("only %d hashed series before the collisions: the test exercises nothing", len(h.seriesByHash))
			}
			for k, sid := range h.seriesByHash {
				h.seriesByHash[k] = (sid + 1) % uint32(len(h.seriesTags))
			}
			poisoned = true
		}
		var b columnar.Batch
		var perm []int
		var n int
		for i := 0; i < 200; i++ {
			b.StartRow([]byte("cpu"), i+1)
			if i == 0 || rng.IntN(2) == 0 { // else the keys of the row before, in its order
				perm = rng.Perm(len(keys))
				n = rng.IntN(len(keys) + 1)
			}
			set := map[string]string{}
			for _, k := range perm[:n] {
				v := vals[rng.IntN(len(vals))]
				b.AddTag([]byte(keys[k]), []byte(v))
				set[keys[k]] = v
			}
			if n > 0 && rng.IntN(20) == 0 { // a key repeated: the last value counts
				k := keys[perm[0]]
				v := vals[rng.IntN(len(vals))]
				b.AddTag([]byte(k), []byte(v))
				set[k] = v
			}
			b.AddFloat([]byte("v"), float64(i))
			b.EndRow(int64(batchNo*1000 + i))
		}
		for i := range b.Rows {
			r := &b.Rows[i]
			if err := s.Admit(&b, r); err != nil {
				t.Fatalf("admit row %d of batch %d: %v", i, batchNo, err)
			}
			key := seriesModelKey(&b, r)
			sid, ok := model[key]
			if !ok {
				sid = uint32(len(model))
				model[key] = sid
			}
			want = append(want, sid)
			var tg []string
			for _, x := range b.RowTags(r) {
				tg = append(tg, b.Str(x.Key)+"="+b.Str(x.Value))
			}
			rowsDesc = append(rowsDesc, strings.Join(tg, ","))
			shape = columnar.RowShape(shape[:0], &b, r)
			same := i > 0 && string(shape) == string(prevShape) // Append's promise, kept
			switch mode {
			case "own":
				h.Append(&b, r, same)
			case "given":
				var hash uint64
				hash, hashBuf = RowTagsHash(hashBuf, &b, r)
				h.AppendHashed(&b, r, same, hash)
			case "wrong":
				var hash uint64
				hash, hashBuf = RowTagsHash(hashBuf, &b, r)
				if rng.IntN(3) == 0 {
					// Another row's series' hash, or one of none.
					if len(h.seriesByHash) > 0 && rng.IntN(2) == 0 {
						for k := range h.seriesByHash {
							hash = k
							break
						}
					} else {
						hash = rng.Uint64()
					}
					wrong++
				}
				h.AppendHashed(&b, r, same, hash)
			}
			shape, prevShape = prevShape, shape
		}
	}
	if mode == "wrong" && wrong == 0 {
		t.Fatal("no wrong hash was given")
	}
	if !poisoned {
		t.Fatal("the collisions were never planted")
	}
	if h.Len() != len(want) {
		t.Fatalf("head holds %d rows, appended %d", h.Len(), len(want))
	}
	if h.Series() != len(model) {
		t.Fatalf("head has %d series, the model %d", h.Series(), len(model))
	}
	for i, sid := range want {
		if h.series[i] != sid {
			t.Fatalf("row %d (%s): series %d, want %d (%d series in all)", i, rowsDesc[i], h.series[i], sid, len(model))
		}
	}
}

// seriesModelKey is row r's tag set, canonical: keys sorted, a repeated
// key's last value.
func seriesModelKey(b *columnar.Batch, r *columnar.Row) string {
	set := map[string]string{}
	for _, t := range b.RowTags(r) {
		set[b.Str(t.Key)] = b.Str(t.Value)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%q=%q,", k, set[k])
	}
	return sb.String()
}

// TestHeadSeriesByHashRepeatedKey: a row naming a key twice has as many
// tags as a series with one more key, and each of its tags matches that
// series' values; it must not be taken for it, even when its hash names
// that series.
func TestHeadSeriesByHashRepeatedKey(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	for i, tags := range [][2][2]string{
		{{"dc", "a"}, {"host", "b"}}, // series 0
		{{"dc", "a"}, {"dc", "a"}},   // series 1: {dc=a}
		{{"dc", "a"}, {"dc", "a"}},   // series 1 again, after the collisions
	} {
		b.Reset()
		b.StartRow([]byte("cpu"), 1)
		for _, kv := range tags {
			b.AddTag([]byte(kv[0]), []byte(kv[1]))
		}
		b.AddFloat([]byte("v"), 1)
		b.EndRow(int64(i))
		if err := s.Admit(&b, &b.Rows[0]); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			for k := range h.seriesByHash {
				h.seriesByHash[k] = 0 // every hash names series 0
			}
		}
		h.Append(&b, &b.Rows[0], false)
		if want := min(uint32(i), 1); h.series[i] != want {
			t.Fatalf("row %d %v: series %d, want %d", i, tags, h.series[i], want)
		}
	}
}
