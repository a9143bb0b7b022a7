package exec

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
)

// mayHold, which lets a head skip rows by the range of their values, says
// false only when no value in the range passes: checked against pass (the
// row test the PostgreSQL oracles check) over random sets of values — ints,
// ints compared as doubles, uints (up to 2^64-1, beyond int64's order) and
// uints compared as doubles (negative, fractional and rounded constants),
// doubles with NaN, infinities and both zeros — for every comparison and
// constants in, at and beyond the values. For
// the order comparisons it is exact: a set holds its own bounds, so the
// range can pass exactly when one of them does.
func TestFieldFilterMayHold(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 9))
	ops := []sql.BinaryOp{sql.OpEq, sql.OpNe, sql.OpLt, sql.OpLe, sql.OpGt, sql.OpGe}
	floats := []float64{math.Inf(-1), -2.5, math.Copysign(0, -1), 0, 1, 2.5, math.Inf(1), math.NaN()}
	// uints on both sides of 2^63 and at 2^64-1, where a signed order
	// and float64 rounding (2^64-1 and 2^64-2 both become 2^64) differ.
	uints := []uint64{0, 1, 2, 3, 5, 1 << 53, 1<<53 + 1, 1<<63 - 1, 1 << 63, 1<<63 + 1, math.MaxUint64 - 1, math.MaxUint64}
	uintFloats := []float64{math.Inf(-1), -1, -0.5, math.Copysign(0, -1), 0, 0.5, 1, 2.5, 5, 1 << 53, 1<<53 + 2, 1 << 63, 1 << 64, math.Inf(1), math.NaN()}
	skipped, exact := 0, 0
	perType := map[string]int{}
	for range 40000 {
		f := fieldFilter{name: "v", op: ops[rng.IntN(len(ops))]}
		fv := columnar.FieldVector{Name: "v"}
		n := rng.IntN(5)
		kind := ""
		switch rng.IntN(5) {
		case 0:
			kind, f.typ, f.i = "int", columnar.FieldInt, int64(rng.IntN(13)-6)
		case 1:
			kind, f.typ, f.asFloat, f.f = "int as double", columnar.FieldInt, true, float64(rng.IntN(25)-12)/2
		case 2:
			kind, f.typ, f.u = "uint", columnar.FieldUint, uints[rng.IntN(len(uints))]
		case 3:
			kind, f.typ, f.asFloat, f.f = "uint as double", columnar.FieldUint, true, uintFloats[rng.IntN(len(uintFloats))]
		default:
			kind, f.typ, f.f = "double", columnar.FieldFloat, floats[rng.IntN(len(floats))]
		}
		fv.Type = f.typ
		for range n {
			switch f.typ {
			case columnar.FieldInt:
				fv.I = append(fv.I, int64(rng.IntN(11)-5))
			case columnar.FieldUint:
				fv.U = append(fv.U, uints[rng.IntN(len(uints))])
			default:
				fv.F = append(fv.F, floats[rng.IntN(len(floats))])
			}
		}
		// The range of the set, as a head's zone keeps it.
		r := segment.FieldRange{Type: f.typ}
		var lo, hi float64
		for k := range n {
			if f.typ == columnar.FieldUint { // exact, in uint64's order
				v := fv.U[k]
				if !r.Values || v < r.Min {
					r.Min = v
				}
				if !r.Values || v > r.Max {
					r.Max = v
				}
				r.Values = true
				continue
			}
			v := 0.0
			if f.typ == columnar.FieldInt {
				v = float64(fv.I[k])
			} else {
				v = fv.F[k]
			}
			if math.IsNaN(v) {
				r.NaN = true
				continue
			}
			if !r.Values || v < lo {
				lo = v
			}
			if !r.Values || v > hi {
				hi = v
			}
			r.Values = true
		}
		switch f.typ {
		case columnar.FieldInt:
			r.Min, r.Max = uint64(int64(lo)), uint64(int64(hi))
		case columnar.FieldFloat:
			r.Min, r.Max = math.Float64bits(lo), math.Float64bits(hi)
		}
		some := false
		for k := range n {
			some = some || f.pass(&fv, int32(k))
		}
		got := f.mayHold(r)
		if some && !got {
			t.Fatalf("%+v over %v %v %v (range %+v): a value passes, mayHold says none can", f, fv.I, fv.U, fv.F, r)
		}
		if f.op != sql.OpEq && f.op != sql.OpNe {
			if got != some {
				t.Fatalf("%+v over %v %v %v (range %+v): mayHold %v, a value passes: %v", f, fv.I, fv.U, fv.F, r, got, some)
			}
			exact++
		}
		if !got {
			skipped++
			perType[kind]++
		}
	}
	if skipped < 4000 || exact < 10000 {
		t.Fatalf("only %d ranges ruled out, %d checked exactly", skipped, exact)
	}
	for _, k := range []string{"int", "int as double", "uint", "uint as double", "double"} {
		if perType[k] < 500 {
			t.Fatalf("only %d ranges of %s filters ruled out (by kind: %v)", perType[k], k, perType)
		}
	}
	// Another type than the filter reads: no claim.
	f := fieldFilter{name: "v", typ: columnar.FieldInt, op: sql.OpGt, i: 5}
	if !f.mayHold(segment.FieldRange{Type: columnar.FieldFloat}) || !f.mayHold(segment.FieldRange{Type: columnar.FieldUint}) {
		t.Fatal("a range of another type ruled out")
	}
	f = fieldFilter{name: "v", typ: columnar.FieldUint, op: sql.OpGt, u: 5}
	if !f.mayHold(segment.FieldRange{Type: columnar.FieldInt}) {
		t.Fatal("a range of another type ruled out")
	}
	// The row filter asks every conjunct on the field, and nothing of
	// other fields.
	rf := rowFilter([]fieldFilter{
		{name: "v", typ: columnar.FieldInt, op: sql.OpGt, i: 5},
		{name: "v", typ: columnar.FieldInt, op: sql.OpLt, i: 9},
	})
	ints := func(lo, hi int64) segment.FieldRange {
		return segment.FieldRange{Type: columnar.FieldInt, Values: true, Min: uint64(lo), Max: uint64(hi)}
	}
	for _, c := range []struct {
		name   string
		lo, hi int64
		want   bool
	}{{"v", 0, 5, false}, {"v", 9, 20, false}, {"v", 0, 6, true}, {"v", 8, 20, true}, {"w", 0, 1, true}} {
		if got := rf.MayPass(c.name, ints(c.lo, c.hi)); got != c.want {
			t.Errorf("MayPass(%s, %d..%d) = %v", c.name, c.lo, c.hi, got)
		}
	}
}
