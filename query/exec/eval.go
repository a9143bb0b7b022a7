package exec

import (
	"fmt"
	"math"
	"strings"

	"github.com/siltdb/silt/query/sql"
)

var (
	errDivZero     = sql.ErrDivisionByZero
	errBigintRange = dataError("22003", "bigint out of range")
	errUintRange   = dataError("22003", "uint64 out of range")
)

// dataError is an error a query meets in the values it computes (an
// overflow, a logarithm of zero): the query's, not Silt's, so it carries
// PostgreSQL's SQLSTATE for the condition, as the planner's errors do,
// and the endpoints answer it as a client error.
func dataError(state, msg string) *sql.Error {
	return &sql.Error{Code: sql.CodeInvalid, SQLState: state, Message: msg}
}

// evalCtx is where expressions are evaluated: row context (the table's
// rows at sel) or group context (n groups with their key and aggregate
// vectors).
type evalCtx struct {
	n    int
	tbl  *table
	sel  []int
	all  bool         // sel is every row of tbl in order: columns need no gather
	cols map[int]*vec // gathered columns by Column.Index

	keys []*vec
	aggs []*vec
	// run computes correlated subqueries in group context (in row
	// context, tbl.corr does).
	run *relRun
}

// runner is what computes the context's correlated subqueries.
func (c *evalCtx) runner() *relRun {
	if c.run != nil {
		return c.run
	}
	if c.tbl != nil {
		return c.tbl.corr
	}
	return nil
}

func (c *evalCtx) column(col sql.Column) (*vec, error) {
	if v, ok := c.cols[col.Index]; ok {
		return v, nil
	}
	if c.tbl == nil {
		return nil, fmt.Errorf("exec: column %q outside row context", col.Name)
	}
	src, err := c.tbl.vector(col)
	if err != nil {
		return nil, err
	}
	v := src
	if !c.all {
		v = src.gather(c.sel)
	}
	if c.cols == nil {
		c.cols = map[int]*vec{}
	}
	c.cols[col.Index] = v
	return v, nil
}

// eval evaluates e over every row of the context, column at a time.
func (c *evalCtx) eval(e sql.Expr) (*vec, error) {
	switch x := e.(type) {
	case *sql.ColumnRef:
		return c.column(x.Column)
	case *sql.Const:
		return constVec(x.Value, c.n), nil
	case *sql.KeyRef:
		if x.Key >= len(c.keys) {
			return nil, fmt.Errorf("exec: key %d outside group context", x.Key)
		}
		return c.keys[x.Key], nil
	case *sql.AggRef:
		if x.Agg >= len(c.aggs) {
			return nil, fmt.Errorf("exec: aggregate %d outside group context", x.Agg)
		}
		return c.aggs[x.Agg], nil
	case *sql.Unary:
		v, err := c.eval(x.X)
		if err != nil {
			return nil, err
		}
		return unary(x, v)
	case *sql.Binary:
		l, err := c.eval(x.L)
		if err != nil {
			return nil, err
		}
		if k, ok := x.R.(*sql.Const); ok && x.Op.Comparison() && !k.Value.Null {
			if v := compareConst(x.Op, l, k.Value); v != nil {
				return v, nil
			}
		}
		r, err := c.eval(x.R)
		if err != nil {
			return nil, err
		}
		if x.Op.Comparison() {
			return compare(x.Op, l, r), nil
		}
		return arith(x.Op, x.T, l, r)
	case *sql.Logic:
		return c.logic(x)
	case *sql.Cast:
		v, err := c.eval(x.X)
		if err != nil {
			return nil, err
		}
		return cast(v, x.To)
	case *sql.InList:
		v, err := c.eval(x.X)
		if err != nil {
			return nil, err
		}
		return inList(x, v), nil
	case *sql.Match:
		v, err := c.eval(x.X)
		if err != nil {
			return nil, err
		}
		return match(x, v), nil
	case *sql.IsNull:
		v, err := c.eval(x.X)
		if err != nil {
			return nil, err
		}
		out := newVec(sql.TypeBool, v.n)
		for k := range out.b {
			out.b[k] = v.isNull(k) != x.Not
		}
		return out, nil
	case *sql.Func:
		return c.evalFunc(x)
	case *sql.Case:
		return c.caseExpr(x)
	case *sql.Subquery:
		r := c.runner()
		if r == nil || !x.Correlated() {
			return nil, fmt.Errorf("exec: subquery %s outside a query's rows", x)
		}
		return r.correlated(x, c) // correlated.go
	case *sql.DateBin:
		v, err := c.eval(x.X)
		if err != nil {
			return nil, err
		}
		out := &vec{typ: sql.TypeTimestamp, n: v.n, null: v.null, i: make([]int64, v.n)}
		for k, t := range v.i {
			out.i[k] = x.Bucket.Start(t)
		}
		return out, nil
	}
	return nil, fmt.Errorf("exec: unsupported expression %T", e)
}

// logic evaluates AND/OR with SQL's three-valued truth tables. Like
// PostgreSQL, it evaluates an operand only for rows the earlier operands
// left undecided, so that "i = 0 OR 10 / i > 1" does not divide by zero.
func (c *evalCtx) logic(x *sql.Logic) (*vec, error) {
	out := newVec(sql.TypeBool, c.n)
	and := x.Op == sql.OpAnd
	for k := range out.b {
		out.b[k] = and
	}
	var null []bool
	var rows []int // undecided rows, when not all of them
	for i, a := range x.Args {
		sub := c
		if i > 0 {
			rows = rows[:0]
			for k := 0; k < c.n; k++ {
				if out.b[k] == and {
					rows = append(rows, k)
				}
			}
			if len(rows) == 0 {
				break
			}
			if len(rows) < c.n {
				sub = c.subset(rows)
			}
		}
		v, err := sub.eval(a)
		if err != nil {
			return nil, err
		}
		for j := 0; j < sub.n; j++ {
			k := j
			if sub != c {
				k = rows[j]
			}
			if v.isNull(j) {
				if null == nil {
					null = make([]bool, c.n)
				}
				null[k] = true
				continue
			}
			if v.b[j] != and { // FALSE in AND, TRUE in OR decides
				out.b[k] = v.b[j]
			}
		}
	}
	for k := range null {
		if null[k] && out.b[k] == and { // undecided: NULL
			out.setNull(k)
		}
	}
	return out, nil
}

// subset returns the context restricted to its rows idx.
func (c *evalCtx) subset(idx []int) *evalCtx {
	if c.keys != nil || c.aggs != nil || c.tbl == nil {
		g := gatherCtx(c, idx)
		g.tbl = c.tbl
		return g
	}
	sel := make([]int, len(idx))
	for j, k := range idx {
		if c.all {
			sel[j] = k
		} else {
			sel[j] = c.sel[k]
		}
	}
	return &evalCtx{n: len(idx), tbl: c.tbl, sel: sel}
}

func unary(x *sql.Unary, v *vec) (*vec, error) {
	out := newVec(x.T, v.n)
	out.null = v.null
	switch {
	case x.Op == sql.OpNot:
		for k, b := range v.b {
			out.b[k] = !b
		}
	case x.T == sql.TypeInt64:
		for k, a := range v.i {
			if a == math.MinInt64 && !v.isNull(k) {
				return nil, errBigintRange
			}
			out.i[k] = -a
		}
	case x.T == sql.TypeFloat64:
		for k, a := range v.f {
			out.f[k] = -a
		}
	default:
		return nil, fmt.Errorf("exec: cannot negate %s", x.T)
	}
	return out, nil
}

func orNull(a, b []bool, n int) []bool {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := make([]bool, n)
	for k := range out {
		out[k] = a[k] || b[k]
	}
	return out
}

// compare evaluates a comparison of two vectors of the same type.
func compare(op sql.BinaryOp, l, r *vec) *vec {
	n := l.n
	out := &vec{typ: sql.TypeBool, n: n, b: make([]bool, n), null: orNull(l.null, r.null, n)}
	switch l.typ {
	case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval:
		cmpLoop(op, out.b, l.i, r.i, cmpOrdered[int64])
	case sql.TypeUint64:
		cmpLoop(op, out.b, l.u, r.u, cmpOrdered[uint64])
	case sql.TypeFloat64:
		cmpLoop(op, out.b, l.f, r.f, cmpFloat)
	default:
		for k := 0; k < n; k++ {
			if out.null != nil && out.null[k] {
				continue
			}
			out.b[k] = opHolds(op, compareAt(l, k, r, k))
		}
	}
	return out
}

// compareConst compares a vector with a constant without broadcasting it:
// typed loops for numbers and timestamps, one comparison per dictionary
// entry for tags. It returns nil for the other cases.
func compareConst(op sql.BinaryOp, l *vec, c sql.Value) *vec {
	n := l.n
	out := &vec{typ: sql.TypeBool, n: n, b: make([]bool, n), null: l.null}
	switch {
	case l.typ == sql.TypeFloat64:
		cmpConstLoop(op, out.b, l.f, c.Float, cmpFloat)
	case l.typ == sql.TypeInt64 || l.typ == sql.TypeTimestamp:
		cmpConstLoop(op, out.b, l.i, c.Int, cmpOrdered[int64])
	case l.typ == sql.TypeInterval:
		d, _ := c.Interval.Fixed()
		cmpConstLoop(op, out.b, l.i, d, cmpOrdered[int64])
	case l.typ == sql.TypeUint64:
		cmpConstLoop(op, out.b, l.u, c.Uint, cmpOrdered[uint64])
	case l.ids != nil:
		hit := make([]bool, len(l.dict))
		for j, s := range l.dict {
			hit[j] = opHolds(op, strings.Compare(s, c.Str))
		}
		for k, id := range l.ids {
			if id >= 0 {
				out.b[k] = hit[id]
			}
		}
	default:
		return nil
	}
	return out
}

func cmpConstLoop[T any](op sql.BinaryOp, out []bool, a []T, b T, cmp func(x, y T) int) {
	switch op {
	case sql.OpEq:
		for k := range out {
			out[k] = cmp(a[k], b) == 0
		}
	case sql.OpNe:
		for k := range out {
			out[k] = cmp(a[k], b) != 0
		}
	case sql.OpLt:
		for k := range out {
			out[k] = cmp(a[k], b) < 0
		}
	case sql.OpLe:
		for k := range out {
			out[k] = cmp(a[k], b) <= 0
		}
	case sql.OpGt:
		for k := range out {
			out[k] = cmp(a[k], b) > 0
		}
	case sql.OpGe:
		for k := range out {
			out[k] = cmp(a[k], b) >= 0
		}
	}
}

func cmpLoop[T any](op sql.BinaryOp, out []bool, a, b []T, cmp func(x, y T) int) {
	switch op {
	case sql.OpEq:
		for k := range out {
			out[k] = cmp(a[k], b[k]) == 0
		}
	case sql.OpNe:
		for k := range out {
			out[k] = cmp(a[k], b[k]) != 0
		}
	case sql.OpLt:
		for k := range out {
			out[k] = cmp(a[k], b[k]) < 0
		}
	case sql.OpLe:
		for k := range out {
			out[k] = cmp(a[k], b[k]) <= 0
		}
	case sql.OpGt:
		for k := range out {
			out[k] = cmp(a[k], b[k]) > 0
		}
	case sql.OpGe:
		for k := range out {
			out[k] = cmp(a[k], b[k]) >= 0
		}
	}
}

func opHolds(op sql.BinaryOp, c int) bool {
	switch op {
	case sql.OpEq:
		return c == 0
	case sql.OpNe:
		return c != 0
	case sql.OpLt:
		return c < 0
	case sql.OpLe:
		return c <= 0
	case sql.OpGt:
		return c > 0
	case sql.OpGe:
		return c >= 0
	}
	return false
}

// arith evaluates + - * / % on two vectors of type t. Errors (overflow,
// division by zero) are raised only for rows where both operands are
// non-NULL, as PostgreSQL never evaluates the operator on a NULL.
func arith(op sql.BinaryOp, t sql.Type, l, r *vec) (*vec, error) {
	n := l.n
	out := newVec(t, n)
	out.null = orNull(l.null, r.null, n)
	live := func(k int) bool { return out.null == nil || !out.null[k] }
	switch t {
	case sql.TypeInt64:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			a, b := l.i[k], r.i[k]
			var x int64
			switch op {
			case sql.OpAdd:
				x = a + b
				if (b > 0 && x < a) || (b < 0 && x > a) {
					return nil, errBigintRange
				}
			case sql.OpSub:
				x = a - b
				if (b < 0 && x < a) || (b > 0 && x > a) {
					return nil, errBigintRange
				}
			case sql.OpMul:
				x = a * b
				if a != 0 && (x/a != b || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64)) {
					return nil, errBigintRange
				}
			case sql.OpDiv:
				if b == 0 {
					return nil, errDivZero
				}
				if a == math.MinInt64 && b == -1 {
					return nil, errBigintRange
				}
				x = a / b
			case sql.OpMod:
				if b == 0 {
					return nil, errDivZero
				}
				if b != -1 {
					x = a % b
				}
			}
			out.i[k] = x
		}
	case sql.TypeUint64:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			a, b := l.u[k], r.u[k]
			var x uint64
			switch op {
			case sql.OpAdd:
				x = a + b
				if x < a {
					return nil, errUintRange
				}
			case sql.OpSub:
				if b > a {
					return nil, errUintRange
				}
				x = a - b
			case sql.OpMul:
				x = a * b
				if a != 0 && x/a != b {
					return nil, errUintRange
				}
			case sql.OpDiv:
				if b == 0 {
					return nil, errDivZero
				}
				x = a / b
			case sql.OpMod:
				if b == 0 {
					return nil, errDivZero
				}
				x = a % b
			}
			out.u[k] = x
		}
	case sql.TypeFloat64:
		a, b, x := l.f, r.f, out.f
		switch op {
		case sql.OpAdd:
			for k := range x {
				x[k] = a[k] + b[k]
			}
		case sql.OpSub:
			for k := range x {
				x[k] = a[k] - b[k]
			}
		case sql.OpMul:
			for k := range x {
				x[k] = a[k] * b[k]
			}
		case sql.OpDiv, sql.OpMod:
			for k := range x {
				if !live(k) {
					continue
				}
				if b[k] == 0 {
					return nil, errDivZero
				}
				if op == sql.OpDiv {
					x[k] = a[k] / b[k]
				} else {
					x[k] = math.Mod(a[k], b[k])
				}
			}
		}
	default:
		return nil, fmt.Errorf("exec: arithmetic on %s", t)
	}
	return out, nil
}

// cast converts between numeric types as sql.Cast documents.
func cast(v *vec, to sql.Type) (*vec, error) {
	if v.typ == to {
		return v, nil
	}
	if !(v.typ.Numeric() && to.Numeric()) {
		return castOther(v, to)
	}
	out := newVec(to, v.n)
	out.null = v.null
	for k := 0; k < v.n; k++ {
		if v.isNull(k) {
			continue
		}
		switch {
		case to == sql.TypeFloat64 && v.typ == sql.TypeInt64:
			out.f[k] = float64(v.i[k])
		case to == sql.TypeFloat64 && v.typ == sql.TypeUint64:
			out.f[k] = float64(v.u[k])
		case to == sql.TypeInt64 && v.typ == sql.TypeFloat64:
			r := math.RoundToEven(v.f[k])
			if math.IsNaN(r) || r < -9.223372036854775808e18 || r >= 9.223372036854775808e18 {
				return nil, errBigintRange
			}
			out.i[k] = int64(r)
		case to == sql.TypeInt64 && v.typ == sql.TypeUint64:
			if v.u[k] > math.MaxInt64 {
				return nil, errBigintRange
			}
			out.i[k] = int64(v.u[k])
		case to == sql.TypeUint64 && v.typ == sql.TypeInt64:
			if v.i[k] < 0 {
				return nil, errUintRange
			}
			out.u[k] = uint64(v.i[k])
		case to == sql.TypeUint64 && v.typ == sql.TypeFloat64:
			r := math.RoundToEven(v.f[k])
			if math.IsNaN(r) || r < 0 || r >= 1.8446744073709551616e19 {
				return nil, errUintRange
			}
			out.u[k] = uint64(r)
		default:
			return nil, fmt.Errorf("exec: cannot cast %s to %s", v.typ, to)
		}
	}
	return out, nil
}

// inListHashed is the list length above which IN looks values up in a
// hash set rather than comparing with each.
const inListHashed = 16

// inList evaluates x [NOT] IN (values). For a dictionary-encoded tag it
// tests each dictionary entry once.
func inList(x *sql.InList, v *vec) *vec {
	out := &vec{typ: sql.TypeBool, n: v.n, b: make([]bool, v.n), null: v.null}
	cvs := make([]*vec, len(x.Values))
	for j, c := range x.Values {
		cvs[j] = constVec(c, 1)
	}
	one := func(k int) bool {
		for _, cv := range cvs {
			if compareAt(v, k, cv, 0) == 0 {
				return true
			}
		}
		return false
	}
	if len(cvs) > inListHashed {
		// A long list (IN (SELECT ...)) is looked up by encoded value.
		set := make(map[string]struct{}, len(cvs))
		var buf []byte
		for _, cv := range cvs {
			buf = appendKey(buf[:0], cv, 0)
			set[string(buf)] = struct{}{}
		}
		in := func(w *vec, k int) bool {
			buf = appendKey(buf[:0], w, k)
			_, ok := set[string(buf)]
			return ok
		}
		one = func(k int) bool { return in(v, k) }
		if v.ids != nil {
			one = func(k int) bool { // k: a dictionary entry
				return in(&vec{typ: sql.TypeString, n: 1, s: v.dict[k : k+1]}, 0)
			}
		}
	}
	var hit []bool
	if v.ids != nil {
		hit = make([]bool, len(v.dict))
		for j, s := range v.dict {
			if len(cvs) > inListHashed {
				hit[j] = one(j)
				continue
			}
			for _, c := range x.Values {
				if c.Str == s {
					hit[j] = true
					break
				}
			}
		}
	}
	var null []bool
	for k := 0; k < v.n; k++ {
		if v.isNull(k) {
			continue
		}
		var h bool
		if hit != nil {
			h = hit[v.ids[k]]
		} else {
			h = one(k)
		}
		if !h && x.HasNull {
			if null == nil {
				null = make([]bool, v.n)
				if v.null != nil {
					copy(null, v.null)
				}
			}
			null[k] = true
		}
		out.b[k] = h != x.Not
	}
	if null != nil {
		out.null = null
	}
	return out
}

// match evaluates a regular expression match; tags match each dictionary
// entry once.
func match(x *sql.Match, v *vec) *vec {
	out := &vec{typ: sql.TypeBool, n: v.n, b: make([]bool, v.n), null: v.null}
	if v.ids != nil {
		hit := make([]bool, len(v.dict))
		for j, s := range v.dict {
			hit[j] = x.Re.MatchString(s) != x.Not
		}
		for k, id := range v.ids {
			if id >= 0 {
				out.b[k] = hit[id]
			}
		}
		return out
	}
	for k := 0; k < v.n; k++ {
		if !v.isNull(k) {
			out.b[k] = x.Re.MatchString(v.s[k]) != x.Not
		}
	}
	return out
}
