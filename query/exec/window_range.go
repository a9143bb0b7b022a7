package exec

import (
	"math"
	"sort"

	"github.com/siltdb/silt/query/sql"
)

// rangeFrame holds the bounds of RANGE frames with an offset in one
// partition: the rows whose ORDER BY key lies within the offset of the
// current row's, found by binary search over the partition's sorted,
// non-NULL keys. As in PostgreSQL, NULL keys (sorted together at one end)
// are never within an offset of a non-NULL key, and a NULL key's offset
// bounds are its NULL peers; overflowing the key's range takes in every
// row on that side. PostgreSQL moves a frame's start and end only
// forward from one row to the next, which matters when month offsets
// make the bounds go back (from December 30 a month back is November 30,
// from December 31 also November 30, at an earlier time of day): so do
// the bounds here.
type rangeFrame struct {
	key        *vec
	desc       bool
	perm       []int
	nnLo, nnHi int   // positions of the non-NULL keys
	lo, hi     []int // by position less the partition's start; NULL keys' unset
}

// rangeTarget is the key value a bound reaches, in the key's type.
type rangeTarget struct {
	i int64 // int64 and timestamp keys
	u uint64
	f float64
}

func newRangeFrame(key *vec, desc bool, f sql.Frame, perm []int, ps, pe int) *rangeFrame {
	r := &rangeFrame{key: key, desc: desc, perm: perm, nnLo: ps, nnHi: pe}
	for r.nnLo < pe && r.isNull(perm[r.nnLo]) {
		r.nnLo++
	}
	for r.nnHi > r.nnLo && r.isNull(perm[r.nnHi-1]) {
		r.nnHi--
	}
	offset := func(b sql.FrameBoundKind) bool { return b == sql.BoundPreceding || b == sql.BoundFollowing }
	if offset(f.Start) {
		r.lo = make([]int, pe-ps)
		last := r.nnLo
		for j := r.nnLo; j < r.nnHi; j++ {
			last = max(last, r.first(r.target(j, f.StartOff, f.Start == sql.BoundFollowing)))
			r.lo[j-ps] = last
		}
	}
	if offset(f.End) {
		r.hi = make([]int, pe-ps)
		last := r.nnLo
		for j := r.nnLo; j < r.nnHi; j++ {
			last = max(last, r.end(r.target(j, f.EndOff, f.End == sql.BoundFollowing)))
			r.hi[j-ps] = last
		}
	}
	return r
}

func (r *rangeFrame) isNull(k int) bool { return r.key.typ == sql.TypeNull || r.key.isNull(k) }

// null reports whether position j's key is NULL.
func (r *rangeFrame) null(j int) bool { return r.isNull(r.perm[j]) }

// target is position j's key moved by off: towards the rows after it in
// the sort order when after (FOLLOWING), before it otherwise (PRECEDING).
// Descending order moves the value the other way. A result outside the
// key's range saturates at its end, which every key is within.
func (r *rangeFrame) target(j int, off sql.Value, after bool) rangeTarget {
	add := after != r.desc
	k := r.perm[j]
	var t rangeTarget
	switch r.key.typ {
	case sql.TypeInt64:
		v, d := r.key.i[k], off.Int
		if add {
			if v > math.MaxInt64-d {
				t.i = math.MaxInt64
			} else {
				t.i = v + d
			}
		} else if v < math.MinInt64+d {
			t.i = math.MinInt64
		} else {
			t.i = v - d
		}
	case sql.TypeUint64:
		v, d := r.key.u[k], uint64(off.Int)
		switch {
		case add && v > math.MaxUint64-d:
			t.u = math.MaxUint64
		case add:
			t.u = v + d
		case v < d:
			t.u = 0
		default:
			t.u = v - d
		}
	case sql.TypeFloat64:
		if add {
			t.f = r.key.f[k] + off.Float
		} else {
			t.f = r.key.f[k] - off.Float
		}
	case sql.TypeTimestamp:
		sign := int64(1)
		iv := off.Interval
		if !add {
			iv = sql.Interval{Months: -iv.Months, Days: -iv.Days, Nanos: -iv.Nanos}
			sign = -1
		}
		v, ok := sql.AddInterval(r.key.i[k], iv)
		switch {
		case ok:
			t.i = v
		case sign > 0:
			t.i = math.MaxInt64
		default:
			t.i = math.MinInt64
		}
	}
	return t
}

// cmp compares position j's key with t in the sort order: negative when
// the key comes before t.
func (r *rangeFrame) cmp(j int, t rangeTarget) int {
	k := r.perm[j]
	var c int
	switch r.key.typ {
	case sql.TypeInt64, sql.TypeTimestamp:
		c = cmpOrdered(r.key.i[k], t.i)
	case sql.TypeUint64:
		c = cmpOrdered(r.key.u[k], t.u)
	case sql.TypeFloat64:
		c = cmpFloat(r.key.f[k], t.f)
	}
	if r.desc {
		return -c
	}
	return c
}

// first is the first position whose key is not before t: a frame's start.
func (r *rangeFrame) first(t rangeTarget) int {
	return r.nnLo + sort.Search(r.nnHi-r.nnLo, func(i int) bool { return r.cmp(r.nnLo+i, t) >= 0 })
}

// end is one past the last position whose key is not after t: a frame's
// end.
func (r *rangeFrame) end(t rangeTarget) int {
	return r.nnLo + sort.Search(r.nnHi-r.nnLo, func(i int) bool { return r.cmp(r.nnLo+i, t) > 0 })
}
