package sql

import (
	"errors"
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// OuterRef is, inside a correlated subquery's plan, the value of the
// enclosing query's expression Subquery.Outer[Index] for the row the
// subquery is computed for. BindOuter replaces it by that value before
// the subquery runs, so the executor never evaluates one.
type OuterRef struct {
	Index int
	T     Type
	// corr is the subquery whose Outer Index is in: a subquery nested in
	// a correlated one may hold OuterRefs of both (its own, and through a
	// CTE planned in the enclosing subquery, the enclosing one's), and
	// binding one must leave the other's alone.
	corr *corrScope
	loc  int32
}

// corrScope identifies one correlated subquery (not zero-sized: distinct
// pointers must differ).
type corrScope struct{ _ byte }

func (*OuterRef) exprNode()        {}
func (o *OuterRef) Type() Type     { return o.T }
func (o *OuterRef) String() string { return "$outer" + strconv.Itoa(o.Index) }

// Correlated reports whether the subquery reads columns of the query
// around it (Outer).
func (s *Subquery) Correlated() bool { return len(s.Outer) > 0 }

// outerColumn resolves a column reference that the subquery's own FROM
// does not hold in the query around the subquery, after the local lookup
// failed with local. It returns an OuterRef registered with the
// subquery's planner, or local when the enclosing query cannot resolve
// the name either.
func (p *planner) outerColumn(cr *pg_query.ColumnRef, c clause, local error) (Expr, error) {
	var se *Error
	if !errors.As(local, &se) || se.Code != CodeUndefinedColumn && se.Code != CodeUndefinedTable {
		return nil, local
	}
	root := p
	for root != nil && !root.sublink {
		root = root.outer
	}
	if root == nil || root.outer == nil {
		return nil, local
	}
	// A column of a query two or more levels out resolves, in the query
	// around, to that query's own OuterRef: it becomes an outer value of
	// this subquery like any column there, and binding the query around
	// for a row of the one further out makes it a constant before this
	// subquery runs.
	e, err := root.outer.columnRef(cr, clause{name: c.name})
	if err != nil {
		return nil, local
	}
	if root.corr == nil {
		root.corr = &corrScope{}
	}
	key := e.String()
	for i, o := range root.outerArgs {
		if o.String() == key {
			return &OuterRef{Index: i, T: e.Type(), corr: root.corr, loc: cr.Location}, nil
		}
	}
	root.outerArgs = append(root.outerArgs, e)
	return &OuterRef{Index: len(root.outerArgs) - 1, T: e.Type(), corr: root.corr, loc: cr.Location}, nil
}

// outerAggregate refuses, in a subquery, an aggregate whose argument
// reads the enclosing query's columns and none of the subquery's: in
// PostgreSQL it aggregates over the enclosing query's rows, which Silt
// does not do (an aggregate over both, or over the subquery's columns
// only, aggregates the subquery's rows, as there).
func outerAggregate(e Expr, loc int32) error {
	ac, ok := e.(*aggCall)
	if !ok || ac.agg.Arg == nil {
		return nil
	}
	outer, local := false, false
	Walk(ac.agg.Arg, func(x Expr) bool {
		switch x.(type) {
		case *OuterRef:
			outer = true
		case *ColumnRef:
			local = true
		}
		return true
	})
	if outer && !local {
		return unsupported(loc, "aggregate of the enclosing query's columns in a subquery", "aggregate in the enclosing query, and compare the result in it")
	}
	return nil
}

// BindOuter returns the subquery's plan with every OuterRef of the
// subquery replaced by vals[Index], and the time ranges and residual
// predicates of the queries that held one derived again (so a correlation
// on a tag or on time prunes the scan as a literal would). The OuterRefs
// of a subquery nested in it are its own and stay, but where they read
// this subquery's outer values (a reference two levels out) those become
// constants. Parts of the plan without an OuterRef of this subquery are
// shared with it, so that the executor computes them once.
func (s *Subquery) BindOuter(vals []Value) (*Rel, error) {
	b := &outerBinder{vals: vals, corr: s.corr, rels: map[*Rel]*Rel{}}
	return b.rel(s.Rel)
}

type outerBinder struct {
	vals []Value
	corr *corrScope    // the subquery whose OuterRefs are bound
	rels map[*Rel]*Rel // bound copies, so a shared Rel stays shared
}

func (b *outerBinder) rel(r *Rel) (*Rel, error) {
	if r == nil {
		return nil, nil
	}
	if out, ok := b.rels[r]; ok {
		return out, nil
	}
	c := *r
	var err error
	if c.Query, err = b.query(r.Query); err != nil {
		return nil, err
	}
	if c.L, err = b.rel(r.L); err != nil {
		return nil, err
	}
	if c.R, err = b.rel(r.R); err != nil {
		return nil, err
	}
	if c.Input, err = b.rel(r.Input); err != nil {
		return nil, err
	}
	if c.Init, err = b.rel(r.Init); err != nil {
		return nil, err
	}
	if c.Step, err = b.rel(r.Step); err != nil {
		return nil, err
	}
	changed := c.Query != r.Query || c.L != r.L || c.R != r.R || c.Input != r.Input || c.Init != r.Init || c.Step != r.Step
	exprs := func(in []Expr) []Expr {
		var out []Expr
		for i, e := range in {
			y, yc, e2 := b.expr(e)
			if e2 != nil {
				err = e2
				return in
			}
			if yc && out == nil {
				out = append([]Expr(nil), in...)
			}
			if out != nil {
				out[i] = y
			}
		}
		if out == nil {
			return in
		}
		changed = true
		return out
	}
	c.LeftKeys = exprs(r.LeftKeys)
	c.RightKeys = exprs(r.RightKeys)
	if r.On != nil {
		on := exprs([]Expr{r.On})
		c.On = on[0]
	}
	if err != nil {
		return nil, err
	}
	if !changed {
		b.rels[r] = r
		return r, nil
	}
	b.rels[r] = &c
	return &c, nil
}

// expr binds e, reporting whether it changed.
func (b *outerBinder) expr(e Expr) (Expr, bool, error) {
	if e == nil {
		return nil, false, nil
	}
	has := false
	Walk(e, func(x Expr) bool {
		switch y := x.(type) {
		case *OuterRef:
			has = has || y.corr == b.corr
		case *Subquery:
			// A subquery nested in the correlated one may use its
			// OuterRefs too (through a FROM subquery, a set operation's
			// arm or a CTE planned inside it).
			if !has && b.relHas(y.Rel) {
				has = true
			}
		}
		return !has
	})
	if !has {
		return e, false, nil
	}
	var f func(Expr) (Expr, error)
	f = func(e Expr) (Expr, error) {
		switch y := e.(type) {
		case nil:
			return nil, nil
		case *OuterRef:
			if y.corr != b.corr {
				return e, nil // a nested subquery's own
			}
			if y.Index >= len(b.vals) {
				return nil, errAt(y.loc, CodeInvalid, "XX000", "outer reference %d without a value", y.Index)
			}
			v := b.vals[y.Index]
			if v.Null {
				v = NullValue(y.T)
			}
			return &Const{Value: v}, nil
		case *Subquery:
			z, err := mapChildren(y, f)
			if err != nil {
				return nil, err
			}
			s := *(z.(*Subquery))
			if s.Rel, err = b.rel(y.Rel); err != nil {
				return nil, err
			}
			return &s, nil
		}
		return mapChildren(e, f)
	}
	out, err := f(e)
	return out, true, err
}

// relHas reports whether r's plan holds an OuterRef (binding it would
// change it).
func (b *outerBinder) relHas(r *Rel) bool {
	probe := &outerBinder{vals: b.vals, corr: b.corr, rels: map[*Rel]*Rel{}}
	out, err := probe.rel(r)
	return err != nil || out != r
}

func (b *outerBinder) query(q *Query) (*Query, error) {
	if q == nil {
		return nil, nil
	}
	c := *q
	changed := false
	var err error
	one := func(e Expr) Expr {
		if err != nil {
			return e
		}
		y, yc, e2 := b.expr(e)
		if e2 != nil {
			err = e2
			return e
		}
		changed = changed || yc
		return y
	}
	c.Where = one(q.Where)
	c.Having = one(q.Having)
	c.GroupBy = append([]GroupKey(nil), q.GroupBy...)
	for i := range c.GroupBy {
		c.GroupBy[i].Expr = one(c.GroupBy[i].Expr)
	}
	c.Aggregates = append([]Aggregate(nil), q.Aggregates...)
	for i := range c.Aggregates {
		a := &c.Aggregates[i]
		a.Arg, a.Filter, a.Order = one(a.Arg), one(a.Filter), one(a.Order)
	}
	c.Outputs = append([]Output(nil), q.Outputs...)
	for i := range c.Outputs {
		c.Outputs[i].Expr = one(c.Outputs[i].Expr)
	}
	c.OrderBy = append([]SortKey(nil), q.OrderBy...)
	for i := range c.OrderBy {
		c.OrderBy[i].Expr = one(c.OrderBy[i].Expr)
	}
	if err != nil {
		return nil, err
	}
	in, err := b.rel(q.Input)
	if err != nil {
		return nil, err
	}
	if in != q.Input {
		c.Input, changed = in, true
	}
	if !changed {
		return q, nil
	}
	if c.Where != nil && c.Where != q.Where {
		c.TimeRange, c.Residual = timeRange(normalize(c.Where))
	}
	return &c, nil
}
