package exec

import (
	"cmp"
	"math"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
)

// fieldFilter is a top-level conjunct `field op constant` over a numeric
// field (double, bigint or uint64), tested on each scanned batch before its rows are materialized: a
// query like `SELECT * … WHERE usage_user > 90` then keeps the rows that
// pass, not every row of its time range. The conjunct stays in the
// residual (Filter re-evaluates it), so the test only has to never reject
// a row PostgreSQL would keep.
type fieldFilter struct {
	name string
	typ  columnar.FieldType
	op   sql.BinaryOp
	i    int64
	u    uint64
	f    float64
	// asFloat: a bigint or uint64 field compared as double precision with
	// a double constant (`usage_user > 90.0`, the implicit cast PostgreSQL
	// applies; a uint64 field with a negative or fractional constant, or
	// with a bigint that is not a literal, as the planner's numericCommon
	// has it): its values are converted, exactly as the cast does.
	asFloat bool
}

// fieldFilters extracts the conjuncts of residual it can test on raw
// batches: a bigint field against a bigint constant, a uint64 field
// against a uint64 constant (a literal integer that is not negative), a
// double field against a double constant, and a bigint or uint64 field
// cast to double against a double constant.
func fieldFilters(residual sql.Expr) []fieldFilter {
	if residual == nil {
		return nil
	}
	conj := []sql.Expr{residual}
	if l, ok := residual.(*sql.Logic); ok && l.Op == sql.OpAnd {
		conj = l.Args
	}
	var out []fieldFilter
	for _, e := range conj {
		b, ok := e.(*sql.Binary)
		if !ok || !b.Op.Comparison() {
			continue
		}
		l, asFloat := b.L, false
		if cast, ok := l.(*sql.Cast); ok && cast.To == sql.TypeFloat64 {
			l, asFloat = cast.X, true
		}
		ref, isRef := l.(*sql.ColumnRef)
		c, isConst := b.R.(*sql.Const)
		if !isRef || !isConst || ref.Column.Kind != sql.KindField || c.Value.Null {
			continue
		}
		switch {
		case asFloat && c.Value.Type == sql.TypeFloat64:
			switch ref.Column.Type {
			case sql.TypeInt64:
				out = append(out, fieldFilter{name: ref.Column.Name, typ: columnar.FieldInt, op: b.Op, f: c.Value.Float, asFloat: true})
			case sql.TypeUint64:
				out = append(out, fieldFilter{name: ref.Column.Name, typ: columnar.FieldUint, op: b.Op, f: c.Value.Float, asFloat: true})
			}
		case asFloat:
		case ref.Column.Type == sql.TypeInt64 && c.Value.Type == sql.TypeInt64:
			out = append(out, fieldFilter{name: ref.Column.Name, typ: columnar.FieldInt, op: b.Op, i: c.Value.Int})
		case ref.Column.Type == sql.TypeUint64 && c.Value.Type == sql.TypeUint64:
			out = append(out, fieldFilter{name: ref.Column.Name, typ: columnar.FieldUint, op: b.Op, u: c.Value.Uint})
		case ref.Column.Type == sql.TypeFloat64 && c.Value.Type == sql.TypeFloat64:
			out = append(out, fieldFilter{name: ref.Column.Name, typ: columnar.FieldFloat, op: b.Op, f: c.Value.Float})
		}
	}
	return out
}

// pass reports whether row r of fv (nil: the batch lacks the field, so
// the row is NULL there) can satisfy the comparison.
func (f *fieldFilter) pass(fv *columnar.FieldVector, r int32) bool {
	if fv == nil || fv.IsNull(int(r)) {
		return false // NULL compared is NULL, which WHERE rejects
	}
	switch {
	case f.asFloat && f.typ == columnar.FieldUint:
		return opHolds(f.op, cmpFloat(float64(fv.U[r]), f.f))
	case f.asFloat:
		return opHolds(f.op, cmpFloat(float64(fv.I[r]), f.f))
	case f.typ == columnar.FieldInt:
		return opHolds(f.op, cmp.Compare(fv.I[r], f.i))
	case f.typ == columnar.FieldUint:
		return opHolds(f.op, cmp.Compare(fv.U[r], f.u))
	}
	return opHolds(f.op, cmpFloat(fv.F[r], f.f))
}

// rowFilter lets a source test raw rows on ff before it reads their other
// columns (nil when ff is empty).
func rowFilter(ff []fieldFilter) *segment.RowFilter {
	if len(ff) == 0 {
		return nil
	}
	rf := &segment.RowFilter{}
	for _, f := range ff {
		rf.Fields = append(rf.Fields, f.name)
	}
	rf.Keep = func(b *columnar.ColumnBatch, out []int32) []int32 {
		// Called from several scan tasks at once: nothing shared is
		// written.
		var local [4]*columnar.FieldVector
		fv := local[:0]
		for k := range ff {
			fv = append(fv, batchField(b, ff[k].name, ff[k].typ))
		}
	rows:
		for r := range int32(b.Len) {
			for k := range ff {
				if !ff[k].pass(fv[k], r) {
					continue rows
				}
			}
			out = append(out, r)
		}
		return out
	}
	rf.MayPass = func(name string, r segment.FieldRange) bool {
		for k := range ff {
			if ff[k].name == name && !ff[k].mayHold(r) {
				return false
			}
		}
		return true
	}
	return rf
}

// mayHold reports whether a value in r can satisfy the comparison: false
// only when none can (segment.RowFilter.MayPass). The comparisons order
// values totally (cmpFloat puts NaN above every number), so over the
// values in [min, max] a comparison with the constant holds somewhere
// exactly when it holds at the bound it favours.
func (f *fieldFilter) mayHold(r segment.FieldRange) bool {
	if r.Type != f.typ {
		return true // not the type pass reads: no claim
	}
	var lo, hi int // the bounds compared with the constant
	switch {
	// The conversion to double never reverses two values' order (it
	// rounds to nearest, a non-decreasing map), so the converted values
	// lie between the converted bounds.
	case f.asFloat && f.typ == columnar.FieldUint:
		mn, mx := r.Uint()
		lo, hi = cmpFloat(float64(mn), f.f), cmpFloat(float64(mx), f.f)
	case f.asFloat:
		mn, mx := r.Int()
		lo, hi = cmpFloat(float64(mn), f.f), cmpFloat(float64(mx), f.f)
	case f.typ == columnar.FieldInt:
		mn, mx := r.Int()
		lo, hi = cmp.Compare(mn, f.i), cmp.Compare(mx, f.i)
	case f.typ == columnar.FieldUint:
		mn, mx := r.Uint()
		lo, hi = cmp.Compare(mn, f.u), cmp.Compare(mx, f.u)
	default:
		if r.NaN && opHolds(f.op, cmpFloat(math.NaN(), f.f)) {
			return true
		}
		mn, mx := r.Float()
		lo, hi = cmpFloat(mn, f.f), cmpFloat(mx, f.f)
	}
	if !r.Values {
		return false // no value (a NaN was dealt with above): NULLs fail
	}
	switch f.op {
	case sql.OpEq:
		return lo <= 0 && hi >= 0
	case sql.OpNe:
		return lo != 0 || hi != 0
	case sql.OpLt:
		return lo < 0
	case sql.OpLe:
		return lo <= 0
	case sql.OpGt:
		return hi > 0
	case sql.OpGe:
		return hi >= 0
	}
	return true
}
