package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// partColumns runs ScanRollupParts over h and returns, per column the
// batches held (besides time and tags), its values as strings: one per
// window and group, each row's key (window and tag values) first, sorted.
func partColumns(t *testing.T, h *Head, cols []string, want PartSet, keep []bool, minT, maxT, width int64) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := h.ScanRollupParts(cols, want, keep, minT, maxT, width, 97, func(b *columnar.ColumnBatch) error {
		for i := range b.Len {
			var key strings.Builder
			fmt.Fprint(&key, b.Time[i])
			for _, tv := range b.Tags {
				v := "-"
				if id := tv.IDs[i]; id >= 0 {
					v = tv.Dict[id]
				}
				fmt.Fprintf(&key, " %s=%s", tv.Name, v)
			}
			for _, fv := range b.Fields {
				var v string
				switch {
				case fv.Null != nil && fv.Null[i]:
					v = "null"
				case fv.Type == columnar.FieldFloat:
					v = fmt.Sprint(math.Float64bits(fv.F[i]))
				case fv.Type == columnar.FieldInt:
					v = fmt.Sprint(fv.I[i])
				default:
					v = fmt.Sprint(fv.U[i])
				}
				out[fv.Name] = append(out[fv.Name], key.String()+" "+v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// A fold asked for some parts only (ScanRollupParts: TSBS's max per
// minute asks for count and max) passes on exactly those columns of every
// field, besides the row count, each bit for bit what the fold of every
// part passes on for it: with and without late and duplicate points, for
// tags kept or none, ranges reaching into the unsealed tail, and widths
// the blocks' partials nest in (taken from them) and not (folded from
// the rows without the running mean and M2 when PartM2 is not asked for).
func TestScanRollupPartsMatchesAll(t *testing.T) {
	sets := [][]string{
		{PartMax}, {PartMin, PartSum}, {PartFirst, PartFirstTime}, {PartLast, PartLastTime}, {PartSum, PartM2}, {},
	}
	for _, late := range []bool{false, true} {
		_, h, _ := foldHead(t, 3*blockRows+4321, late, 5)
		for _, cols := range [][]string{{"host", "f", "i", "u", "later", "msg"}, {"f", "i"}} {
			for _, width := range []int64{10e9, 60e9, 3600e9} {
				for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {120e9, 1800e9}} {
					minT, maxT := r[0], r[1]
					if minT != math.MinInt64 {
						minT = WindowStart(minT, width)
						maxT = max(WindowStart(maxT, width), minT+width) // never empty
					}
					all := partColumns(t, h, cols, AllParts, nil, minT, maxT, width)
					if len(all[RollupRows]) == 0 && r[0] == math.MinInt64 {
						t.Fatalf("late=%v cols=%v width=%d: no partials", late, cols, width)
					}
					for _, set := range sets {
						name := fmt.Sprintf("late=%v cols=%v width=%d range=[%d,%d) parts=%v", late, cols, width, minT, maxT, set)
						names := []string{RollupRows} // never nil: nil asks for all
						for _, c := range set {
							names = append(names, RollupColumn("f", c))
						}
						want := PartsOf(names)
						got := partColumns(t, h, cols, want, nil, minT, maxT, width)
						wantCols := []string{RollupRows}
						for _, f := range []string{"f", "i", "u", "later"} {
							if !slices.Contains(cols, f) {
								continue
							}
							for _, p := range RollupParts {
								if p == PartCount || slices.Contains(set, p) {
									wantCols = append(wantCols, RollupColumn(f, p))
								}
							}
						}
						var gotCols []string
						for c := range got {
							gotCols = append(gotCols, c)
						}
						slices.Sort(gotCols)
						slices.Sort(wantCols)
						if !slices.Equal(gotCols, wantCols) {
							t.Fatalf("%s: columns %v, want %v", name, gotCols, wantCols)
						}
						for _, c := range wantCols {
							if !slices.Equal(got[c], all[c]) {
								t.Fatalf("%s: column %s differs from the fold of every part:\n got %v\nwant %v", name, c, got[c][:min(5, len(got[c]))], all[c][:min(5, len(all[c]))])
							}
						}
					}
				}
			}
		}
	}
}

// PartsOf reads the parts out of rollup column names, whatever the
// field's name holds, and always includes the count; nil asks for all.
func TestPartsOf(t *testing.T) {
	if PartsOf(nil) != AllParts {
		t.Fatalf("PartsOf(nil) = %b, want every part", PartsOf(nil))
	}
	got := PartsOf([]string{"host", RollupRows, RollupColumn("a:b", PartMax), RollupColumn("x", PartLastTime)})
	for _, p := range RollupParts {
		if want := p == PartCount || p == PartMax || p == PartLastTime; got.Has(p) != want {
			t.Fatalf("PartsOf: has %s = %v, want %v", p, got.Has(p), want)
		}
	}
}

// foldOrdered without moments (foldOrderedPlain, and foldDense for runs
// whose values are all present) gives every part but the mean and M2 bit
// for bit as foldOrdered with them, the reference: over random runs of
// random columns of every type, with values missing or not, and the
// values that tell orders and signs apart — -0, NaN, ±Inf, integers whose
// sum leaves the type.
func TestFoldOrderedPlainMatchesMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	floats := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, 0.1, 3}
	ints := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, math.MaxInt64 / 2, 42}
	uints := []uint64{0, 1, math.MaxUint64, math.MaxUint64 / 2, 42}
	dense := 0
	for iter := range 20000 {
		n := 1 + rng.IntN(150)
		num := make([]uint64, n)
		valid := make([]uint64, (n+63)/64)
		times := make([]int64, n)
		typ := []columnar.FieldType{columnar.FieldFloat, columnar.FieldInt, columnar.FieldUint}[iter%3]
		holes := rng.IntN(3) == 0
		for i := range num {
			times[i] = int64(i) * 10
			switch typ {
			case columnar.FieldFloat:
				v := rng.NormFloat64() * 100
				if rng.IntN(4) == 0 {
					v = floats[rng.IntN(len(floats))]
				}
				num[i] = math.Float64bits(v)
			case columnar.FieldInt:
				v := rng.Int64N(2000) - 1000
				if rng.IntN(6) == 0 {
					v = ints[rng.IntN(len(ints))]
				}
				num[i] = uint64(v)
			default:
				v := rng.Uint64N(1 << 20)
				if rng.IntN(6) == 0 {
					v = uints[rng.IntN(len(uints))]
				}
				num[i] = v
			}
			if !holes || rng.IntN(5) != 0 {
				valid[i>>6] |= 1 << (i & 63)
			}
		}
		lo := rng.IntN(n)
		hi := lo + rng.IntN(n-lo+1)
		if allSet(valid, lo, hi) && lo < hi {
			dense++
		}
		var want, got partial
		foldOrdered(&want, typ, num, valid, lo, hi, times, true)
		foldOrdered(&got, typ, num, valid, lo, hi, times, false)
		want.mean, want.m2 = 0, 0
		if got != want {
			t.Fatalf("type %v, run [%d,%d) of %d (holes %v): without moments %+v, want %+v", typ, lo, hi, n, holes, got, want)
		}
	}
	if dense < 1000 {
		t.Fatalf("only %d runs with every value present", dense)
	}
}

// allSet agrees with a bit-by-bit test, across word boundaries.
func TestAllSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		valid := []uint64{^uint64(0), ^uint64(0), ^uint64(0)}
		if rng.IntN(2) == 0 {
			i := rng.IntN(192)
			valid[i>>6] &^= 1 << (i & 63)
		}
		lo := rng.IntN(192)
		hi := lo + rng.IntN(192-lo+1)
		want := true
		for i := lo; i < hi; i++ {
			want = want && valid[i>>6]&(1<<(i&63)) != 0
		}
		if got := allSet(valid, lo, hi); got != want {
			t.Fatalf("allSet(%x, %d, %d) = %v, want %v", valid, lo, hi, got, want)
		}
	}
}

// foldColumns folds the rows of seg in [minT, maxT) at width with
// FoldRollupsParts (want) and returns its columns as partColumns does.
func foldColumns(t *testing.T, seg *Segment, cols []string, want PartSet, minT, maxT, width int64) map[string][]string {
	t.Helper()
	var tags []string
	for _, c := range cols {
		if slices.Contains(seg.Info.Tags, c) {
			tags = append(tags, c)
		}
	}
	var fields []columnar.FieldSchema
	for _, f := range seg.Info.Fields {
		if slices.Contains(cols, f.Name) {
			fields = append(fields, f)
		}
	}
	out := map[string][]string{}
	err := FoldRollupsParts(tags, fields, []int64{width}, want, 97, func(feeds []func(*columnar.ColumnBatch) error) error {
		return seg.ScanRowGroupsRange(cols, nil, minT, maxT, 0, seg.NumRowGroups(), feeds[0])
	}, func(b *columnar.ColumnBatch) error {
		for i := range b.Len {
			var key strings.Builder
			fmt.Fprint(&key, b.Time[i])
			for _, tv := range b.Tags {
				v := "-"
				if id := tv.IDs[i]; id >= 0 {
					v = tv.Dict[id]
				}
				fmt.Fprintf(&key, " %s=%s", tv.Name, v)
			}
			for _, fv := range b.Fields {
				var v string
				switch {
				case fv.Null != nil && fv.Null[i]:
					v = "null"
				case fv.Type == columnar.FieldFloat:
					v = fmt.Sprint(math.Float64bits(fv.F[i]))
				case fv.Type == columnar.FieldInt:
					v = fmt.Sprint(fv.I[i])
				default:
					v = fmt.Sprint(fv.U[i])
				}
				out[fv.Name] = append(out[fv.Name], key.String()+" "+v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// A segment's fold asked for some parts only (FoldRollupsParts: a ragged
// piece of TSBS's hourly means asks for count and sum) passes on exactly
// those columns, each bit for bit what the fold of every part passes on,
// its rows folded without the running mean and M2 when PartM2 is not
// asked for.
func TestFoldRollupsPartsMatchesAll(t *testing.T) {
	_, seg := pagedSegment(t)
	sets := [][]string{{PartMax}, {PartMin, PartSum}, {PartFirst, PartFirstTime}, {PartLast, PartLastTime}, {PartSum, PartM2}, {}}
	cols := []string{"host", "usage", "n", "u"}
	for _, width := range []int64{60e9, 3600e9} {
		for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {1200e9, 7200e9}} {
			all := foldColumns(t, seg, cols, AllParts, r[0], r[1], width)
			if len(all[RollupRows]) == 0 {
				t.Fatalf("width=%d range=%v: no partials", width, r)
			}
			for _, set := range sets {
				name := fmt.Sprintf("width=%d range=%v parts=%v", width, r, set)
				names := []string{RollupRows}
				for _, c := range set {
					names = append(names, RollupColumn("usage", c))
				}
				got := foldColumns(t, seg, cols, PartsOf(names), r[0], r[1], width)
				wantCols := []string{RollupRows}
				for _, f := range []string{"usage", "n", "u"} {
					for _, p := range RollupParts {
						if p == PartCount || slices.Contains(set, p) {
							wantCols = append(wantCols, RollupColumn(f, p))
						}
					}
				}
				var gotCols []string
				for c := range got {
					gotCols = append(gotCols, c)
				}
				slices.Sort(gotCols)
				slices.Sort(wantCols)
				if !slices.Equal(gotCols, wantCols) {
					t.Fatalf("%s: columns %v, want %v", name, gotCols, wantCols)
				}
				for _, c := range wantCols {
					if !slices.Equal(got[c], all[c]) {
						t.Fatalf("%s: column %s differs from the fold of every part:\n got %v\nwant %v", name, c, got[c][:min(5, len(got[c]))], all[c][:min(5, len(all[c]))])
					}
				}
			}
		}
	}
}
