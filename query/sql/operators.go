package sql

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// aExpr resolves operators, IN, BETWEEN, LIKE.
func (p *planner) aExpr(a *pg_query.A_Expr, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	op := ""
	if len(a.Name) > 0 {
		if s := a.Name[len(a.Name)-1].GetString_(); s != nil {
			op = s.Sval
		}
	}
	loc := a.Location
	switch a.Kind {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		if a.Lexpr == nil {
			x, err := sub(a.Rexpr)
			if err != nil {
				return nil, err
			}
			return p.unaryOp(op, x, loc)
		}
		l, err := sub(a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := sub(a.Rexpr)
		if err != nil {
			return nil, err
		}
		switch op {
		case "+", "-", "*", "/", "%":
			return p.arith(op, l, r, loc)
		case "=", "<>", "!=", "<", "<=", ">", ">=":
			return p.compare(cmpOps[op], l, r, loc)
		case "~", "!~", "~*", "!~*":
			return p.regexMatch(l, r, op[0] == '!', strings.HasSuffix(op, "*"), false, loc)
		case "~~", "!~~", "~~*", "!~~*":
			return p.regexMatch(l, r, op[0] == '!', strings.HasSuffix(op, "*"), true, loc)
		case "||":
			return p.concatOp(l, r, loc)
		}
		return nil, unsupported(loc, "operator "+op, "")
	case pg_query.A_Expr_Kind_AEXPR_IN:
		return p.inList(a, op == "<>", sub)
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		return p.between(a, sub)
	case pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE:
		if fc := a.Rexpr.GetFuncCall(); fc != nil {
			return nil, unsupported(loc, "LIKE ... ESCAPE", "")
		}
		l, err := sub(a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := sub(a.Rexpr)
		if err != nil {
			return nil, err
		}
		return p.regexMatch(l, r, strings.HasPrefix(op, "!"), a.Kind == pg_query.A_Expr_Kind_AEXPR_ILIKE, true, loc)
	case pg_query.A_Expr_Kind_AEXPR_SIMILAR:
		return nil, unsupported(loc, "SIMILAR TO", "use ~")
	case pg_query.A_Expr_Kind_AEXPR_OP_ANY:
		return nil, unsupported(loc, "ANY", "use IN (...)")
	case pg_query.A_Expr_Kind_AEXPR_OP_ALL:
		return nil, unsupported(loc, "ALL", "")
	case pg_query.A_Expr_Kind_AEXPR_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NULLIF:
		l, err := sub(a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := sub(a.Rexpr)
		if err != nil {
			return nil, err
		}
		if a.Kind == pg_query.A_Expr_Kind_AEXPR_NULLIF {
			return p.nullIf(l, r, loc)
		}
		return p.distinctFrom(l, r, a.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT, loc)
	}
	return nil, unsupported(loc, "operator "+op, "")
}

var negate = map[BinaryOp]BinaryOp{OpEq: OpNe, OpNe: OpEq, OpLt: OpGe, OpGe: OpLt, OpLe: OpGt, OpGt: OpLe}

var cmpOps = map[string]BinaryOp{"=": OpEq, "<>": OpNe, "!=": OpNe, "<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe}

func (p *planner) unaryOp(op string, x Expr, loc int32) (Expr, error) {
	if op != "-" && op != "+" {
		return nil, unsupported(loc, "prefix operator "+op, "")
	}
	if isUnknownLit(x) && !isNullConst(x) {
		return nil, typeErr(loc, "operator is not unique: %s unknown", op)
	}
	if isNullConst(x) {
		return x, nil
	}
	t := x.Type()
	if !t.numeric() {
		if t == TypeInterval && op == "-" {
			c := x.(*Const)
			iv := c.Value.Interval
			return &Const{Value: IntervalValue(Interval{Months: -iv.Months, Days: -iv.Days, Nanos: -iv.Nanos})}, nil
		}
		return nil, typeErr(loc, "operator does not exist: %s %s", op, pgTypeName(x))
	}
	if op == "+" {
		return x, nil
	}
	if t == TypeUint64 { // numeric in PostgreSQL: negation gives float64 here
		var err error
		if x, err = p.cast(x, TypeFloat64, loc); err != nil {
			return nil, err
		}
		t = TypeFloat64
	}
	if c, ok := x.(*Const); ok {
		zero := Value{Type: t}
		v, err := evalArith(OpSub, zero, c.Value)
		if err != nil {
			return nil, invalid(loc, "22003", "%s", err.Error())
		}
		return &Const{Value: v, lit: c.lit}, nil
	}
	return &Unary{Op: OpNeg, X: x, T: t}, nil
}

var arithOps = map[string]BinaryOp{"+": OpAdd, "-": OpSub, "*": OpMul, "/": OpDiv, "%": OpMod}

func (p *planner) arith(opName string, l, r Expr, loc int32) (Expr, error) {
	op := arithOps[opName]
	noOp := func() (Expr, error) {
		return nil, typeErr(loc, "operator does not exist: %s %s %s", pgTypeName(l), opName, pgTypeName(r))
	}
	lt, rt := l.Type(), r.Type()
	// Timestamps and intervals: only constant timestamp ± interval.
	if lt == TypeTimestamp || rt == TypeTimestamp || lt == TypeInterval || rt == TypeInterval {
		ts, iv, sign := l, r, int64(1)
		if rt == TypeTimestamp && op == OpAdd {
			ts, iv = r, l
		}
		if op == OpSub {
			sign = -1
		}
		if ts.Type() == TypeTimestamp && (op == OpAdd || op == OpSub) {
			if isUnknownLit(iv) {
				var err error
				if iv, err = p.cast(iv, TypeInterval, loc); err != nil {
					return nil, err
				}
			}
			if iv.Type() == TypeInterval {
				tc, ok1 := ts.(*Const)
				ic, ok2 := iv.(*Const)
				if !ok1 || !ok2 {
					return p.timestampArith(op, ts, iv, sign, loc)
				}
				if tc.Value.Null || ic.Value.Null {
					return &Const{Value: NullValue(TypeTimestamp)}, nil
				}
				t, ok := addInterval(tc.Value.Int, ic.Value.Interval, sign)
				if !ok {
					return nil, invalid(loc, "22008", "timestamp out of range")
				}
				return &Const{Value: TimestampValue(t)}, nil
			}
			if isUnknownLit(iv) && op == OpSub {
				var err error
				if iv, err = p.cast(iv, TypeTimestamp, loc); err != nil {
					return nil, err
				}
			}
			if iv.Type() == TypeTimestamp && op == OpSub && ts == l {
				if tc, ok := ts.(*Const); ok {
					if ic, ok := iv.(*Const); ok {
						if tc.Value.Null || ic.Value.Null {
							return &Const{Value: NullValue(TypeInterval)}, nil
						}
						d := tc.Value.Int - ic.Value.Int
						return &Const{Value: IntervalValue(Interval{Days: d / 86400e9, Nanos: d % 86400e9})}, nil
					}
				}
				return p.timestampArith(op, ts, iv, sign, loc)
			}
		}
		if lt == TypeInterval && rt == TypeInterval || lt == TypeInterval && rt.numeric() || rt == TypeInterval && lt.numeric() {
			if e, ok, err := foldInterval(op, l, r, loc); ok || err != nil {
				return e, err
			}
			return nil, unsupported(loc, "interval arithmetic", "on constant intervals only: interval ± interval, interval * or / a number")
		}
		return noOp()
	}
	// Unknown literals take the other side's type.
	if isUnknownLit(l) && isUnknownLit(r) {
		if isNullConst(l) || isNullConst(r) {
			return &Const{Value: NullValue(TypeNull)}, nil
		}
		return nil, typeErr(loc, "operator is not unique: unknown %s unknown", opName)
	}
	var err error
	if isUnknownLit(l) && rt.numeric() {
		if l, err = p.cast(l, rt, loc); err != nil {
			return nil, err
		}
	}
	if isUnknownLit(r) && lt.numeric() {
		if r, err = p.cast(r, lt, loc); err != nil {
			return nil, err
		}
	}
	if !l.Type().numeric() || !r.Type().numeric() {
		return noOp()
	}
	t := numericCommon(l, r, false)
	numericOperand := (p.isNumeric(l) || p.isNumeric(r)) && !p.isFloat8(l) && !p.isFloat8(r)
	if numericOperand {
		t = TypeFloat64 // PostgreSQL computes in numeric: no integer division
	}
	if op == OpMod && t == TypeFloat64 {
		// PostgreSQL has % for integers and numeric (decimal literals,
		// uint64 columns) but not for double precision.
		numeric := p.isNumeric
		if l.Type() == TypeFloat64 && !numeric(l) || r.Type() == TypeFloat64 && !numeric(r) {
			return noOp()
		}
	}
	decimal := func(e Expr) bool { c, ok := e.(*Const); return ok && c.lit == litDecimal }
	lit := litNone
	if decimal(l) || decimal(r) {
		lit = litDecimal
	}
	if l, err = p.forceTo(l, t, loc); err != nil {
		return nil, err
	}
	if r, err = p.forceTo(r, t, loc); err != nil {
		return nil, err
	}
	if lc, ok := l.(*Const); ok {
		if rc, ok := r.(*Const); ok {
			v, err := evalArith(op, lc.Value, rc.Value)
			if errors.Is(err, ErrDivisionByZero) {
				return nil, errAt(loc, CodeDivisionByZero, "22012", "%s", err.Error())
			}
			if err != nil {
				return nil, invalid(loc, "22003", "%s", err.Error())
			}
			if lit == litNone && lc.lit == litInt && rc.lit == litInt {
				lit = litInt
			}
			return &Const{Value: v, lit: lit}, nil
		}
	}
	if isNullConst(l) || isNullConst(r) {
		return &Const{Value: NullValue(t)}, nil
	}
	b := &Binary{Op: op, L: l, R: r, T: t}
	if numericOperand {
		p.markNumeric(b)
	}
	if p.isInt4(l) && p.isInt4(r) {
		p.markInt4(b)
	}
	return b, nil
}

// concatOp plans a || b: text concatenation, a non-text operand converted
// to text (NULL if either is NULL).
func (p *planner) concatOp(l, r Expr, loc int32) (Expr, error) {
	if l.Type() != TypeString && r.Type() != TypeString && !(isUnknownLit(l) || isUnknownLit(r)) {
		return nil, typeErr(loc, "operator does not exist: %s || %s", pgTypeName(l), pgTypeName(r))
	}
	if isNullConst(l) || isNullConst(r) {
		return &Const{Value: NullValue(TypeString)}, nil
	}
	a, err := p.toText(l, loc)
	if err != nil {
		return nil, err
	}
	b, err := p.toText(r, loc)
	if err != nil {
		return nil, err
	}
	if ac, ok := a.(*Const); ok {
		if bc, ok := b.(*Const); ok {
			return &Const{Value: StringValue(ac.Value.Str + bc.Value.Str)}, nil
		}
	}
	return &Func{Fn: FnConcatOp, Args: []Expr{a, b}, T: TypeString}, nil
}

// compare builds a comparison, constant on the right when there is one.
func (p *planner) compare(op BinaryOp, l, r Expr, loc int32) (Expr, error) {
	if _, lc := l.(*Const); lc {
		if _, rc := r.(*Const); !rc {
			l, r, op = r, l, flip(op)
		}
	}
	noOp := func() (Expr, error) {
		return nil, typeErr(loc, "operator does not exist: %s %s %s", pgTypeName(l), op, pgTypeName(r))
	}
	lt, rt := l.Type(), r.Type()
	var err error
	switch {
	case isUnknownLit(l) && isUnknownLit(r):
		if isNullConst(l) || isNullConst(r) {
			return &Const{Value: NullValue(TypeBool)}, nil
		}
		if l, err = p.cast(l, TypeString, loc); err != nil {
			return nil, err
		}
		if r, err = p.cast(r, TypeString, loc); err != nil {
			return nil, err
		}
	case isUnknownLit(r):
		if r, err = p.cast(r, lt, loc); err != nil {
			return nil, err
		}
	case isUnknownLit(l):
		if l, err = p.cast(l, rt, loc); err != nil {
			return nil, err
		}
	case lt.numeric() && rt.numeric():
		t := numericCommon(l, r, true)
		if l, err = p.forceTo(l, t, loc); err != nil {
			return nil, err
		}
		if r, err = p.forceTo(r, t, loc); err != nil {
			return nil, err
		}
	case lt == TypeTimestamp && rt == TypeInt64: // epoch nanoseconds (Silt extension)
		x, ok, err := p.coerceTo(r, TypeTimestamp, loc)
		if err != nil {
			return nil, err
		}
		if !ok {
			return noOp()
		}
		r = x
	case lt == TypeInt64 && rt == TypeTimestamp:
		x, ok, err := p.coerceTo(l, TypeTimestamp, loc)
		if err != nil {
			return nil, err
		}
		if !ok {
			return noOp()
		}
		l = x
	case lt != rt:
		return noOp()
	}
	if l.Type() != r.Type() {
		return noOp()
	}
	lc, lok := l.(*Const)
	rc, rok := r.(*Const)
	if l.Type() == TypeInterval {
		// Run-time intervals are timestamp differences: compare them with
		// constants of fixed length only.
		for _, c := range []*Const{lc, rc} {
			if c != nil && !c.Value.Null && c.Value.Interval.Months != 0 {
				return nil, unsupported(loc, "interval comparison with months or years", "")
			}
		}
		if lok && rok {
			a, _ := lc.Value.Interval.Fixed()
			b, _ := rc.Value.Interval.Fixed()
			return &Const{Value: evalCompare(op, IntValue(a), IntValue(b))}, nil
		}
	}
	if lok && rok {
		return &Const{Value: evalCompare(op, lc.Value, rc.Value)}, nil
	}
	if (lok && lc.Value.Null) || (rok && rc.Value.Null) {
		return &Const{Value: NullValue(TypeBool)}, nil
	}
	return &Binary{Op: op, L: l, R: r, T: TypeBool}, nil
}

// inList builds x [NOT] IN (constants...).
func (p *planner) inList(a *pg_query.A_Expr, not bool, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := a.Location
	x, err := sub(a.Lexpr)
	if err != nil {
		return nil, err
	}
	list := a.Rexpr.GetList()
	if list == nil {
		return nil, unsupported(loc, "IN with a subquery", "")
	}
	items := make([]Expr, len(list.Items))
	for i, n := range list.Items {
		if items[i], err = sub(n); err != nil {
			return nil, err
		}
		if _, ok := items[i].(*Const); !ok {
			return nil, unsupported(nodeLoc(n), "IN with non-constant values", "")
		}
	}
	// Find the common type the way a chain of = would.
	if isUnknownLit(x) {
		for _, it := range items {
			if !isUnknownLit(it) {
				if x, err = p.cast(x, it.Type(), loc); err != nil {
					return nil, err
				}
				break
			}
		}
		if isUnknownLit(x) && !isNullConst(x) {
			if x, err = p.cast(x, TypeString, loc); err != nil {
				return nil, err
			}
		}
	}
	if x.Type().numeric() {
		t := x.Type()
		for _, it := range items {
			if it.Type().numeric() {
				t = numericCommon(&Cast{To: t}, it, true)
			}
		}
		if x, err = p.forceTo(x, t, loc); err != nil {
			return nil, err
		}
	}
	if x.Type() == TypeInterval {
		return nil, unsupported(loc, "interval comparison", "")
	}
	in := &InList{X: x, Not: not}
	seen := map[string]bool{}
	for i, it := range items {
		c, err := p.compare(OpEq, x, it, nodeLoc(list.Items[i]))
		if err != nil {
			return nil, err
		}
		// compare coerced the item; take the converted constant back.
		var v Value
		switch b := c.(type) {
		case *Binary:
			v = b.R.(*Const).Value
		case *Const:
			if isNullConst(it) {
				in.HasNull = true
				continue
			}
			v = it.(*Const).Value
			if cv, err := convertValue(v, x.Type(), p.now); err == nil {
				v = cv
			}
		}
		if v.Null {
			in.HasNull = true
			continue
		}
		k := v.String()
		if !seen[k] {
			seen[k] = true
			in.Values = append(in.Values, v)
		}
	}
	if xc, ok := x.(*Const); ok { // constant x: fold
		if xc.Value.Null {
			return &Const{Value: NullValue(TypeBool)}, nil
		}
		for _, v := range in.Values {
			if compareValues(xc.Value, v) == 0 {
				return &Const{Value: BoolValue(!not)}, nil
			}
		}
		if in.HasNull {
			return &Const{Value: NullValue(TypeBool)}, nil
		}
		return &Const{Value: BoolValue(not)}, nil
	}
	return in, nil
}

// between expands [NOT] BETWEEN [SYMMETRIC] into comparisons.
func (p *planner) between(a *pg_query.A_Expr, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := a.Location
	x, err := sub(a.Lexpr)
	if err != nil {
		return nil, err
	}
	list := a.Rexpr.GetList()
	if list == nil || len(list.Items) != 2 {
		return nil, unsupported(loc, "BETWEEN form", "")
	}
	lo, err := sub(list.Items[0])
	if err != nil {
		return nil, err
	}
	hi, err := sub(list.Items[1])
	if err != nil {
		return nil, err
	}
	in := func(lo, hi Expr) (Expr, error) {
		ge, err := p.compare(OpGe, x, lo, loc)
		if err != nil {
			return nil, err
		}
		le, err := p.compare(OpLe, x, hi, loc)
		if err != nil {
			return nil, err
		}
		return logic(OpAnd, []Expr{ge, le}), nil
	}
	var e Expr
	switch a.Kind {
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		e, err = in(lo, hi)
	default: // SYMMETRIC
		var e1, e2 Expr
		if e1, err = in(lo, hi); err != nil {
			return nil, err
		}
		if e2, err = in(hi, lo); err != nil {
			return nil, err
		}
		e = logic(OpOr, []Expr{e1, e2})
	}
	if err != nil {
		return nil, err
	}
	if a.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN || a.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM {
		return not(e), nil
	}
	return e, nil
}
