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
// ints compared as doubles, doubles with NaN, infinities and both zeros —
// for every comparison and constants in, at and beyond the values. For
// the order comparisons it is exact: a set holds its own bounds, so the
// range can pass exactly when one of them does.
func TestFieldFilterMayHold(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 9))
	ops := []sql.BinaryOp{sql.OpEq, sql.OpNe, sql.OpLt, sql.OpLe, sql.OpGt, sql.OpGe}
	floats := []float64{math.Inf(-1), -2.5, math.Copysign(0, -1), 0, 1, 2.5, math.Inf(1), math.NaN()}
	skipped, exact := 0, 0
	for range 20000 {
		f := fieldFilter{name: "v", op: ops[rng.IntN(len(ops))]}
		fv := columnar.FieldVector{Name: "v"}
		n := rng.IntN(5)
		switch rng.IntN(3) {
		case 0:
			f.typ, f.i = columnar.FieldInt, int64(rng.IntN(13)-6)
		case 1:
			f.typ, f.intAsFloat, f.f = columnar.FieldInt, true, float64(rng.IntN(25)-12)/2
		default:
			f.typ, f.f = columnar.FieldFloat, floats[rng.IntN(len(floats))]
		}
		fv.Type = f.typ
		for range n {
			if f.typ == columnar.FieldInt {
				fv.I = append(fv.I, int64(rng.IntN(11)-5))
			} else {
				fv.F = append(fv.F, floats[rng.IntN(len(floats))])
			}
		}
		// The range of the set, as a head's zone keeps it.
		r := segment.FieldRange{Type: f.typ}
		var lo, hi float64
		for k := range n {
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
		if f.typ == columnar.FieldInt {
			r.Min, r.Max = uint64(int64(lo)), uint64(int64(hi))
		} else {
			r.Min, r.Max = math.Float64bits(lo), math.Float64bits(hi)
		}
		some := false
		for k := range n {
			some = some || f.pass(&fv, int32(k))
		}
		got := f.mayHold(r)
		if some && !got {
			t.Fatalf("%+v over %v %v (range %+v): a value passes, mayHold says none can", f, fv.I, fv.F, r)
		}
		if f.op != sql.OpEq && f.op != sql.OpNe {
			if got != some {
				t.Fatalf("%+v over %v %v (range %+v): mayHold %v, a value passes: %v", f, fv.I, fv.F, r, got, some)
			}
			exact++
		}
		if !got {
			skipped++
		}
	}
	if skipped < 2000 || exact < 5000 {
		t.Fatalf("only %d ranges ruled out, %d checked exactly", skipped, exact)
	}
	// Another type than the filter reads: no claim.
	f := fieldFilter{name: "v", typ: columnar.FieldInt, op: sql.OpGt, i: 5}
	if !f.mayHold(segment.FieldRange{Type: columnar.FieldFloat}) {
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
