package sql

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

func (p *planner) boolExpr(b *pg_query.BoolExpr, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	what := map[pg_query.BoolExprType]string{pg_query.BoolExprType_AND_EXPR: "AND", pg_query.BoolExprType_OR_EXPR: "OR", pg_query.BoolExprType_NOT_EXPR: "NOT"}[b.Boolop]
	args := make([]Expr, len(b.Args))
	for i, n := range b.Args {
		a, err := sub(n)
		if err != nil {
			return nil, err
		}
		if args[i], err = p.requireBool(a, what, nodeLoc(n)); err != nil {
			return nil, err
		}
	}
	switch b.Boolop {
	case pg_query.BoolExprType_AND_EXPR:
		return logic(OpAnd, args), nil
	case pg_query.BoolExprType_OR_EXPR:
		return logic(OpOr, args), nil
	case pg_query.BoolExprType_NOT_EXPR:
		if len(args) == 1 {
			return not(args[0]), nil
		}
	}
	return nil, unsupported(b.Location, "boolean operator", "")
}

// booleanTest lowers IS [NOT] TRUE/FALSE/UNKNOWN onto IsNull, NOT, AND.
func (p *planner) booleanTest(b *pg_query.BooleanTest, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	a, err := sub(b.Arg)
	if err != nil {
		return nil, err
	}
	if a, err = p.requireBool(a, "IS "+strings.ReplaceAll(strings.TrimPrefix(b.Booltesttype.String(), "IS_"), "_", " "), b.Location); err != nil {
		return nil, err
	}
	isTrue := logic(OpAnd, []Expr{isNull(a, true), a})
	isFalse := logic(OpAnd, []Expr{isNull(a, true), not(a)})
	switch b.Booltesttype {
	case pg_query.BoolTestType_IS_TRUE:
		return isTrue, nil
	case pg_query.BoolTestType_IS_NOT_TRUE:
		return not(isTrue), nil
	case pg_query.BoolTestType_IS_FALSE:
		return isFalse, nil
	case pg_query.BoolTestType_IS_NOT_FALSE:
		return not(isFalse), nil
	case pg_query.BoolTestType_IS_UNKNOWN:
		return isNull(a, false), nil
	case pg_query.BoolTestType_IS_NOT_UNKNOWN:
		return isNull(a, true), nil
	}
	return nil, unsupported(b.Location, "boolean test", "")
}

func isNull(a Expr, notNull bool) Expr {
	if c, ok := a.(*Const); ok {
		return &Const{Value: BoolValue(c.Value.Null != notNull)}
	}
	return &IsNull{X: a, Not: notNull}
}

// not builds NOT e, folding constants and double negation.
func not(e Expr) Expr {
	switch x := e.(type) {
	case *Const:
		if x.Value.Null {
			return &Const{Value: NullValue(TypeBool)}
		}
		return &Const{Value: BoolValue(!x.Value.Bool)}
	case *Unary:
		if x.Op == OpNot {
			return x.X
		}
	case *Binary: // NOT (a < b) is a >= b, NULLs included
		if x.Op.Comparison() {
			y := *x
			y.Op = negate[x.Op]
			return &y
		}
	case *IsNull:
		return &IsNull{X: x.X, Not: !x.Not}
	case *InList:
		y := *x
		y.Not = !x.Not
		return &y
	case *Match:
		y := *x
		y.Not = !x.Not
		return &y
	case *Logic: // De Morgan, exact in three-valued logic
		args := make([]Expr, len(x.Args))
		for i, a := range x.Args {
			args[i] = not(a)
		}
		if x.Op == OpAnd {
			return logic(OpOr, args)
		}
		return logic(OpAnd, args)
	}
	return &Unary{Op: OpNot, X: e, T: TypeBool}
}

// logic builds an n-ary AND/OR: flattens nested ones of the same kind,
// drops neutral constants and folds absorbing ones.
func logic(op LogicOp, args []Expr) Expr {
	var out []Expr
	sawNull := false
	for _, a := range args {
		if l, ok := a.(*Logic); ok && l.Op == op {
			out = append(out, l.Args...)
			continue
		}
		if c, ok := a.(*Const); ok {
			switch {
			case c.Value.Null:
				sawNull = true
				continue
			case c.Value.Bool == (op == OpOr): // TRUE in OR, FALSE in AND
				return &Const{Value: BoolValue(c.Value.Bool)}
			default:
				continue // neutral
			}
		}
		out = append(out, a)
	}
	if sawNull {
		out = append(out, &Const{Value: NullValue(TypeBool)})
	}
	switch len(out) {
	case 0:
		return &Const{Value: BoolValue(op == OpAnd)}
	case 1:
		return out[0]
	}
	return &Logic{Op: op, Args: out}
}
