package exec

import (
	"math"
	"strings"
	"time"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// vec is a column of values of one type, dense over the rows (or groups) of
// the current evaluation context. Which slice is used depends on typ:
// TypeInt64 and TypeTimestamp use i, TypeUint64 u, TypeFloat64 f, TypeBool
// b, TypeString s or, dictionary-encoded (tags), ids into dict (-1 NULL).
// null marks NULLs; nil means none.
type vec struct {
	typ  sql.Type
	n    int
	null []bool
	i    []int64
	u    []uint64
	f    []float64
	b    []bool
	s    []string
	ids  []int32
	dict []string
}

func (v *vec) isNull(k int) bool { return v.null != nil && v.null[k] }

func (v *vec) str(k int) string {
	if v.ids != nil {
		if id := v.ids[k]; id >= 0 {
			return v.dict[id]
		}
		return ""
	}
	return v.s[k]
}

// newVec allocates a vector of type t and length n.
func newVec(t sql.Type, n int) *vec {
	v := &vec{typ: t, n: n}
	switch t {
	case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval:
		v.i = make([]int64, n)
	case sql.TypeUint64:
		v.u = make([]uint64, n)
	case sql.TypeFloat64:
		v.f = make([]float64, n)
	case sql.TypeBool:
		v.b = make([]bool, n)
	case sql.TypeString:
		v.s = make([]string, n)
	case sql.TypeNull:
		v.null = make([]bool, n)
		for k := range v.null {
			v.null[k] = true
		}
	}
	return v
}

// constVec broadcasts a constant to n rows.
func constVec(c sql.Value, n int) *vec {
	v := newVec(c.Type, n)
	if c.Null {
		v.null = make([]bool, n)
		for k := range v.null {
			v.null[k] = true
		}
		return v
	}
	if c.Type == sql.TypeInterval {
		d, _ := c.Interval.Fixed() // the planner keeps months out of run-time intervals
		for k := range v.i {
			v.i[k] = d
		}
		return v
	}
	for k := 0; k < n; k++ {
		switch c.Type {
		case sql.TypeInt64, sql.TypeTimestamp:
			v.i[k] = c.Int
		case sql.TypeUint64:
			v.u[k] = c.Uint
		case sql.TypeFloat64:
			v.f[k] = c.Float
		case sql.TypeBool:
			v.b[k] = c.Bool
		case sql.TypeString:
			v.s[k] = c.Str
		}
	}
	return v
}

// setNull marks row k NULL.
func (v *vec) setNull(k int) {
	if v.null == nil {
		v.null = make([]bool, v.n)
	}
	v.null[k] = true
}

// gather returns v's rows at idx.
func (v *vec) gather(idx []int) *vec {
	out := &vec{typ: v.typ, n: len(idx), dict: v.dict}
	if v.null != nil {
		out.null = make([]bool, len(idx))
		for k, j := range idx {
			out.null[k] = v.null[j]
		}
	}
	switch {
	case v.i != nil:
		out.i = gatherT(v.i, idx)
	case v.u != nil:
		out.u = gatherT(v.u, idx)
	case v.f != nil:
		out.f = gatherT(v.f, idx)
	case v.b != nil:
		out.b = gatherT(v.b, idx)
	case v.s != nil:
		out.s = gatherT(v.s, idx)
	case v.ids != nil:
		out.ids = gatherT(v.ids, idx)
	}
	return out
}

func gatherT[T any](src []T, idx []int) []T {
	out := make([]T, len(idx))
	for k, j := range idx {
		out[k] = src[j]
	}
	return out
}

// value returns row k as a Result value.
func (v *vec) value(k int) any {
	if v.isNull(k) || v.typ == sql.TypeNull {
		return nil
	}
	switch v.typ {
	case sql.TypeInt64:
		return v.i[k]
	case sql.TypeTimestamp:
		return time.Unix(0, v.i[k]).UTC()
	case sql.TypeUint64:
		return v.u[k]
	case sql.TypeFloat64:
		return v.f[k]
	case sql.TypeBool:
		return v.b[k]
	case sql.TypeString:
		return v.str(k)
	case sql.TypeInterval:
		return formatNanosInterval(v.i[k])
	}
	return nil
}

// compareAt orders non-NULL rows a of v and b of w (same type), with NaN
// above every other float as in PostgreSQL and strings by bytes.
func compareAt(v *vec, a int, w *vec, b int) int {
	switch v.typ {
	case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval:
		return cmpOrdered(v.i[a], w.i[b])
	case sql.TypeUint64:
		return cmpOrdered(v.u[a], w.u[b])
	case sql.TypeFloat64:
		return cmpFloat(v.f[a], w.f[b])
	case sql.TypeBool:
		x, y := v.b[a], w.b[b]
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case sql.TypeString:
		return strings.Compare(v.str(a), w.str(b))
	}
	return 0
}

func cmpOrdered[T int64 | uint64 | int32](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// cmpFloat orders floats as PostgreSQL: NaN equals NaN and is above all.
func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	}
	return -1
}

// resultType maps a plan type to a Result column type.
func resultType(t sql.Type) string {
	switch t {
	case sql.TypeBool:
		return query.TypeBoolean
	case sql.TypeInt64:
		return query.TypeInteger
	case sql.TypeUint64:
		return query.TypeUnsigned
	case sql.TypeFloat64:
		return query.TypeFloat
	case sql.TypeTimestamp:
		return query.TypeTimestamp
	}
	return query.TypeString
}
