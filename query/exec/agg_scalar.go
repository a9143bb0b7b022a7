package exec

import (
	"context"

	"github.com/siltdb/silt/query/sql"
)

// scalarMinMax computes min or max of a double or bigint argument over
// all rows in one typed pass, without group ids; ok is false for other
// types. Doubles order as PostgreSQL orders them (NaN above everything),
// and of equal values the first is kept, as the grouped path does. The
// pass runs in blocks of ctxCheckRows rows with a check of ctx between
// them (blockEnd).
func scalarMinMax(ctx context.Context, rc *evalCtx, a sql.Aggregate) (*vec, bool, error) {
	if t := a.Arg.Type(); t != sql.TypeFloat64 && t != sql.TypeInt64 {
		return nil, false, nil
	}
	x, err := rc.eval(a.Arg)
	if err != nil {
		return nil, false, err
	}
	out := newVec(x.typ, 1)
	isMax := a.Func == sql.AggMax
	found := false
	switch x.typ {
	case sql.TypeFloat64:
		var best float64
		n := len(x.f)
		if x.null == nil && n > 0 {
			best, found = x.f[0], true
			if isMax {
				for lo, hi := 1, 1; lo < n; lo = hi {
					if hi, err = blockEnd(ctx, lo, n); err != nil {
						return nil, false, err
					}
					for _, v := range x.f[lo:hi] {
						if v > best || v != v && best == best {
							best = v
						}
					}
				}
			} else {
				for lo, hi := 1, 1; lo < n; lo = hi {
					if hi, err = blockEnd(ctx, lo, n); err != nil {
						return nil, false, err
					}
					for _, v := range x.f[lo:hi] {
						if v < best || best != best && v == v {
							best = v
						}
					}
				}
			}
			out.f[0] = best
			break
		}
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, false, err
			}
			for j, v := range x.f[lo:hi] {
				if x.null != nil && x.null[lo+j] {
					continue
				}
				switch {
				case !found:
					best, found = v, true
				case isMax:
					// NaN is the largest: it replaces any number, and
					// nothing replaces it.
					if v > best || v != v && best == best {
						best = v
					}
				default:
					if v < best || best != best && v == v {
						best = v
					}
				}
			}
		}
		out.f[0] = best
	case sql.TypeInt64:
		var best int64
		n := len(x.i)
		if x.null == nil && n > 0 {
			found = true
			best = x.i[0]
			for lo, hi := 0, 0; lo < n; lo = hi {
				if hi, err = blockEnd(ctx, lo, n); err != nil {
					return nil, false, err
				}
				if isMax {
					best = max(best, maxInt64s(x.i[lo:hi]))
				} else {
					best = min(best, minInt64s(x.i[lo:hi]))
				}
			}
		} else {
			for lo, hi := 0, 0; lo < n; lo = hi {
				if hi, err = blockEnd(ctx, lo, n); err != nil {
					return nil, false, err
				}
				for j, v := range x.i[lo:hi] {
					if x.null != nil && x.null[lo+j] {
						continue
					}
					switch {
					case !found:
						best, found = v, true
					case isMax:
						best = max(best, v)
					default:
						best = min(best, v)
					}
				}
			}
		}
		out.i[0] = best
	default:
		return nil, false, nil
	}
	if !found {
		out.setNull(0)
	}
	return out, true, nil
}

// scalarSumInt computes sum of a bigint argument over all rows in one
// pass, with PostgreSQL's error when the sum leaves bigint, checking ctx
// between blocks of rows.
func scalarSumInt(ctx context.Context, rc *evalCtx, a sql.Aggregate) (*vec, bool, error) {
	x, err := rc.eval(a.Arg)
	if err != nil {
		return nil, false, err
	}
	if x.typ != sql.TypeInt64 {
		return nil, false, nil
	}
	var sum int64
	var overflow int64 // sign bit set once an addition overflowed
	found := false
	n := len(x.i)
	for lo, hi := 0, 0; lo < n; lo = hi {
		if hi, err = blockEnd(ctx, lo, n); err != nil {
			return nil, false, err
		}
		if x.null == nil {
			for _, v := range x.i[lo:hi] {
				r := sum + v
				// Overflow: both operands' signs differ from the result's.
				overflow |= (sum ^ r) & (v ^ r)
				sum = r
			}
			found = true
			continue
		}
		for j, v := range x.i[lo:hi] {
			if x.null[lo+j] {
				continue
			}
			r := sum + v
			overflow |= (sum ^ r) & (v ^ r)
			sum = r
			found = true
		}
	}
	if overflow < 0 {
		return nil, true, errBigintRange
	}
	out := newVec(sql.TypeInt64, 1)
	out.i[0] = sum
	if !found {
		out.setNull(0)
	}
	return out, true, nil
}
