package sql

import "math"

// emptyRange is the canonical empty TimeRange.
var emptyRange = TimeRange{Min: 0, Max: 0}

// timeRange derives a conservative time range from a WHERE predicate, and
// the residual predicate: the top-level conjuncts that the range does not
// enforce exactly.
func timeRange(w Expr) (TimeRange, Expr) {
	if w == nil {
		return FullRange, nil
	}
	r := rangeOf(w)
	var keep []Expr
	for _, c := range Conjuncts(w) {
		if !exactTimeBound(c) {
			keep = append(keep, c)
		}
	}
	switch len(keep) {
	case 0:
		return r, nil
	case 1:
		return r, keep[0]
	}
	return r, &Logic{Op: OpAnd, Args: keep}
}

// timeBound returns the range a comparison `time op constant` allows, and
// whether e is such a comparison.
func timeBound(e Expr) (TimeRange, bool, bool) {
	b, ok := e.(*Binary)
	if !ok || !b.Op.Comparison() {
		return FullRange, false, false
	}
	col, ok := b.L.(*ColumnRef)
	if !ok || col.Column.Kind != KindTime {
		return FullRange, false, false
	}
	c, ok := b.R.(*Const)
	if !ok || c.Value.Null || c.Value.Type != TypeTimestamp {
		return FullRange, false, false
	}
	t := c.Value.Int
	switch b.Op {
	case OpGe:
		return TimeRange{Min: t, Max: math.MaxInt64}, true, true
	case OpGt:
		if t == math.MaxInt64 {
			return emptyRange, true, true
		}
		return TimeRange{Min: t + 1, Max: math.MaxInt64}, true, true
	case OpLt:
		if t == math.MinInt64 {
			return emptyRange, true, true
		}
		// time < MaxInt64 cannot be told from no bound: not exact.
		return TimeRange{Min: math.MinInt64, Max: t}, t != math.MaxInt64, true
	case OpLe:
		return TimeRange{Min: math.MinInt64, Max: satAdd(t, 1)}, true, true
	case OpEq:
		return TimeRange{Min: t, Max: satAdd(t, 1)}, true, true
	}
	return FullRange, false, true // <>
}

func exactTimeBound(e Expr) bool {
	_, exact, _ := timeBound(e)
	return exact
}

// rangeOf is a superset of the times for which e can be TRUE.
func rangeOf(e Expr) TimeRange {
	switch x := e.(type) {
	case *Const:
		if x.Value.Null || x.Value.Type == TypeBool && !x.Value.Bool {
			return emptyRange
		}
	case *Binary:
		r, _, _ := timeBound(x)
		return r
	case *InList:
		col, ok := x.X.(*ColumnRef)
		if !ok || col.Column.Kind != KindTime || x.Not {
			return FullRange
		}
		r := emptyRange
		for _, v := range x.Values {
			r = hull(r, TimeRange{Min: v.Int, Max: satAdd(v.Int, 1)})
		}
		return r
	case *Logic:
		if x.Op == OpAnd {
			r := FullRange
			for _, a := range x.Args {
				r = intersect(r, rangeOf(a))
			}
			return r
		}
		r := emptyRange
		for _, a := range x.Args {
			r = hull(r, rangeOf(a))
		}
		return r
	}
	return FullRange
}

func intersect(a, b TimeRange) TimeRange {
	r := TimeRange{Min: max(a.Min, b.Min), Max: min(a.Max, b.Max)}
	if r.IsEmpty() {
		return emptyRange
	}
	return r
}

func hull(a, b TimeRange) TimeRange {
	switch {
	case a.IsEmpty():
		return b
	case b.IsEmpty():
		return a
	}
	return TimeRange{Min: min(a.Min, b.Min), Max: max(a.Max, b.Max)}
}
