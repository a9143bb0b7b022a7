package sql

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// recursiveCTE plans a WITH RECURSIVE item of the form "non-recursive
// term UNION [ALL] recursive term" whose recursive term reads the item's
// own name. It returns nil (and no error) for an item that does not
// refer to itself, which plans as a plain WITH query.
func (p *planner) recursiveCTE(c *pg_query.CommonTableExpr, sel *pg_query.SelectStmt, scope map[string]*cte) (*cte, error) {
	if sel.Op != pg_query.SetOperation_SETOP_UNION || sel.Larg == nil || sel.Rarg == nil {
		return nil, nil
	}
	if len(sel.SortClause) > 0 || sel.LimitCount != nil || sel.LimitOffset != nil || sel.WithClause != nil {
		if p.refersTo(c, sel, scope) {
			return nil, unsupported(c.Location, "ORDER BY, LIMIT, OFFSET or WITH on a recursive query", "")
		}
		return nil, nil
	}
	initScope := map[string]*cte{}
	for n, x := range scope {
		initScope[n] = x
	}
	delete(initScope, c.Ctename)
	ip := p.child()
	ip.ctes = initScope
	init, attrs, err := ip.planRel(sel.Larg, c.Location)
	if err != nil {
		return nil, err
	}
	if err := renameCols(init, c.Aliascolnames, c.Ctename, c.Location); err != nil {
		return nil, err
	}
	work := &Rel{Kind: RelWorkTable, Cols: init.Cols, Name: c.Ctename}
	self := &cte{rel: work, attrs: attrs}
	stepScope := map[string]*cte{}
	for n, x := range scope {
		stepScope[n] = x
	}
	stepScope[c.Ctename] = self
	sp := p.child()
	sp.ctes = stepScope
	step, _, err := sp.planRel(sel.Rarg, c.Location)
	if err != nil {
		return nil, err
	}
	if !self.used {
		return nil, nil
	}
	if len(step.Cols) != len(init.Cols) {
		return nil, invalid(c.Location, "42601", "each UNION query must have the same number of columns").withCode(CodeSyntax)
	}
	rel := &Rel{Kind: RelRecursive, Init: init, Step: step, Work: work, All: sel.All, Name: c.Ctename, Cols: init.Cols}
	for i, ic := range init.Cols {
		st := step.Cols[i].Type
		switch {
		case st == ic.Type:
		case st.numeric() && ic.Type.numeric():
			// Silt's integer literals and arithmetic are bigint where
			// PostgreSQL's may be integer: the executor converts the
			// recursive term's values to the column's type.
			if ic.Type != TypeFloat64 && st == TypeFloat64 {
				return nil, errAt(c.Location, CodeType, "42804", "recursive query %q column %d has type %s in non-recursive term but type %s overall",
					c.Ctename, i+1, ic.Type.PGName(), st.PGName()).withHint("cast the output of the non-recursive term to the correct type")
			}
		default:
			return nil, errAt(c.Location, CodeType, "42804", "recursive query %q column %d has type %s in non-recursive term but type %s overall",
				c.Ctename, i+1, ic.Type.PGName(), st.PGName()).withHint("cast the output of the non-recursive term to the correct type")
		}
		if ic.Type == TypeInterval {
			return nil, unsupported(c.Location, "interval columns in a recursive query", "")
		}
	}
	return &cte{rel: rel, attrs: attrs}, nil
}

// refersTo reports whether the WITH item's query reads its own name
// (planned with it in scope as a work table).
func (p *planner) refersTo(c *pg_query.CommonTableExpr, sel *pg_query.SelectStmt, scope map[string]*cte) bool {
	self := &cte{rel: &Rel{Kind: RelWorkTable, Name: c.Ctename}}
	s := map[string]*cte{}
	for n, x := range scope {
		s[n] = x
	}
	s[c.Ctename] = self
	sp := p.child()
	sp.ctes = s
	_, _, _ = sp.planRel(sel, c.Location)
	return self.used
}
