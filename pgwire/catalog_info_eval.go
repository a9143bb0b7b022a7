package pgwire

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// infoEval evaluates an expression of a query of the information_schema
// views over one of their rows: columns, string and integer constants,
// quote_ident/lower/upper, parse_ident and array_length of a constant
// name and its subscripts, ||, =, <>, IN lists, AND/OR/NOT, CASE, and
// x IN (a subquery of the search_path) — what Grafana's query builder
// sends to list tables and a table's columns (postgresMetaQuery.ts).
// known is false for anything else; the caller then keeps the row.
func (c *conn) infoEval(n *pg_query.Node, r map[string]any, searchPath bool) (v any, known bool) {
	if n == nil {
		return nil, false
	}
	switch {
	case n.GetColumnRef() != nil:
		col, _, ok := infoColumnOf(n)
		if !ok {
			return nil, false
		}
		v, ok := r[col]
		if i, isInt := v.(int32); isInt {
			return int64(i), ok
		}
		return v, ok
	case n.GetAConst() != nil:
		ac := n.GetAConst()
		if ac.GetSval() == nil && ac.GetIval() == nil && !ac.Isnull && ac.GetBoolval() == nil {
			return nil, false
		}
		return constValue(ac), true
	case n.GetTypeCast() != nil:
		return c.infoEval(n.GetTypeCast().Arg, r, searchPath)
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		if len(fc.Funcname) == 0 {
			return nil, false
		}
		name := strings.ToLower(fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval())
		var args []any
		for _, a := range fc.Args {
			v, ok := c.infoEval(a, r, searchPath)
			if !ok {
				return nil, false
			}
			args = append(args, v)
		}
		switch {
		case (name == "quote_ident" || name == "lower" || name == "upper") && len(args) == 1:
			return applyFn(name, args[0]), true
		case name == "parse_ident" && len(args) == 1:
			s, ok := args[0].(string)
			if !ok {
				return nil, false
			}
			return parseIdent(s), true
		case name == "array_length" && len(args) == 2:
			a, ok := args[0].([]string)
			if !ok || len(a) == 0 {
				return nil, true // PostgreSQL: NULL for an empty array
			}
			return int64(len(a)), true
		}
		return nil, false
	case n.GetAIndirection() != nil:
		ai := n.GetAIndirection()
		base, ok := c.infoEval(ai.Arg, r, searchPath)
		arr, isArr := base.([]string)
		if !ok || !isArr || len(ai.Indirection) != 1 || ai.Indirection[0].GetAIndices() == nil {
			return nil, false
		}
		idx, ok := c.infoEval(ai.Indirection[0].GetAIndices().Uidx, r, searchPath)
		i, isInt := idx.(int64)
		if !ok || !isInt {
			return nil, false
		}
		if i < 1 || int(i) > len(arr) {
			return nil, true
		}
		return arr[i-1], true
	case n.GetCaseExpr() != nil:
		ce := n.GetCaseExpr()
		if ce.Arg != nil {
			return nil, false // CASE x WHEN ...
		}
		for _, w := range ce.Args {
			cw := w.GetCaseWhen()
			cond, ok := c.infoEval(cw.Expr, r, searchPath)
			if !ok {
				return nil, false
			}
			if cond == true {
				return c.infoEval(cw.Result, r, searchPath)
			}
		}
		if ce.Defresult == nil {
			return nil, true
		}
		return c.infoEval(ce.Defresult, r, searchPath)
	case n.GetBoolExpr() != nil:
		be := n.GetBoolExpr()
		unknown := false
		for _, a := range be.Args {
			v, ok := c.infoEval(a, r, searchPath)
			b, isBool := v.(bool)
			switch {
			case !ok || (!isBool && v != nil):
				unknown = true
			case be.Boolop == pg_query.BoolExprType_NOT_EXPR:
				if v == nil {
					return nil, true
				}
				return !b, true
			case be.Boolop == pg_query.BoolExprType_AND_EXPR && isBool && !b:
				return false, true
			case be.Boolop == pg_query.BoolExprType_OR_EXPR && isBool && b:
				return true, true
			case v == nil:
				unknown = true // NULL: not taken as false here
			}
		}
		if unknown {
			return nil, false
		}
		return be.Boolop == pg_query.BoolExprType_AND_EXPR, true
	case n.GetAExpr() != nil:
		ae := n.GetAExpr()
		if len(ae.Name) != 1 {
			return nil, false
		}
		op := ae.Name[0].GetString_().GetSval()
		l, ok := c.infoEval(ae.Lexpr, r, searchPath)
		if !ok {
			return nil, false
		}
		if ae.Kind == pg_query.A_Expr_Kind_AEXPR_IN {
			list := ae.Rexpr.GetList()
			if list == nil {
				return nil, false
			}
			in := false
			for _, it := range list.Items {
				v, ok := c.infoEval(it, r, searchPath)
				if !ok {
					return nil, false
				}
				in = in || (v != nil && v == l)
			}
			if op == "<>" {
				return !in, true
			}
			return in, true
		}
		if ae.Kind != pg_query.A_Expr_Kind_AEXPR_OP {
			return nil, false
		}
		rv, ok := c.infoEval(ae.Rexpr, r, searchPath)
		if !ok {
			return nil, false
		}
		if l == nil || rv == nil {
			return nil, true
		}
		switch op {
		case "=":
			return l == rv, true
		case "<>", "!=":
			return l != rv, true
		case "||":
			ls, ok1 := l.(string)
			rs, ok2 := rv.(string)
			if ok1 && ok2 {
				return ls + rs, true
			}
		}
		return nil, false
	case n.GetSubLink() != nil:
		// x IN (SELECT ... current_setting('search_path') ...): Grafana's
		// "a schema of the search path", "$user", public.
		sl := n.GetSubLink()
		if sl.SubLinkType != pg_query.SubLinkType_ANY_SUBLINK || !searchPath {
			return nil, false
		}
		x, ok := c.infoEval(sl.Testexpr, r, searchPath)
		if !ok {
			return nil, false
		}
		return x == "public" || x == c.user, true
	}
	return nil, false
}

// parseIdent splits a qualified name as parse_ident does: at dots
// outside double quotes, quoted parts kept as written, others lowered.
func parseIdent(s string) []string {
	var parts []string
	var b strings.Builder
	quoted, wasQuoted := false, false
	flush := func() {
		p := b.String()
		if !wasQuoted {
			p = strings.ToLower(strings.TrimSpace(p))
		}
		parts = append(parts, p)
		b.Reset()
		wasQuoted = false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '"' && quoted && i+1 < len(s) && s[i+1] == '"':
			b.WriteByte('"')
			i++
		case ch == '"':
			quoted = !quoted
			wasQuoted = true
		case ch == '.' && !quoted:
			flush()
		default:
			b.WriteByte(ch)
		}
	}
	flush()
	return parts
}
