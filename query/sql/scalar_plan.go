package sql

import (
	"math"
	"regexp"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Planning of CASE, COALESCE, NULLIF, GREATEST/LEAST, IS [NOT] DISTINCT
// FROM and the scalar functions (math, strings, time).

// markNumeric records that e has PostgreSQL type numeric (Silt computes
// it in float64 or, for sums of integers, int64): arithmetic with it is
// not integer arithmetic, and round() rounds it half away from zero.
func (p *planner) markNumeric(e Expr) Expr {
	if p.numeric == nil {
		p.numeric = map[Expr]bool{}
	}
	p.numeric[e] = true
	return e
}

// isNumeric reports whether e is of PostgreSQL type numeric: a decimal
// literal, a uint64 (numeric(20,0) in the oracle), a cast to numeric,
// sum/avg of integers, or arithmetic on one of those.
func (p *planner) isNumeric(e Expr) bool {
	if c, ok := e.(*Const); ok && c.lit == litDecimal {
		return true
	}
	return e.Type() == TypeUint64 || p.numeric[e]
}

// markInt4 records that e is a PostgreSQL integer (int4) rather than a
// bigint: sum of it is a bigint, not a numeric. Silt computes both in
// int64.
func (p *planner) markInt4(e Expr) Expr {
	if e.Type() != TypeInt64 {
		return e
	}
	if p.int4 == nil {
		p.int4 = map[Expr]bool{}
	}
	p.int4[e] = true
	return e
}

// isInt4 reports whether e is a PostgreSQL integer: an integer literal in
// its range, a cast to int/int4/smallint, length() and the like, or
// arithmetic and conditionals over those only.
func (p *planner) isInt4(e Expr) bool {
	if c, ok := e.(*Const); ok && c.lit == litInt {
		return c.Value.Int >= math.MinInt32 && c.Value.Int <= math.MaxInt32
	}
	return p.int4[e]
}

// int4IfAll marks e int4 when every non-NULL one of args is.
func (p *planner) int4IfAll(e Expr, args []Expr) Expr {
	if e.Type() != TypeInt64 {
		return e
	}
	for _, a := range args {
		if !isNullConst(a) && !p.isInt4(a) {
			return e
		}
	}
	return p.markInt4(e)
}

// markNaive records that e is a timestamp without time zone (a TIMESTAMP
// literal, or timestamptz AT TIME ZONE), for AT TIME ZONE's direction.
func (p *planner) markNaive(e Expr) Expr {
	if p.naive == nil {
		p.naive = map[Expr]bool{}
	}
	p.naive[e] = true
	return e
}

// naiveIf marks a bucketing of a timestamp without time zone as one too
// (date_trunc and date_bin of a timestamp give a timestamp).
func (p *planner) naiveIf(e Expr, err error, naive bool) (Expr, error) {
	if err == nil && naive {
		if c, ok := e.(*Const); ok {
			e = &Const{Value: c.Value} // constants may be shared
		}
		p.markNaive(e)
	}
	return e, err
}

// naiveIfAll marks e a timestamp without time zone when every non-NULL
// one of args is.
func (p *planner) naiveIfAll(e Expr, args []Expr) Expr {
	if e.Type() != TypeTimestamp {
		return e
	}
	for _, a := range args {
		if !isNullConst(a) && !p.naive[a] {
			return e
		}
	}
	return p.markNaive(e)
}

// commonType brings args to one type as PostgreSQL's CASE, COALESCE,
// GREATEST/LEAST do: unknown literals take the others' type (text when all
// are unknown), numbers widen to float64; other mixes are an error.
func (p *planner) commonType(args []Expr, what string, loc int32) ([]Expr, Type, error) {
	t := TypeNull
	var first Expr
	for _, a := range args {
		if isUnknownLit(a) {
			continue
		}
		at := a.Type()
		switch {
		case t == TypeNull:
			t, first = at, a
		case t == at:
		case t.numeric() && at.numeric():
			t = TypeFloat64
		default:
			return nil, 0, errAt(loc, CodeType, "42804", "%s types %s and %s cannot be matched", what, pgTypeName(first), pgTypeName(a))
		}
	}
	if t == TypeNull {
		t = TypeString
	}
	if t == TypeInterval {
		return nil, 0, unsupported(loc, "interval values in "+what, "")
	}
	out := make([]Expr, len(args))
	for i, a := range args {
		var err error
		switch {
		case a.Type() == t && !isUnknownLit(a):
			out[i] = a
		case isUnknownLit(a):
			out[i], err = p.cast(a, t, loc)
		default:
			out[i], err = p.forceTo(a, t, loc)
		}
		if err != nil {
			return nil, 0, err
		}
	}
	return out, t, nil
}

func (p *planner) caseExpr(ce *pg_query.CaseExpr, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := ce.Location
	var arg Expr
	if ce.Arg != nil {
		var err error
		if arg, err = sub(ce.Arg); err != nil {
			return nil, err
		}
	}
	var conds, results []Expr
	for _, n := range ce.Args {
		w := n.GetCaseWhen()
		if w == nil {
			return nil, unsupported(loc, "CASE form", "")
		}
		c, err := sub(w.Expr)
		if err != nil {
			return nil, err
		}
		if arg != nil {
			if c, err = p.compare(OpEq, arg, c, w.Location); err != nil {
				return nil, err
			}
		}
		if c, err = p.requireBool(c, "CASE/WHEN", w.Location); err != nil {
			return nil, err
		}
		r, err := sub(w.Result)
		if err != nil {
			return nil, err
		}
		conds, results = append(conds, c), append(results, r)
	}
	hasElse := ce.Defresult != nil
	if hasElse {
		e, err := sub(ce.Defresult)
		if err != nil {
			return nil, err
		}
		results = append(results, e)
	}
	results, t, err := p.commonType(results, "CASE", loc)
	if err != nil {
		return nil, err
	}
	out := &Case{T: t}
	if hasElse {
		out.Else = results[len(results)-1]
	}
	for i, c := range conds {
		if k, ok := c.(*Const); ok {
			if k.Value.Null || !k.Value.Bool {
				continue // never taken
			}
			if len(out.Whens) == 0 {
				return results[i], nil // always taken
			}
			out.Else = results[i]
			break
		}
		out.Whens = append(out.Whens, When{Cond: c, Then: results[i]})
	}
	if len(out.Whens) == 0 {
		if out.Else == nil {
			return &Const{Value: NullValue(t)}, nil
		}
		return out.Else, nil
	}
	if isNullConst(out.Else) {
		out.Else = nil
	}
	p.int4IfAll(out, results)
	p.naiveIfAll(out, results)
	return p.numericIfAny(out, results), nil
}

// numericIfAny marks e numeric when one of args is and none is a double
// precision (PostgreSQL resolves numeric with float8 to float8).
func (p *planner) numericIfAny(e Expr, args []Expr) Expr {
	if e.Type() != TypeFloat64 {
		return e
	}
	any := false
	for _, a := range args {
		if p.isFloat8(a) {
			return e
		}
		any = any || p.isNumeric(a)
	}
	if any {
		return p.markNumeric(e)
	}
	return e
}

// isFloat8 reports whether e is a PostgreSQL double precision: a float64
// that is not numeric (nor a NULL or unknown literal).
func (p *planner) isFloat8(e Expr) bool {
	return e.Type() == TypeFloat64 && !p.isNumeric(e) && !isUnknownLit(e)
}

func (p *planner) coalesce(args []Expr, loc int32) (Expr, error) {
	args, t, err := p.commonType(args, "COALESCE", loc)
	if err != nil {
		return nil, err
	}
	var keep []Expr
	for _, a := range args {
		if isNullConst(a) {
			continue
		}
		keep = append(keep, a)
		if _, ok := a.(*Const); ok {
			break // later arguments are never reached
		}
	}
	switch len(keep) {
	case 0:
		return &Const{Value: NullValue(t)}, nil
	case 1:
		return keep[0], nil
	}
	return p.naiveIfAll(p.int4IfAll(p.numericIfAny(&Func{Fn: FnCoalesce, Args: keep, T: t}, keep), keep), keep), nil
}

func (p *planner) minMax(mm *pg_query.MinMaxExpr, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	name, fn := "GREATEST", FnGreatest
	if mm.Op == pg_query.MinMaxOp_IS_LEAST {
		name, fn = "LEAST", FnLeast
	}
	args := make([]Expr, len(mm.Args))
	for i, n := range mm.Args {
		var err error
		if args[i], err = sub(n); err != nil {
			return nil, err
		}
	}
	args, t, err := p.commonType(args, name, mm.Location)
	if err != nil {
		return nil, err
	}
	var keep []Expr
	for _, a := range args {
		if !isNullConst(a) {
			keep = append(keep, a)
		}
	}
	switch len(keep) {
	case 0:
		return &Const{Value: NullValue(t)}, nil
	case 1:
		return keep[0], nil
	}
	allConst := true
	for _, a := range keep {
		_, ok := a.(*Const)
		allConst = allConst && ok
	}
	if allConst {
		best := keep[0].(*Const).Value
		for _, a := range keep[1:] {
			v := a.(*Const).Value
			c := compareValues(v, best)
			if fn == FnGreatest && c > 0 || fn == FnLeast && c < 0 {
				best = v
			}
		}
		return &Const{Value: best}, nil
	}
	return p.naiveIfAll(p.int4IfAll(p.numericIfAny(&Func{Fn: fn, Args: keep, T: t}, keep), keep), keep), nil
}

// comparable coerces l and r for = as compare does, without folding.
func (p *planner) comparable(l, r Expr, loc int32) (Expr, Expr, error) {
	c, err := p.compare(OpEq, l, r, loc)
	if err != nil {
		return nil, nil, err
	}
	if b, ok := c.(*Binary); ok {
		if _, lc := l.(*Const); lc {
			if _, rc := r.(*Const); !rc {
				return b.R, b.L, nil // compare put the constant on the right
			}
		}
		return b.L, b.R, nil
	}
	// Both constant (or one NULL): convert each to the other's type.
	lt, rt := l.Type(), r.Type()
	switch {
	case isUnknownLit(l) && isUnknownLit(r):
		if l, err = p.cast(l, TypeString, loc); err == nil {
			r, err = p.cast(r, TypeString, loc)
		}
	case isUnknownLit(l):
		l, err = p.cast(l, rt, loc)
	case isUnknownLit(r):
		r, err = p.cast(r, lt, loc)
	case lt.numeric() && rt.numeric():
		t := numericCommon(l, r, true)
		if l, err = p.forceTo(l, t, loc); err == nil {
			r, err = p.forceTo(r, t, loc)
		}
	}
	return l, r, err
}

func (p *planner) nullIf(l, r Expr, loc int32) (Expr, error) {
	cl, cr, err := p.comparable(l, r, loc)
	if err != nil {
		return nil, err
	}
	if isNullConst(cr) {
		return cl, nil
	}
	if isNullConst(cl) {
		return &Const{Value: NullValue(cl.Type())}, nil
	}
	if a, ok := cl.(*Const); ok {
		if b, ok := cr.(*Const); ok {
			if compareValues(a.Value, b.Value) == 0 {
				return &Const{Value: NullValue(cl.Type())}, nil
			}
			return a, nil
		}
	}
	return p.int4IfAll(p.numericIfAny(&Func{Fn: FnNullIf, Args: []Expr{cl, cr}, T: cl.Type()}, []Expr{l}), []Expr{l}), nil
}

func (p *planner) distinctFrom(l, r Expr, not bool, loc int32) (Expr, error) {
	switch {
	case isNullConst(l) && isNullConst(r):
		return &Const{Value: BoolValue(not)}, nil
	case isNullConst(r):
		return isNull(l, !not), nil
	case isNullConst(l):
		return isNull(r, !not), nil
	}
	cl, cr, err := p.comparable(l, r, loc)
	if err != nil {
		return nil, err
	}
	if a, ok := cl.(*Const); ok {
		if b, ok := cr.(*Const); ok {
			return &Const{Value: BoolValue((compareValues(a.Value, b.Value) == 0) == not)}, nil
		}
	}
	fn := FnDistinct
	if not {
		fn = FnNotDistinct
	}
	return &Func{Fn: fn, Args: []Expr{cl, cr}, T: TypeBool}, nil
}

// textArg brings a function argument to text: an unknown literal is read
// as text; another type is refused (PostgreSQL does not cast to text
// implicitly for function arguments).
func (p *planner) textArg(e Expr, loc int32) (Expr, bool) {
	if e.Type() == TypeString {
		if c, ok := e.(*Const); ok && c.lit != litNone {
			return &Const{Value: c.Value}, true
		}
		return e, true
	}
	if isUnknownLit(e) {
		x, err := p.cast(e, TypeString, loc)
		return x, err == nil
	}
	return nil, false
}

// intArg brings an integer argument to int64.
func (p *planner) intArg(e Expr, loc int32) (Expr, bool) {
	switch {
	case e.Type() == TypeInt64:
		if c, ok := e.(*Const); ok && c.lit != litNone {
			return &Const{Value: c.Value}, true
		}
		return e, true
	case isUnknownLit(e):
		x, err := p.cast(e, TypeInt64, loc)
		return x, err == nil
	}
	return nil, false
}

// floatArg brings a numeric argument to float64.
func (p *planner) floatArg(e Expr, loc int32) (Expr, bool) {
	if !e.Type().numeric() && !isUnknownLit(e) {
		return nil, false
	}
	x, err := p.cast(e, TypeFloat64, loc)
	return x, err == nil
}

// toText converts any value to text for concat and ||: as a cast would,
// except booleans, which print as t and f there (PostgreSQL's boolean
// output function, where a cast to text says true and false).
func (p *planner) toText(e Expr, loc int32) (Expr, error) {
	if e.Type() == TypeBool {
		if c, ok := e.(*Const); ok {
			if c.Value.Null {
				return &Const{Value: NullValue(TypeString)}, nil
			}
			return &Const{Value: StringValue(FormatBool(c.Value.Bool)[:1])}, nil
		}
		return &Case{T: TypeString, Whens: []When{
			{Cond: e, Then: &Const{Value: StringValue("t")}},
			{Cond: not(e), Then: &Const{Value: StringValue("f")}},
		}}, nil
	}
	if e.Type() == TypeString || isUnknownLit(e) {
		x, _ := p.textArg(e, loc)
		if x == nil {
			return p.cast(e, TypeString, loc)
		}
		return x, nil
	}
	if c, ok := e.(*Const); ok && !c.Value.Null {
		if s, ok := constText(c.Value); ok {
			return &Const{Value: StringValue(s)}, nil
		}
	}
	if e.Type() == TypeInterval {
		return nil, unsupported(-1, "interval values as text", "")
	}
	return &Cast{X: e, To: TypeString}, nil
}

// constText renders a constant as PostgreSQL's text output.
func constText(v Value) (string, bool) {
	if v.Null {
		return "", false
	}
	switch v.Type {
	case TypeString:
		return v.Str, true
	case TypeInt64:
		return IntValue(v.Int).String(), true
	case TypeUint64:
		return strings.TrimSuffix(v.String(), "::uint64"), true
	case TypeFloat64:
		return FormatFloat8(v.Float), true
	case TypeBool:
		return FormatBool(v.Bool), true
	case TypeTimestamp:
		return FormatTimestamptz(v.Int), true
	case TypeInterval:
		return FormatInterval(v.Interval.Months, v.Interval.Days, v.Interval.Nanos), true
	}
	return "", false
}

// scalarFunc plans the functions of the scalar dialect; ok is false for a
// name it does not know.
func (p *planner) scalarFunc(name string, fc *pg_query.FuncCall, args []Expr) (Expr, bool, error) {
	loc := fc.Location
	bad := func() (Expr, bool, error) { return nil, true, noFunc(loc, name, args) }
	mk := func(fn FuncKind, t Type, a ...Expr) (Expr, bool, error) {
		for _, x := range a {
			if isNullConst(x) {
				return &Const{Value: NullValue(t)}, true, nil
			}
		}
		return &Func{Fn: fn, Args: a, T: t}, true, nil
	}
	switch name {
	case "abs":
		if len(args) != 1 {
			return bad()
		}
		x := args[0]
		if x.Type() == TypeUint64 || isUnknownLit(x) {
			var ok bool
			if x, ok = p.floatArg(x, loc); !ok {
				return bad()
			}
		}
		if x.Type() != TypeInt64 && x.Type() != TypeFloat64 {
			return bad()
		}
		e, ok, err := mk(FnAbs, x.Type(), x)
		if e != nil && p.isNumeric(args[0]) {
			p.markNumeric(e)
		}
		if e != nil && p.isInt4(x) {
			p.markInt4(e)
		}
		return e, ok, err
	case "round":
		if len(args) == 2 {
			x, ok1 := p.floatArg(args[0], loc)
			d, ok2 := p.intArg(args[1], loc)
			if !ok1 || !ok2 {
				return bad()
			}
			e, ok, err := mk(FnRoundTo, TypeFloat64, x, d)
			if _, isF := e.(*Func); isF {
				p.markNumeric(e)
			}
			return e, ok, err
		}
		fallthrough
	case "ceil", "ceiling", "floor", "trunc", "ln", "log10", "sqrt", "exp", "sign", "cbrt":
		if len(args) != 1 && !(name == "log" && len(args) == 2) {
			return bad()
		}
		x, ok := p.floatArg(args[0], loc)
		if !ok {
			return bad()
		}
		fn := map[string]FuncKind{"round": FnRound, "ceil": FnCeil, "ceiling": FnCeil, "floor": FnFloor,
			"trunc": FnTrunc, "ln": FnLn, "log10": FnLog10, "sqrt": FnSqrt, "exp": FnExp, "sign": FnSign, "cbrt": FnCbrt}[name]
		e, ok, err := mk(fn, TypeFloat64, x)
		if f, isF := e.(*Func); isF && p.isNumeric(args[0]) {
			f.Numeric = fn == FnRound
			p.markNumeric(e)
		}
		return e, ok, err
	case "log":
		if len(args) == 1 {
			x, ok := p.floatArg(args[0], loc)
			if !ok {
				return bad()
			}
			return mk(FnLog10, TypeFloat64, x)
		}
		if len(args) != 2 {
			return bad()
		}
		b, ok1 := p.floatArg(args[0], loc)
		x, ok2 := p.floatArg(args[1], loc)
		if !ok1 || !ok2 {
			return bad()
		}
		return mk(FnLogBase, TypeFloat64, b, x)
	case "power", "pow":
		if len(args) != 2 {
			return bad()
		}
		x, ok1 := p.floatArg(args[0], loc)
		y, ok2 := p.floatArg(args[1], loc)
		if !ok1 || !ok2 {
			return bad()
		}
		e, ok, err := p.powerOf(x, y, loc)
		return e, ok, err
	case "mod":
		if len(args) != 2 {
			return bad()
		}
		e, err := p.arith("%", args[0], args[1], loc)
		if err != nil {
			return nil, true, noFunc(loc, name, args)
		}
		return e, true, nil
	case "lower", "upper", "length", "char_length", "character_length":
		if len(args) != 1 {
			return bad()
		}
		s, ok := p.textArg(args[0], loc)
		if !ok {
			return bad()
		}
		switch name {
		case "lower":
			return mk(FnLower, TypeString, s)
		case "upper":
			return mk(FnUpper, TypeString, s)
		}
		e, ok, err := mk(FnLength, TypeInt64, s)
		if e != nil {
			p.markInt4(e)
		}
		return e, ok, err
	case "substr", "substring":
		if len(args) != 2 && len(args) != 3 {
			return bad()
		}
		s, ok := p.textArg(args[0], loc)
		if !ok {
			return bad()
		}
		if args[1].Type() == TypeString && !isUnknownLit(args[1]) || isUnknownLit(args[1]) && !isNullConst(args[1]) {
			return nil, true, unsupported(loc, "substring with a regular expression", "")
		}
		a := []Expr{s}
		for _, x := range args[1:] {
			i, ok := p.intArg(x, loc)
			if !ok {
				return bad()
			}
			a = append(a, i)
		}
		return mk(FnSubstr, TypeString, a...)
	case "left", "right":
		if len(args) != 2 {
			return bad()
		}
		s, ok1 := p.textArg(args[0], loc)
		n, ok2 := p.intArg(args[1], loc)
		if !ok1 || !ok2 {
			return bad()
		}
		if name == "left" {
			return mk(FnLeft, TypeString, s, n)
		}
		return mk(FnRight, TypeString, s, n)
	case "concat":
		var a []Expr
		for _, x := range args {
			if isNullConst(x) {
				continue
			}
			t, err := p.toText(x, loc)
			if err != nil {
				return nil, true, err
			}
			a = append(a, t)
		}
		if len(a) == 0 {
			return &Const{Value: StringValue("")}, true, nil
		}
		return &Func{Fn: FnConcat, Args: a, T: TypeString}, true, nil
	case "replace", "split_part", "starts_with", "strpos":
		want := 3
		if name == "starts_with" || name == "strpos" {
			want = 2
		}
		if len(args) != want {
			return bad()
		}
		var a []Expr
		for i, x := range args {
			var y Expr
			var ok bool
			if name == "split_part" && i == 2 {
				y, ok = p.intArg(x, loc)
			} else {
				y, ok = p.textArg(x, loc)
			}
			if !ok {
				return bad()
			}
			a = append(a, y)
		}
		switch name {
		case "replace":
			return mk(FnReplace, TypeString, a...)
		case "split_part":
			if c, ok := a[2].(*Const); ok && !c.Value.Null && c.Value.Int == 0 {
				return nil, true, invalid(loc, "22023", "field position must not be zero")
			}
			return mk(FnSplitPart, TypeString, a...)
		case "strpos":
			e, ok, err := mk(FnStrpos, TypeInt64, a...)
			if e != nil {
				p.markInt4(e)
			}
			return e, ok, err
		}
		return mk(FnStartsWith, TypeBool, a...)
	case "btrim", "ltrim", "rtrim", "trim":
		if len(args) != 1 && len(args) != 2 {
			return bad()
		}
		var a []Expr
		for _, x := range args {
			y, ok := p.textArg(x, loc)
			if !ok {
				return bad()
			}
			a = append(a, y)
		}
		if len(a) == 1 {
			a = append(a, &Const{Value: StringValue(" ")})
		}
		fn := map[string]FuncKind{"btrim": FnBtrim, "trim": FnBtrim, "ltrim": FnLtrim, "rtrim": FnRtrim}[name]
		return mk(fn, TypeString, a...)
	case "regexp_replace":
		return p.regexpReplace(args, loc)
	case "extract", "date_part":
		return p.extract(name, args, loc)
	case "datepart":
		return p.extract("date_part", args, loc)
	case "timezone":
		return p.atTimeZone(args, loc)
	}
	return nil, false, nil
}

func (p *planner) powerOf(x, y Expr, loc int32) (Expr, bool, error) {
	if isNullConst(x) || isNullConst(y) {
		return &Const{Value: NullValue(TypeFloat64)}, true, nil
	}
	return &Func{Fn: FnPower, Args: []Expr{x, y}, T: TypeFloat64}, true, nil
}

func (p *planner) regexpReplace(args []Expr, loc int32) (Expr, bool, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, true, noFunc(loc, "regexp_replace", args)
	}
	s, ok := p.textArg(args[0], loc)
	if !ok {
		return nil, true, noFunc(loc, "regexp_replace", args)
	}
	var consts []string
	for _, a := range args[1:] {
		c, ok := a.(*Const)
		if !ok {
			return nil, true, unsupported(loc, "regexp_replace with a non-constant pattern, replacement or flags", "")
		}
		if c.Value.Null {
			return &Const{Value: NullValue(TypeString)}, true, nil
		}
		if c.Value.Type != TypeString {
			return nil, true, noFunc(loc, "regexp_replace", args)
		}
		consts = append(consts, c.Value.Str)
	}
	pat, repl := consts[0], consts[1]
	global, fold := false, ""
	if len(consts) == 3 {
		for _, f := range consts[2] {
			switch f {
			case 'g':
				global = true
			case 'i':
				fold = "(?i)"
			case 'c':
				fold = ""
			default:
				return nil, true, invalid(loc, "22023", "invalid regular expression option: %q", string(f))
			}
		}
	}
	re, err := regexp.Compile(fold + pat)
	if err != nil {
		return nil, true, invalid(loc, "2201B", "invalid regular expression: %v", err)
	}
	// PostgreSQL's replacement: \1..\9 are groups, \& the whole match, \\
	// a backslash. Go's template: ${1}, ${0}, $$ for a dollar.
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		ch := repl[i]
		switch {
		case ch == '$':
			b.WriteString("$$")
		case ch == '\\' && i+1 < len(repl):
			n := repl[i+1]
			switch {
			case n >= '1' && n <= '9':
				b.WriteString("${" + string(n) + "}")
				i++
			case n == '&':
				b.WriteString("${0}")
				i++
			case n == '\\':
				b.WriteByte('\\')
				i++
			default:
				b.WriteByte('\\')
			}
		default:
			b.WriteByte(ch)
		}
	}
	if isNullConst(s) {
		return &Const{Value: NullValue(TypeString)}, true, nil
	}
	return &Func{Fn: FnRegexpReplace, Args: []Expr{s}, T: TypeString, Re: re, Repl: b.String(), Global: global}, true, nil
}

// unitArg reads a constant unit or field name.
func unitArg(e Expr) (string, bool, bool) {
	c, ok := e.(*Const)
	if !ok || (c.Value.Type != TypeString && !c.Value.Null) {
		return "", false, false
	}
	if c.Value.Null {
		return "", true, true
	}
	return strings.ToLower(strings.TrimSpace(c.Value.Str)), false, true
}

func (p *planner) extract(name string, args []Expr, loc int32) (Expr, bool, error) {
	if len(args) != 2 {
		return nil, true, noFunc(loc, name, args)
	}
	unitName, null, ok := unitArg(args[0])
	if !ok {
		if args[0].Type() == TypeString {
			return nil, true, unsupported(loc, name+" with a non-constant field", "")
		}
		return nil, true, noFunc(loc, name, args)
	}
	src := args[1]
	var err error
	if isUnknownLit(src) && !isNullConst(src) {
		if src, err = p.cast(src, TypeTimestamp, loc); err != nil {
			return nil, true, err
		}
	}
	isIv := src.Type() == TypeInterval
	if src.Type() != TypeTimestamp && !isIv && !isNullConst(src) {
		return nil, true, noFunc(loc, name, args)
	}
	if null || isNullConst(src) {
		return &Const{Value: NullValue(TypeFloat64)}, true, nil
	}
	typName := "timestamp with time zone"
	if isIv {
		typName = "interval"
	}
	unit, ok := canonicalUnit(unitName)
	if !ok || !extractUnits[unit] {
		if name == "extract" {
			return nil, true, invalid(loc, "22023", "unit %q not recognized for type %s", unitName, typName)
		}
		return nil, true, invalid(loc, "22023", "unit %q not recognized for type %s", unitName, typName)
	}
	if isIv && !intervalUnits[unit] {
		return nil, true, unsupported(loc, "EXTRACT("+unit+" FROM interval)", "")
	}
	var out Expr
	if c, ok := src.(*Const); ok {
		if isIv {
			n, fixed := c.Value.Interval.Fixed()
			if !fixed || c.Value.Interval.Days != 0 {
				return nil, true, unsupported(loc, "EXTRACT from an interval constant", "")
			}
			out = &Const{Value: FloatValue(ExtractInterval(n, unit))}
		} else {
			out = &Const{Value: FloatValue(ExtractTime(c.Value.Int, unit))}
		}
	} else {
		out = &Func{Fn: FnExtract, Args: []Expr{src}, T: TypeFloat64, Unit: unit}
	}
	if name == "extract" {
		p.markNumeric(out) // EXTRACT is numeric, date_part double precision
	}
	return out, true, nil
}

// zoneArg resolves a constant time zone name.
func zoneArg(e Expr, loc int32) (*time.Location, bool, error) {
	c, ok := e.(*Const)
	if !ok || c.Value.Type != TypeString && !c.Value.Null {
		if ok || e.Type() == TypeString {
			return nil, false, unsupported(loc, "a non-constant time zone", "")
		}
		return nil, false, typeErr(loc, "time zone must be text, not %s", pgTypeName(e))
	}
	if c.Value.Null {
		return nil, true, nil
	}
	name := strings.TrimSpace(c.Value.Str)
	switch strings.ToLower(name) {
	case "utc", "gmt", "z", "zulu", "etc/utc", "universal":
		return time.UTC, false, nil
	}
	if name == "" || strings.ContainsAny(name[:1], "+-0123456789") {
		return nil, false, unsupported(loc, "time zone "+quoteString(name), "use a zone name such as 'Europe/Paris' or 'UTC'")
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil, false, invalid(loc, "22023", "time zone %q not recognized", name)
	}
	return z, false, nil
}

// atTimeZone plans ts AT TIME ZONE zone (the grammar's timezone(zone, ts)).
// A timestamptz (a column, now()) becomes the wall-clock time in the zone;
// a timestamp without time zone (a TIMESTAMP literal, or the result of AT
// TIME ZONE) becomes the instant of that wall-clock time there.
func (p *planner) atTimeZone(args []Expr, loc int32) (Expr, bool, error) {
	if len(args) != 2 {
		return nil, true, noFunc(loc, "timezone", args)
	}
	z, null, err := zoneArg(args[0], loc)
	if err != nil {
		return nil, true, err
	}
	src := args[1]
	if isUnknownLit(src) && !isNullConst(src) {
		if src, err = p.cast(src, TypeTimestamp, loc); err != nil {
			return nil, true, err
		}
	}
	if src.Type() != TypeTimestamp && !isNullConst(src) {
		return nil, true, noFunc(loc, "timezone", args)
	}
	naive := p.naive[src]
	if null || isNullConst(src) {
		return &Const{Value: NullValue(TypeTimestamp)}, true, nil
	}
	fn := FnToLocal
	if naive {
		fn = FnFromLocal
	}
	var out Expr
	if c, ok := src.(*Const); ok {
		if fn == FnToLocal {
			out = &Const{Value: TimestampValue(ToLocal(c.Value.Int, z))}
		} else {
			out = &Const{Value: TimestampValue(FromLocal(c.Value.Int, z))}
		}
	} else {
		out = &Func{Fn: fn, Args: []Expr{src}, T: TypeTimestamp, Zone: z}
	}
	if !naive {
		p.markNaive(out)
	}
	return out, true, nil
}

// foldInterval computes constant interval arithmetic: interval ±
// interval (field by field, as PostgreSQL), interval * integer, and
// interval * or / a number when the interval has neither months nor days
// (the result rounded to microseconds, as PostgreSQL keeps them).
func foldInterval(op BinaryOp, l, r Expr, loc int32) (Expr, bool, error) {
	lc, ok1 := l.(*Const)
	rc, ok2 := r.(*Const)
	if !ok1 || !ok2 {
		return nil, false, nil
	}
	if lc.Value.Null || rc.Value.Null {
		return &Const{Value: NullValue(TypeInterval)}, true, nil
	}
	rangeErr := invalid(loc, "22008", "interval out of range")
	if l.Type() == TypeInterval && r.Type() == TypeInterval {
		if op != OpAdd && op != OpSub {
			return nil, false, nil
		}
		a, b := lc.Value.Interval, rc.Value.Interval
		sign := int64(1)
		if op == OpSub {
			sign = -1
		}
		out := Interval{Months: a.Months + sign*b.Months, Days: a.Days + sign*b.Days, Nanos: a.Nanos + sign*b.Nanos}
		if (sign*b.Nanos > 0) != (out.Nanos > a.Nanos) && b.Nanos != 0 {
			return nil, true, rangeErr
		}
		return &Const{Value: IntervalValue(out)}, true, nil
	}
	iv, num := lc, rc
	if l.Type() != TypeInterval {
		if op != OpMul {
			return nil, false, nil
		}
		iv, num = rc, lc
	}
	if op != OpMul && op != OpDiv {
		return nil, false, nil
	}
	v := iv.Value.Interval
	if num.Value.Type == TypeInt64 && op == OpMul {
		n := num.Value.Int
		m, ok1 := mulAdd(v.Months, n, 0)
		d, ok2 := mulAdd(v.Days, n, 0)
		ns, ok3 := mulAdd(v.Nanos, n, 0)
		if !ok1 || !ok2 || !ok3 {
			return nil, true, rangeErr
		}
		return &Const{Value: IntervalValue(Interval{Months: m, Days: d, Nanos: ns})}, true, nil
	}
	if v.Months != 0 || v.Days != 0 {
		return nil, false, nil
	}
	f, err := convertValue(num.Value, TypeFloat64, time.Time{})
	if err != nil {
		return nil, false, nil
	}
	x := f.Float
	if op == OpDiv {
		if x == 0 {
			return nil, true, errAt(loc, CodeDivisionByZero, "22012", "division by zero")
		}
		x = 1 / x
	}
	us := math.Round(float64(v.Nanos) / 1e3 * x)
	if math.IsNaN(us) || math.Abs(us) >= 9e15 {
		return nil, true, rangeErr
	}
	return &Const{Value: IntervalValue(Interval{Nanos: int64(us) * 1e3})}, true, nil
}

// timestampArith plans timestamp ± interval and timestamp − timestamp over
// non-constant operands.
func (p *planner) timestampArith(op BinaryOp, ts, iv Expr, sign int64, loc int32) (Expr, error) {
	if iv.Type() == TypeTimestamp {
		if op != OpSub {
			return nil, typeErr(loc, "operator does not exist: timestamp with time zone + timestamp with time zone")
		}
		if isNullConst(ts) || isNullConst(iv) {
			return &Const{Value: NullValue(TypeInterval)}, nil
		}
		return &Func{Fn: FnTsDiff, Args: []Expr{ts, iv}, T: TypeInterval}, nil
	}
	ic, ok := iv.(*Const)
	if !ok {
		return nil, unsupported(loc, "adding a non-constant interval", "")
	}
	if ic.Value.Null || isNullConst(ts) {
		return &Const{Value: NullValue(TypeTimestamp)}, nil
	}
	i := ic.Value.Interval
	out := &Func{Fn: FnAddInterval, Args: []Expr{ts}, T: TypeTimestamp,
		Iv: Interval{Months: sign * i.Months, Days: sign * i.Days, Nanos: sign * i.Nanos}}
	if p.naive[ts] {
		p.markNaive(out)
	}
	return out, nil
}

// dateTruncCalendar plans date_trunc over calendar units or in a zone.
func (p *planner) dateTruncCalendar(unit string, src Expr, zone *time.Location) Expr {
	if c, ok := src.(*Const); ok {
		return &Const{Value: TimestampValue(TruncTime(c.Value.Int, unit, zone))}
	}
	return &Func{Fn: FnDateTrunc, Args: []Expr{src}, T: TypeTimestamp, Unit: unit, Zone: zone}
}

// toTimestampExpr is to_timestamp over a non-constant number of seconds.
func toTimestampExpr(x Expr) Expr {
	if x.Type() != TypeFloat64 {
		x = &Cast{X: x, To: TypeFloat64}
	}
	return &Func{Fn: FnToTimestamp, Args: []Expr{x}, T: TypeTimestamp}
}
