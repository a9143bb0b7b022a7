package sql

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// joined is a FROM clause (or part of one) as a relation with the scope
// of its columns.
type joined struct {
	rel     *Rel
	attrs   []colAttr
	scope   *rangeScope
	origins []colOrigin
}

// fromItems resolves a FROM clause of several items or joins: the items
// are cross-joined left to right.
func (p *planner) fromItems(items []*pg_query.Node) error {
	var cur *joined
	for _, n := range items {
		j, err := p.joinTree(n)
		if err != nil {
			return err
		}
		if cur == nil {
			cur = j
			continue
		}
		if cur, err = p.join(cur, j, JoinCross, nil, nil, nodeLoc(n)); err != nil {
			return err
		}
	}
	p.table = derivedTable("", cur.rel, cur.attrs)
	p.table.scope = cur.scope
	p.table.origins = cur.origins
	p.tableName, p.alias, p.input = "", "", cur.rel
	return nil
}

// joinTree resolves one FROM item, joins included.
func (p *planner) joinTree(n *pg_query.Node) (*joined, error) {
	je := n.GetJoinExpr()
	if je == nil {
		e, err := p.rangeItem(n)
		if err != nil {
			return nil, err
		}
		s := &rangeScope{names: []string{e.name}}
		for range e.rel.Cols {
			s.quals = append(s.quals, e.name)
			s.hidden = append(s.hidden, false)
		}
		origins := e.origins
		if origins == nil {
			origins = make([]colOrigin, len(e.rel.Cols))
		}
		return &joined{rel: e.rel, attrs: e.attrs, scope: s, origins: origins}, nil
	}
	loc := nodeLoc(je.Larg)
	if je.Alias != nil {
		return nil, unsupported(loc, "alias on a JOIN", "")
	}
	if je.JoinUsingAlias != nil {
		return nil, unsupported(loc, "USING ... AS alias", "")
	}
	l, err := p.joinTree(je.Larg)
	if err != nil {
		return nil, err
	}
	r, err := p.joinTree(je.Rarg)
	if err != nil {
		return nil, err
	}
	var kind JoinKind
	switch je.Jointype {
	case pg_query.JoinType_JOIN_INNER:
		kind = JoinInner
		if je.Quals == nil && len(je.UsingClause) == 0 && !je.IsNatural {
			kind = JoinCross
		}
	case pg_query.JoinType_JOIN_LEFT:
		kind = JoinLeft
	case pg_query.JoinType_JOIN_RIGHT:
		kind = JoinRight
	case pg_query.JoinType_JOIN_FULL:
		kind = JoinFull
	default:
		return nil, unsupported(loc, "join type "+je.Jointype.String(), "")
	}
	var using []string
	for _, u := range je.UsingClause {
		if s := u.GetString_(); s != nil {
			using = append(using, s.Sval)
		}
	}
	if je.IsNatural {
		for i, c := range l.rel.Cols {
			if l.scope.hidden[i] {
				continue
			}
			if ri := visibleCol(r, c.Name); ri >= 0 {
				using = append(using, c.Name)
			}
		}
		if len(using) == 0 && kind == JoinInner {
			kind = JoinCross
		}
	}
	return p.join(l, r, kind, using, je.Quals, loc)
}

// visibleCol returns the column of j reachable by an unqualified name,
// -1 if none, -2 if several.
func visibleCol(j *joined, name string) int {
	found := -1
	for i, c := range j.rel.Cols {
		if c.Name == name && !j.scope.hidden[i] {
			if found >= 0 {
				return -2
			}
			found = i
		}
	}
	return found
}

// join combines l and r.
func (p *planner) join(l, r *joined, kind JoinKind, using []string, on *pg_query.Node, loc int32) (*joined, error) {
	for _, a := range l.scope.names {
		for _, b := range r.scope.names {
			if a != "" && a == b {
				return nil, invalid(loc, "42712", "table name %q specified more than once", a)
			}
		}
	}
	rel := &Rel{Kind: RelJoin, Join: kind, L: l.rel, R: r.rel}
	out := &joined{rel: rel, scope: &rangeScope{names: append(append([]string(nil), l.scope.names...), r.scope.names...)}}
	usedL, usedR := map[int]bool{}, map[int]bool{}
	seen := map[string]bool{}
	for _, name := range using {
		if seen[name] {
			return nil, invalid(loc, "42701", "column name %q appears more than once in USING clause", name)
		}
		seen[name] = true
		li, ri := visibleCol(l, name), visibleCol(r, name)
		switch {
		case li == -1:
			return nil, errAt(loc, CodeUndefinedColumn, "42703", "column %q specified in USING clause does not exist in left table", name)
		case ri == -1:
			return nil, errAt(loc, CodeUndefinedColumn, "42703", "column %q specified in USING clause does not exist in right table", name)
		case li == -2:
			return nil, errAt(loc, CodeAmbiguous, "42702", "common column name %q appears more than once in left table", name)
		case ri == -2:
			return nil, errAt(loc, CodeAmbiguous, "42702", "common column name %q appears more than once in right table", name)
		}
		lt, rt := l.rel.Cols[li].Type, r.rel.Cols[ri].Type
		t := lt
		if lt != rt {
			if !lt.numeric() || !rt.numeric() {
				return nil, errAt(loc, CodeUndefinedFunction, "42883", "operator does not exist: %s = %s", lt.PGName(), rt.PGName())
			}
			t = TypeFloat64
		}
		if t == TypeInterval {
			return nil, unsupported(loc, "USING an interval column", "")
		}
		usedL[li], usedR[ri] = true, true
		rel.Merged = append(rel.Merged, [2]int{li, ri})
		rel.Cols = append(rel.Cols, Output{Name: name, Type: t})
		out.attrs = append(out.attrs, l.attrs[li])
		out.origins = append(out.origins, colOrigin{})
		out.scope.quals = append(out.scope.quals, "")
		out.scope.hidden = append(out.scope.hidden, false)
	}
	m := len(rel.Merged)
	nl := len(l.rel.Cols)
	for i, c := range l.rel.Cols {
		rel.Cols = append(rel.Cols, c)
		out.attrs = append(out.attrs, l.attrs[i])
		o := l.origins[i]
		o.nullable = o.nullable || kind == JoinRight || kind == JoinFull
		out.origins = append(out.origins, o)
		out.scope.quals = append(out.scope.quals, l.scope.quals[i])
		out.scope.hidden = append(out.scope.hidden, l.scope.hidden[i] || usedL[i])
	}
	for i, c := range r.rel.Cols {
		rel.Cols = append(rel.Cols, c)
		out.attrs = append(out.attrs, r.attrs[i])
		o := r.origins[i]
		o.nullable = o.nullable || kind == JoinLeft || kind == JoinFull
		out.origins = append(out.origins, o)
		out.scope.quals = append(out.scope.quals, r.scope.quals[i])
		out.scope.hidden = append(out.scope.hidden, r.scope.hidden[i] || usedR[i])
	}
	col := func(i int) *ColumnRef {
		c := rel.Cols[i]
		return &ColumnRef{Column: Column{Name: c.Name, Kind: KindField, Type: c.Type, Index: i, Ord: i, dup: true}}
	}
	for k, pair := range rel.Merged {
		var lk, rk Expr = col(m + pair[0]), col(m + nl + pair[1])
		if t := rel.Cols[k].Type; lk.Type() != t {
			lk = &Cast{X: lk, To: t}
		} else if rk.Type() != t {
			rk = &Cast{X: rk, To: t}
		}
		rel.LeftKeys = append(rel.LeftKeys, lk)
		rel.RightKeys = append(rel.RightKeys, rk)
	}
	if on == nil {
		return out, nil
	}
	// ON is resolved over the join's columns.
	saved := [...]any{p.table, p.tableName, p.alias}
	p.table = derivedTable("", rel, out.attrs)
	p.table.scope = out.scope
	p.tableName, p.alias = "", ""
	cond, err := p.expr(on, clause{name: "ON"})
	if err == nil {
		cond, err = p.requireBool(cond, "JOIN/ON", nodeLoc(on))
	}
	p.table, p.tableName, p.alias = saved[0].(*Table), saved[1].(string), saved[2].(string)
	if err != nil {
		return nil, err
	}
	side := func(e Expr) int { // 1: left only, 2: right only, 0: constant, 3: both
		s := 0
		Walk(e, func(x Expr) bool {
			if c, ok := x.(*ColumnRef); ok {
				switch {
				case c.Column.Index < m:
					s |= 3
				case c.Column.Index < m+nl:
					s |= 1
				default:
					s |= 2
				}
			}
			return true
		})
		return s
	}
	conj := []Expr{cond}
	if lg, ok := cond.(*Logic); ok && lg.Op == OpAnd {
		conj = lg.Args
	}
	var rest []Expr
	for _, c := range conj {
		if b, ok := c.(*Binary); ok && b.Op == OpEq && b.L.Type() == b.R.Type() && b.L.Type() != TypeInterval {
			ls, rs := side(b.L), side(b.R)
			switch {
			case ls == 1 && rs == 2:
				rel.LeftKeys, rel.RightKeys = append(rel.LeftKeys, b.L), append(rel.RightKeys, b.R)
				continue
			case ls == 2 && rs == 1:
				rel.LeftKeys, rel.RightKeys = append(rel.LeftKeys, b.R), append(rel.RightKeys, b.L)
				continue
			}
		}
		if k, ok := c.(*Const); ok && !k.Value.Null && k.Value.Bool {
			continue
		}
		rest = append(rest, c)
	}
	switch len(rest) {
	case 0:
	case 1:
		rel.On = rest[0]
	default:
		rel.On = &Logic{Op: OpAnd, Args: rest}
	}
	return out, nil
}

// lookupQual returns the columns of a join's FROM item qual named name.
func (t *Table) lookupQual(qual, name string) []Column {
	var out []Column
	for i, c := range t.Columns {
		if c.Name == name && t.scope.quals[i] == qual {
			out = append(out, c)
		}
	}
	return out
}

// hasQual reports whether a join's FROM clause has an item named qual.
func (t *Table) hasQual(qual string) bool {
	for _, n := range t.scope.names {
		if n == qual {
			return true
		}
	}
	return false
}

// starColumns are the columns "*" (qual "") or "qual.*" expands to.
func (t *Table) starColumns(qual string) []Column {
	if t.scope == nil {
		return t.Columns
	}
	var out []Column
	for i, c := range t.Columns {
		if qual == "" && !t.scope.hidden[i] || qual != "" && t.scope.quals[i] == qual {
			out = append(out, c)
		}
	}
	return out
}
