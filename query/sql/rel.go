package sql

import (
	"strconv"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// RelKind says what a Rel computes.
type RelKind uint8

const (
	// RelSelect runs Query (which may itself read a Rel) and yields its
	// outputs.
	RelSelect RelKind = iota + 1
	// RelSetOp combines L and R by SetOp (UNION, INTERSECT, EXCEPT).
	RelSetOp
	// RelJoin joins L and R (see Rel's join fields).
	RelJoin
	// RelWindow appends to Input's columns one column per window function.
	RelWindow
	// RelRecursive is a WITH RECURSIVE query: Init's rows, then Step's
	// computed over the rows the previous round added (Work), round after
	// round until a round adds none. All keeps duplicates (UNION ALL);
	// otherwise a round adds only rows not seen before (UNION).
	RelRecursive
	// RelWorkTable is the recursive reference inside a RelRecursive's
	// Step: the rows the previous round added.
	RelWorkTable
)

// SetOpKind is a set operation.
type SetOpKind uint8

const (
	SetUnion SetOpKind = iota + 1
	SetIntersect
	SetExcept
)

func (k SetOpKind) String() string {
	switch k {
	case SetUnion:
		return "UNION"
	case SetIntersect:
		return "INTERSECT"
	case SetExcept:
		return "EXCEPT"
	}
	return "?"
}

// JoinKind is a join type.
type JoinKind uint8

const (
	JoinInner JoinKind = iota + 1
	JoinLeft
	JoinRight
	JoinFull
	JoinCross
)

func (k JoinKind) String() string {
	return [...]string{"", "INNER", "LEFT", "RIGHT", "FULL", "CROSS"}[k]
}

// Rel is a relation computed from other relations: the input of a query
// whose FROM is a subquery, a CTE, a join or a set operation, or whose
// select list holds window functions. The executor materializes a Rel
// into column vectors (charged to the query's memory limit) and evaluates
// the Query that reads it over them. A Rel shared by several readers (a
// CTE named more than once) is computed once per statement.
type Rel struct {
	Kind RelKind
	// Cols are the relation's columns (Expr nil), in order.
	Cols []Output

	// RelSelect.
	Query *Query

	// RelSetOp and RelJoin: the inputs.
	L, R *Rel
	// RelSetOp: the operation; All keeps duplicates (UNION ALL, ...).
	// Cols' types may be wider than an input's (int64 with float64 is
	// float64): the executor converts.
	SetOp SetOpKind
	All   bool

	// RelJoin. The join's columns are Merged (one per USING column: the
	// left value, the right one for RIGHT joins, the first non-NULL for
	// FULL), then L's, then R's. LeftKeys[i] = RightKeys[i] are the
	// equality conditions the join hashes on (both over the join's
	// columns, LeftKeys reading only L's, RightKeys only R's, of one
	// type; NULL never matches); On is the rest of the condition (nil:
	// TRUE), also over the join's columns. An outer join keeps the rows of
	// its outer side(s) that match nothing, with NULLs for the other side.
	Join      JoinKind
	Merged    [][2]int // (column of L, column of R) per USING column
	LeftKeys  []Expr
	RightKeys []Expr
	On        Expr

	// RelWindow.
	Input   *Rel
	Windows []WindowFunc

	// RelRecursive: the non-recursive term, the recursive one, and the
	// work table Step reads (All as for RelSetOp).
	Init, Step, Work *Rel
	// Name is the recursive query's name, for messages.
	Name string
}

// WindowFunc is one window function call over a RelWindow's Input: its
// expressions are row context over the Input's columns.
type WindowFunc struct {
	// Name is row_number, rank, dense_rank, percent_rank, cume_dist,
	// ntile, lag, lead, first_value, last_value, nth_value, or an
	// aggregate (Agg).
	Name string
	Args []Expr
	// Agg is set for an aggregate over the frame: sum, avg, min, max,
	// count (Func AggSum, AggAvg, AggMin, AggMax, AggCount, AggCountStar).
	Agg       *Aggregate
	Partition []Expr
	Order     []SortKey // Output is -1
	Frame     Frame
	Type      Type
}

// FrameBoundKind is where a window frame starts or ends.
type FrameBoundKind uint8

const (
	BoundUnboundedPreceding FrameBoundKind = iota + 1
	BoundPreceding                         // Offset rows (ROWS) or an offset in value (RANGE) before the current row
	BoundCurrentRow                        // the current row (ROWS) or its last/first peer (RANGE)
	BoundFollowing                         // Offset rows or value after the current row
	BoundUnboundedFollowing
)

// Frame is a window frame. Rows false is RANGE mode: peers count as the
// current row, and an offset bound (StartOff, EndOff) is a distance in
// the value of the single ORDER BY key (an int64 for an int64 or uint64
// key, a float64 for a float64 key, an interval for a timestamp). The
// default, with ORDER BY, is RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT
// ROW; without, every row of the partition (all are peers).
type Frame struct {
	Rows       bool
	Start, End FrameBoundKind
	StartN     int64 // ROWS offsets
	EndN       int64
	StartOff   Value // RANGE offsets
	EndOff     Value
}

// RangeOffset reports whether f is a RANGE frame with an offset bound.
func (f Frame) RangeOffset() bool {
	off := func(b FrameBoundKind) bool { return b == BoundPreceding || b == BoundFollowing }
	return !f.Rows && (off(f.Start) || off(f.End))
}

// windowCall is a window function call while planning; the window
// rewrite replaces it by a column of a RelWindow.
type windowCall struct {
	fn  WindowFunc
	loc int32
}

func (*windowCall) exprNode()    {}
func (w *windowCall) Type() Type { return w.fn.Type }
func (w *windowCall) String() string {
	var b strings.Builder
	b.WriteString(w.fn.Name + "(")
	if w.fn.Agg != nil {
		b.WriteString(w.fn.Agg.String())
	}
	for i, a := range w.fn.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	b.WriteString(") OVER (PARTITION BY")
	for _, e := range w.fn.Partition {
		b.WriteString(" " + e.String())
	}
	b.WriteString(" ORDER BY")
	for _, k := range w.fn.Order {
		b.WriteString(" " + k.String())
	}
	f := w.fn.Frame
	b.WriteString(" " + strconv.FormatBool(f.Rows) + strconv.Itoa(int(f.Start)) + "/" + strconv.FormatInt(f.StartN, 10) +
		strconv.Itoa(int(f.End)) + "/" + strconv.FormatInt(f.EndN, 10) + ")")
	return b.String()
}

func (w *windowCall) children() []Expr {
	var out []Expr
	if w.fn.Agg != nil && w.fn.Agg.Arg != nil {
		out = append(out, w.fn.Agg.Arg)
	}
	out = append(out, w.fn.Args...)
	out = append(out, w.fn.Partition...)
	for _, k := range w.fn.Order {
		out = append(out, k.Expr)
	}
	return out
}

// mapExprs rebuilds the call with f applied to its expressions.
func (w *windowCall) mapExprs(f func(Expr) (Expr, error)) (Expr, error) {
	y := &windowCall{fn: w.fn, loc: w.loc}
	var err error
	if w.fn.Agg != nil {
		a := *w.fn.Agg
		if a.Arg != nil {
			if a.Arg, err = f(a.Arg); err != nil {
				return nil, err
			}
		}
		y.fn.Agg = &a
	}
	y.fn.Args = make([]Expr, len(w.fn.Args))
	for i, a := range w.fn.Args {
		if y.fn.Args[i], err = f(a); err != nil {
			return nil, err
		}
	}
	y.fn.Partition = make([]Expr, len(w.fn.Partition))
	for i, a := range w.fn.Partition {
		if y.fn.Partition[i], err = f(a); err != nil {
			return nil, err
		}
	}
	y.fn.Order = make([]SortKey, len(w.fn.Order))
	for i, k := range w.fn.Order {
		y.fn.Order[i] = k
		if y.fn.Order[i].Expr, err = f(k.Expr); err != nil {
			return nil, err
		}
	}
	return y, nil
}

// SubqueryMode says what a Subquery expression asks of its relation.
type SubqueryMode uint8

const (
	SubScalar SubqueryMode = iota + 1 // (SELECT x ...): the one value, NULL for no row, an error for more
	SubExists                         // EXISTS (SELECT ...): whether there is a row
	SubIn                             // X IN (SELECT x ...)
)

// Subquery is a subquery in an expression. Uncorrelated (Outer empty),
// the executor runs Rel once and replaces the expression by a constant
// (SubScalar, SubExists) or an InList (SubIn) before it runs the query
// that holds it (BindSubqueries). Correlated, Rel holds OuterRefs to the
// row-context expressions Outer of the query around it: the executor
// evaluates Outer per row and runs BindOuter's plan once per distinct
// combination of their values.
type Subquery struct {
	Mode  SubqueryMode
	Rel   *Rel
	Outer []Expr
	X     Expr // SubIn: the tested value, already of type Elem
	Elem  Type // SubIn: the type values are compared in
	T     Type
	corr  *corrScope // tags the OuterRefs that read Outer
	loc   int32
}

func (*Subquery) exprNode()    {}
func (s *Subquery) Type() Type { return s.T }
func (s *Subquery) String() string {
	p := "(SELECT ...)@" + strconv.Itoa(int(s.loc))
	switch s.Mode {
	case SubExists:
		return "EXISTS " + p
	case SubIn:
		return "(" + s.X.String() + " IN " + p + ")"
	}
	return p
}

// colAttr carries PostgreSQL typing details of a derived column that the
// plan's Type does not: numeric (a sum of bigint), integer (int4), and
// timestamp without time zone.
type colAttr struct {
	numeric, int4, naive bool
}

// rangeScope is where each column of a FROM clause with several items (a
// join) comes from.
type rangeScope struct {
	quals []string // per column: the FROM item's name ("" for a USING column)
	// hidden columns are reached only through their qualifier and are
	// not in "*" (a USING column's per-side copies).
	hidden []bool
	names  []string // the FROM items' names, in order
}

// cte is a WITH query in scope.
type cte struct {
	rel   *Rel
	attrs []colAttr
	used  bool // referenced (to tell a recursive WITH query from one that is not)
}

// child returns a planner for a nested SELECT (a subquery or a CTE): it
// sees the CTEs in scope and knows its enclosing planner, for the error
// on correlated references.
func (p *planner) child() *planner {
	c := &planner{cat: p.cat, now: p.now, keyIndex: map[string]int{}, aggIndex: map[string]int{}, outer: p}
	c.ctes = p.ctes
	return c
}

// planStatement plans a SELECT statement of any shape: WITH, set
// operations, and then the select itself.
func (p *planner) planStatement(s *pg_query.SelectStmt, loc int32) (*Query, error) {
	if s.WithClause != nil {
		if err := p.with(s.WithClause); err != nil {
			return nil, err
		}
	}
	if s.Op != pg_query.SetOperation_SETOP_NONE {
		return p.planSetOp(s, loc)
	}
	if err := checkSelectShape(s, loc); err != nil {
		return nil, err
	}
	q, err := p.planSelect(s)
	if err != nil {
		return nil, err
	}
	pushDown(q)
	if p.hasWindows(q) || p.distinctOn != nil {
		return p.splitWindows(q)
	}
	return q, nil
}

// with brings the WITH queries into scope, each seeing those before it.
func (p *planner) with(w *pg_query.WithClause) error {
	scope := map[string]*cte{}
	for name, c := range p.ctes {
		scope[name] = c
	}
	for _, n := range w.Ctes {
		c := n.GetCommonTableExpr()
		if c == nil {
			return unsupported(w.Location, "WITH item", "")
		}
		if c.SearchClause != nil || c.CycleClause != nil {
			return unsupported(c.Location, "SEARCH or CYCLE clause", "")
		}
		// MATERIALIZED / NOT MATERIALIZED change how PostgreSQL plans,
		// not what it answers: Silt materializes every CTE.
		sel := c.Ctequery.GetSelectStmt()
		if sel == nil {
			return unsupported(c.Location, "data-modifying statement in WITH", "")
		}
		if _, dup := scope[c.Ctename]; dup && p.ctes[c.Ctename] != scope[c.Ctename] {
			return invalid(c.Location, "42712", "WITH query name %q specified more than once", c.Ctename)
		}
		if w.Recursive {
			rec, err := p.recursiveCTE(c, sel, scope)
			if err != nil {
				return err
			}
			if rec != nil {
				scope[c.Ctename] = rec
				continue
			}
		}
		sub := p.child()
		sub.ctes = scope
		rel, attrs, err := sub.planRel(sel, c.Location)
		if err != nil {
			return err
		}
		if err := renameCols(rel, c.Aliascolnames, c.Ctename, c.Location); err != nil {
			return err
		}
		scope[c.Ctename] = &cte{rel: rel, attrs: attrs}
	}
	p.ctes = scope
	return nil
}

// renameCols applies a column alias list (WITH x(a, b), FROM (...) AS
// x(a, b)): it renames the first columns.
func renameCols(rel *Rel, names []*pg_query.Node, what string, loc int32) error {
	if len(names) == 0 {
		return nil
	}
	if len(names) > len(rel.Cols) {
		return invalid(loc, "42P10", "%s has %d columns available but %d columns specified", what, len(rel.Cols), len(names))
	}
	cols := append([]Output(nil), rel.Cols...)
	for i, n := range names {
		if s := n.GetString_(); s != nil {
			cols[i].Name = s.Sval
		}
	}
	rel.Cols = cols
	return nil
}

// planRel plans a nested SELECT into a relation, with its columns'
// typing details.
func (p *planner) planRel(s *pg_query.SelectStmt, loc int32) (*Rel, []colAttr, error) {
	q, err := p.planStatement(s, loc)
	if err != nil {
		return nil, nil, err
	}
	rel := &Rel{Kind: RelSelect, Query: q}
	attrs := make([]colAttr, len(q.Outputs))
	for i, o := range q.Outputs {
		if o.Type == TypeNull {
			return nil, nil, unsupported(loc, "untyped NULL column in a subquery", "cast it: NULL::text")
		}
		rel.Cols = append(rel.Cols, Output{Name: o.Name, Type: o.Type})
		if i < len(p.outAttrs) {
			attrs[i] = p.outAttrs[i]
		}
	}
	return rel, attrs, nil
}

// recordAttrs notes the typing details of the select list's items, for
// readers of the relation.
func (p *planner) recordAttrs() {
	p.outAttrs = make([]colAttr, len(p.targets))
	for i, t := range p.targets {
		p.outAttrs[i] = colAttr{numeric: p.isNumeric(t.expr), int4: p.isInt4(t.expr), naive: p.naive[t.expr]}
	}
}

// derivedTable is the table a query over rel reads: a column per rel
// column.
func derivedTable(name string, rel *Rel, attrs []colAttr) *Table {
	t := &Table{Name: name, derived: true}
	count := map[string]int{}
	for _, c := range rel.Cols {
		count[c.Name]++
	}
	for i, c := range rel.Cols {
		t.Columns = append(t.Columns, Column{Name: c.Name, Kind: KindField, Type: c.Type, Index: i, Ord: i, dup: count[c.Name] > 1})
	}
	t.attrs = attrs
	return t
}

// markColumn gives a reference to a derived column its typing details.
func (p *planner) markColumn(ref *ColumnRef) {
	if p.table == nil || !p.table.derived || ref.Column.Index >= len(p.table.attrs) {
		return
	}
	a := p.table.attrs[ref.Column.Index]
	if a.numeric {
		p.markNumeric(ref)
	}
	if a.int4 {
		p.markInt4(ref)
	}
	if a.naive {
		p.markNaive(ref)
	}
}

// planSetOp plans L op R [ORDER BY ...] [LIMIT ...] as a query over the
// set operation's relation.
func (p *planner) planSetOp(s *pg_query.SelectStmt, loc int32) (*Query, error) {
	rel, attrs, err := p.setOpRel(s, loc)
	if err != nil {
		return nil, err
	}
	return p.overRel(rel, attrs, s, loc)
}

// overRel plans SELECT * FROM rel with s's ORDER BY, LIMIT and OFFSET.
func (p *planner) overRel(rel *Rel, attrs []colAttr, s *pg_query.SelectStmt, loc int32) (*Query, error) {
	star := &pg_query.Node{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{
		Val: &pg_query.Node{Node: &pg_query.Node_ColumnRef{ColumnRef: &pg_query.ColumnRef{
			Fields: []*pg_query.Node{{Node: &pg_query.Node_AStar{AStar: &pg_query.A_Star{}}}}, Location: loc}}}, Location: loc}}}
	outer := &pg_query.SelectStmt{TargetList: []*pg_query.Node{star}, SortClause: s.SortClause,
		LimitCount: s.LimitCount, LimitOffset: s.LimitOffset, LimitOption: s.LimitOption}
	if s.LimitOption == pg_query.LimitOption_LIMIT_OPTION_WITH_TIES {
		return nil, unsupported(loc, "FETCH ... WITH TIES", "")
	}
	if len(s.LockingClause) > 0 {
		return nil, unsupported(loc, "locking clause (FOR UPDATE/SHARE)", "")
	}
	p.table, p.tableName, p.alias, p.input = derivedTable("", rel, attrs), "", "", rel
	p.fromDone = true
	return p.planSelect(outer)
}

func (p *planner) setOpRel(s *pg_query.SelectStmt, loc int32) (*Rel, []colAttr, error) {
	var op SetOpKind
	switch s.Op {
	case pg_query.SetOperation_SETOP_UNION:
		op = SetUnion
	case pg_query.SetOperation_SETOP_INTERSECT:
		op = SetIntersect
	case pg_query.SetOperation_SETOP_EXCEPT:
		op = SetExcept
	}
	arm := func(a *pg_query.SelectStmt) (*Rel, []colAttr, error) {
		c := p.child()
		if a.Op != pg_query.SetOperation_SETOP_NONE && a.WithClause == nil && len(a.SortClause) == 0 && a.LimitCount == nil && a.LimitOffset == nil {
			return c.setOpRel(a, loc)
		}
		return c.planRel(a, loc)
	}
	l, la, err := arm(s.Larg)
	if err != nil {
		return nil, nil, err
	}
	r, _, err := arm(s.Rarg)
	if err != nil {
		return nil, nil, err
	}
	if len(l.Cols) != len(r.Cols) {
		return nil, nil, invalid(loc, "42601", "each %s query must have the same number of columns", op).withCode(CodeSyntax)
	}
	rel := &Rel{Kind: RelSetOp, SetOp: op, All: s.All, L: l, R: r}
	for i, lc := range l.Cols {
		rc := r.Cols[i]
		t := lc.Type
		switch {
		case lc.Type == rc.Type:
		case lc.Type.numeric() && rc.Type.numeric():
			t = TypeFloat64
		default:
			return nil, nil, errAt(loc, CodeType, "42804", "%s types %s and %s cannot be matched", op, lc.Type.PGName(), rc.Type.PGName())
		}
		if t == TypeInterval {
			return nil, nil, unsupported(loc, "interval columns in "+op.String(), "")
		}
		rel.Cols = append(rel.Cols, Output{Name: lc.Name, Type: t})
	}
	return rel, la, nil
}

// fromDerived resolves a FROM item that is not a stored table: a CTE, a
// subquery, a join. It reports false for a stored table.
func (p *planner) fromDerived(n *pg_query.Node) (bool, error) {
	if rv := n.GetRangeVar(); rv != nil {
		if rv.Schemaname != "" || p.ctes[rv.Relname] == nil {
			return false, nil
		}
	}
	switch n.GetNode().(type) {
	case *pg_query.Node_RangeVar, *pg_query.Node_RangeSubselect:
		e, err := p.rangeItem(n)
		if err != nil {
			return true, err
		}
		p.table = derivedTable(e.name, e.rel, e.attrs)
		p.tableName, p.alias, p.input = e.name, "", e.rel
		return true, nil
	case *pg_query.Node_JoinExpr:
		return true, p.fromItems([]*pg_query.Node{n})
	}
	return false, nil
}

// rangeEntry is one FROM item as a relation.
type rangeEntry struct {
	name    string
	rel     *Rel
	attrs   []colAttr
	origins []colOrigin // a stored table's: its columns
}

// colOrigin is the stored table column a join's column reads, for
// pushing WHERE conjuncts down to that table's scan.
type colOrigin struct {
	q   *Query // the table's scan; nil: not a stored table's column
	col Column
	// nullable: an outer join may make the column NULL, so a condition
	// on it cannot filter the table before the join.
	nullable bool
}

// rangeItem resolves a FROM item other than a join into a relation: a
// CTE, a subquery, or a stored table (all its columns).
func (p *planner) rangeItem(n *pg_query.Node) (*rangeEntry, error) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		rv := x.RangeVar
		name := rv.Relname
		if rv.Alias != nil {
			name = rv.Alias.Aliasname
		}
		if c := p.ctes[rv.Relname]; c != nil && rv.Schemaname == "" {
			c.used = true
			rel := c.rel
			if rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
				cp := *rel
				if err := renameCols(&cp, rv.Alias.Colnames, "table \""+name+"\"", rv.Location); err != nil {
					return nil, err
				}
				// The copy shares the CTE's computation.
				rel = &Rel{Kind: RelSelect, Cols: cp.Cols, Query: selectAll(rel)}
			}
			return &rangeEntry{name: name, rel: rel, attrs: c.attrs}, nil
		}
		if !rv.Inh {
			return nil, unsupported(rv.Location, "ONLY", "")
		}
		t, err := p.resolveTable(rv.Catalogname, rv.Schemaname, rv.Relname, rv.Location)
		if err != nil {
			return nil, err
		}
		q := &Query{Kind: QuerySelect, Table: t, Limit: -1, TimeKey: -1, TimeRange: FullRange, Scan: t.Columns}
		rel := &Rel{Kind: RelSelect, Query: q}
		for _, c := range t.Columns {
			ref := &ColumnRef{Column: c}
			q.Outputs = append(q.Outputs, Output{Name: c.Name, Type: c.Type, Expr: ref})
			rel.Cols = append(rel.Cols, Output{Name: c.Name, Type: c.Type})
		}
		if rv.Alias != nil {
			if err := renameCols(rel, rv.Alias.Colnames, "table \""+name+"\"", rv.Location); err != nil {
				return nil, err
			}
		}
		e := &rangeEntry{name: name, rel: rel, attrs: make([]colAttr, len(rel.Cols))}
		for _, c := range t.Columns {
			e.origins = append(e.origins, colOrigin{q: q, col: c})
		}
		return e, nil
	case *pg_query.Node_RangeSubselect:
		rs := x.RangeSubselect
		if rs.Lateral {
			return nil, unsupported(-1, "LATERAL", "")
		}
		sel := rs.Subquery.GetSelectStmt()
		if sel == nil {
			return nil, unsupported(-1, "subquery form", "")
		}
		rel, attrs, err := p.child().planRel(sel, nodeLoc(rs.Subquery))
		if err != nil {
			return nil, err
		}
		name := ""
		if rs.Alias != nil {
			name = rs.Alias.Aliasname
			if len(rs.Alias.Colnames) > 0 {
				if err := renameCols(rel, rs.Alias.Colnames, "table \""+name+"\"", -1); err != nil {
					return nil, err
				}
			}
		}
		return &rangeEntry{name: name, rel: rel, attrs: attrs}, nil
	case *pg_query.Node_RangeFunction:
		if x.RangeFunction.Lateral {
			return nil, unsupported(-1, "LATERAL", "")
		}
		return nil, unsupported(-1, "function in FROM", "")
	case *pg_query.Node_RangeTableSample:
		return nil, unsupported(x.RangeTableSample.Location, "TABLESAMPLE", "")
	}
	return nil, unsupported(nodeLoc(n), splitCamel(nodeTypeName(n))+" in FROM", "")
}

// selectAll is SELECT * over rel, as a query.
func selectAll(rel *Rel) *Query {
	t := derivedTable("", rel, nil)
	q := &Query{Kind: QuerySelect, Table: t, Input: rel, Limit: -1, TimeKey: -1, TimeRange: FullRange, Scan: t.Columns}
	for _, c := range t.Columns {
		q.Outputs = append(q.Outputs, Output{Name: c.Name, Type: c.Type, Expr: &ColumnRef{Column: c}})
	}
	return q
}

// hasWindows reports whether q's outputs or sort keys call window
// functions.
func (p *planner) hasWindows(q *Query) bool {
	found := false
	look := func(e Expr) {
		Walk(e, func(x Expr) bool {
			if _, ok := x.(*windowCall); ok {
				found = true
			}
			return !found
		})
	}
	for _, o := range q.Outputs {
		look(o.Expr)
	}
	for _, k := range q.OrderBy {
		look(k.Expr)
	}
	return found
}

// splitWindows rewrites a query with window functions (or DISTINCT ON)
// into three steps: q without them, its select list and sort keys cut
// into the subexpressions free of window calls (the inner query's
// outputs); a RelWindow computing the window functions over those; and a
// query over that relation computing q's outputs, DISTINCT, ORDER BY and
// LIMIT. DISTINCT ON becomes row_number() OVER (PARTITION BY the
// expressions ORDER BY q's sort keys) = 1.
func (p *planner) splitWindows(q *Query) (*Query, error) {
	inner := *q
	inner.Outputs, inner.OrderBy, inner.Distinct, inner.Limit, inner.Offset = nil, nil, false, -1, 0
	leafIdx := map[string]int{}
	var wins []WindowFunc
	var winRefs []*ColumnRef // Index is the window's number until patched
	var cut func(e Expr, inWin bool) (Expr, error)
	leaf := func(e Expr) Expr {
		s := e.String()
		i, ok := leafIdx[s]
		if !ok {
			i = len(inner.Outputs)
			leafIdx[s] = i
			inner.Outputs = append(inner.Outputs, Output{Name: "c" + strconv.Itoa(i), Type: e.Type(), Expr: e})
		}
		return &ColumnRef{Column: Column{Name: "c" + strconv.Itoa(i), Kind: KindField, Type: e.Type(), Index: i, Ord: i}}
	}
	cut = func(e Expr, inWin bool) (Expr, error) {
		if _, ok := e.(*Const); ok {
			return e, nil
		}
		has := false
		Walk(e, func(x Expr) bool {
			if _, ok := x.(*windowCall); ok {
				has = true
			}
			return !has
		})
		if !has {
			return leaf(e), nil
		}
		if w, ok := e.(*windowCall); ok {
			if inWin {
				return nil, errAt(w.loc, CodeGrouping, "42P20", "window function calls cannot be nested")
			}
			y, err := w.mapExprs(func(a Expr) (Expr, error) { return cut(a, true) })
			if err != nil {
				return nil, err
			}
			ref := &ColumnRef{Column: Column{Name: w.fn.Name, Kind: KindField, Type: w.fn.Type, Index: len(wins)}}
			wins = append(wins, y.(*windowCall).fn)
			winRefs = append(winRefs, ref)
			return ref, nil
		}
		return mapChildren(e, func(a Expr) (Expr, error) { return cut(a, inWin) })
	}
	outer := &Query{Kind: QuerySelect, Limit: q.Limit, Offset: q.Offset, Distinct: q.Distinct, TimeKey: -1, TimeRange: FullRange}
	for _, o := range q.Outputs {
		e, err := cut(o.Expr, false)
		if err != nil {
			return nil, err
		}
		outer.Outputs = append(outer.Outputs, Output{Name: o.Name, Type: o.Type, Expr: e})
	}
	for _, k := range q.OrderBy {
		if k.Output >= 0 {
			k.Expr = outer.Outputs[k.Output].Expr
		} else {
			e, err := cut(k.Expr, false)
			if err != nil {
				return nil, err
			}
			k.Expr = e
		}
		outer.OrderBy = append(outer.OrderBy, k)
	}
	if p.distinctOn != nil {
		rn := WindowFunc{Name: "row_number", Type: TypeInt64, Frame: Frame{Rows: true, Start: BoundUnboundedPreceding, End: BoundCurrentRow}}
		for _, e := range p.distinctOn {
			c, err := cut(e, true)
			if err != nil {
				return nil, err
			}
			rn.Partition = append(rn.Partition, c)
		}
		for _, k := range outer.OrderBy {
			k.Output = -1
			rn.Order = append(rn.Order, k)
		}
		ref := &ColumnRef{Column: Column{Name: "row_number", Kind: KindField, Type: TypeInt64, Index: len(wins)}}
		wins = append(wins, rn)
		winRefs = append(winRefs, ref)
		outer.Where = &Binary{Op: OpEq, L: ref, R: &Const{Value: IntValue(1)}, T: TypeBool}
		outer.Residual = outer.Where
	}
	if len(inner.Outputs) == 0 {
		// Only constants and argument-less window functions: the rows
		// still count.
		leaf(&Const{Value: BoolValue(true)})
	}
	in := &Rel{Kind: RelSelect, Query: &inner}
	for _, o := range inner.Outputs {
		in.Cols = append(in.Cols, Output{Name: o.Name, Type: o.Type})
	}
	// The window functions read the inner columns: their leaves are
	// ColumnRefs already.
	win := &Rel{Kind: RelWindow, Input: in, Windows: wins, Cols: append([]Output(nil), in.Cols...)}
	for i, w := range wins {
		win.Cols = append(win.Cols, Output{Name: "w" + strconv.Itoa(i), Type: w.Type})
	}
	for _, r := range winRefs {
		r.Column.Index += len(in.Cols)
		r.Column.Ord = r.Column.Index
		r.Column.Name = win.Cols[r.Column.Index].Name
	}
	outer.Table = derivedTable("", win, nil)
	outer.Input = win
	outer.Scan = outer.Table.Columns
	return outer, nil
}

// subLink resolves a subquery in an expression.
func (p *planner) subLink(sl *pg_query.SubLink, c clause, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := sl.Location
	if c.noVars || c.name == "ON" || c.name == "GROUP BY" {
		return nil, unsupported(loc, "subquery in "+c.name, "")
	}
	sel := sl.Subselect.GetSelectStmt()
	if sel == nil {
		return nil, unsupported(loc, "subquery form", "")
	}
	var mode SubqueryMode
	switch sl.SubLinkType {
	case pg_query.SubLinkType_EXPR_SUBLINK:
		mode = SubScalar
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		mode = SubExists
	case pg_query.SubLinkType_ANY_SUBLINK:
		if len(sl.OperName) > 0 {
			if s := sl.OperName[len(sl.OperName)-1].GetString_(); s == nil || s.Sval != "=" {
				return nil, unsupported(loc, "ANY/SOME with an operator other than =", "")
			}
		}
		mode = SubIn
	case pg_query.SubLinkType_ALL_SUBLINK:
		return nil, unsupported(loc, "ALL (subquery)", "")
	case pg_query.SubLinkType_ARRAY_SUBLINK:
		return nil, unsupported(loc, "ARRAY (subquery)", "")
	default:
		return nil, unsupported(loc, "subquery form", "")
	}
	cp := p.child()
	cp.sublink = true
	rel, _, err := cp.planRel(sel, loc)
	if err != nil {
		return nil, err
	}
	sq := &Subquery{Mode: mode, Rel: rel, Outer: cp.outerArgs, corr: cp.corr, loc: loc}
	switch mode {
	case SubExists:
		sq.T = TypeBool
		return sq, nil
	case SubScalar:
		if len(rel.Cols) != 1 {
			return nil, errAt(loc, CodeSyntax, "42601", "subquery must return only one column")
		}
		sq.T = rel.Cols[0].Type
		if sq.T == TypeInterval {
			return nil, unsupported(loc, "interval subquery", "")
		}
		return sq, nil
	}
	if sl.Testexpr.GetRowExpr() != nil {
		return nil, unsupported(loc, "row constructor IN (subquery)", "")
	}
	x, err := sub(sl.Testexpr)
	if err != nil {
		return nil, err
	}
	if len(rel.Cols) != 1 {
		return nil, errAt(loc, CodeSyntax, "42601", "subquery has too many columns")
	}
	et := rel.Cols[0].Type
	xt := x.Type()
	switch {
	case isUnknownLit(x):
		if x, err = p.cast(x, et, loc); err != nil {
			return nil, err
		}
	case xt == et:
	case xt.numeric() && et.numeric():
		et = TypeFloat64
		if xt != et {
			if x, err = p.forceTo(x, et, loc); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errAt(loc, CodeUndefinedFunction, "42883", "operator does not exist: %s = %s", xt.PGName(), et.PGName())
	}
	if et == TypeInterval || et == TypeNull {
		return nil, unsupported(loc, "IN (subquery) of this type", "")
	}
	sq.X, sq.Elem, sq.T = x, et, TypeBool
	return sq, nil
}

// BindSubqueries returns a copy of q in which every Subquery is replaced
// by its answer, which run computes (the rows of the subquery's Rel),
// with the time range and residual predicate derived again from the new
// WHERE. q is returned as is when it holds no subquery.
func (q *Query) BindSubqueries(run func(*Rel) ([][]Value, error)) (*Query, error) {
	if !q.HasSubqueries() {
		return q, nil
	}
	bindOne := func(e Expr) (Expr, error) {
		var f func(Expr) (Expr, error)
		f = func(e Expr) (Expr, error) {
			if e == nil {
				return nil, nil
			}
			s, ok := e.(*Subquery)
			if !ok || s.Correlated() {
				// A correlated subquery is computed per row, as
				// the query runs.
				return mapChildren(e, f)
			}
			rows, err := run(s.Rel)
			if err != nil {
				return nil, err
			}
			switch s.Mode {
			case SubExists:
				return &Const{Value: BoolValue(len(rows) > 0)}, nil
			case SubScalar:
				switch len(rows) {
				case 0:
					return &Const{Value: NullValue(s.T)}, nil
				case 1:
					return &Const{Value: rows[0][0]}, nil
				}
				return nil, errAt(s.loc, CodeInvalid, "21000", "more than one row returned by a subquery used as an expression")
			}
			x, err := f(s.X)
			if err != nil {
				return nil, err
			}
			in := &InList{X: x}
			seen := map[Value]bool{}
			for _, r := range rows {
				v := r[0]
				if v.Null {
					in.HasNull = true
					continue
				}
				if v.Type != s.Elem {
					if v, err = convertValue(v, s.Elem, time.Time{}); err != nil {
						return nil, err
					}
				}
				if !seen[v] {
					seen[v] = true
					in.Values = append(in.Values, v)
				}
			}
			return in, nil
		}
		return f(e)
	}
	c := *q
	var err error
	if c.Where, err = bindOne(q.Where); err != nil {
		return nil, err
	}
	if c.Where != nil {
		c.TimeRange, c.Residual = timeRange(normalize(c.Where))
	}
	if c.Having, err = bindOne(q.Having); err != nil {
		return nil, err
	}
	c.GroupBy = append([]GroupKey(nil), q.GroupBy...)
	for i := range c.GroupBy {
		if c.GroupBy[i].Expr, err = bindOne(c.GroupBy[i].Expr); err != nil {
			return nil, err
		}
	}
	c.Aggregates = append([]Aggregate(nil), q.Aggregates...)
	for i := range c.Aggregates {
		a := &c.Aggregates[i]
		if a.Arg, err = bindOne(a.Arg); err != nil {
			return nil, err
		}
		if a.Filter, err = bindOne(a.Filter); err != nil {
			return nil, err
		}
	}
	c.Outputs = append([]Output(nil), q.Outputs...)
	for i := range c.Outputs {
		if c.Outputs[i].Expr, err = bindOne(c.Outputs[i].Expr); err != nil {
			return nil, err
		}
	}
	c.OrderBy = append([]SortKey(nil), q.OrderBy...)
	for i := range c.OrderBy {
		if c.OrderBy[i].Expr, err = bindOne(c.OrderBy[i].Expr); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// HasSubqueries reports whether q's expressions hold a Subquery.
func (q *Query) HasSubqueries() bool {
	found := false
	look := func(e Expr) {
		Walk(e, func(x Expr) bool {
			if _, ok := x.(*Subquery); ok {
				found = true
			}
			return !found
		})
	}
	look(q.Where)
	look(q.Having)
	for _, k := range q.GroupBy {
		look(k.Expr)
	}
	for _, a := range q.Aggregates {
		look(a.Arg)
		look(a.Filter)
	}
	for _, o := range q.Outputs {
		look(o.Expr)
	}
	for _, k := range q.OrderBy {
		look(k.Expr)
	}
	return found
}

// isDistinctOn reports whether s is SELECT DISTINCT ON (...).
func isDistinctOn(s *pg_query.SelectStmt) bool {
	return len(s.DistinctClause) > 1 || len(s.DistinctClause) == 1 && s.DistinctClause[0].GetNode() != nil
}

// resolveDistinctOn resolves the DISTINCT ON expressions as ORDER BY
// items are resolved (positions, output names, expressions), bound to
// q's context.
func (p *planner) resolveDistinctOn(s *pg_query.SelectStmt, q *Query, bind func(Expr) (Expr, error)) error {
	p.distinctOn = []Expr{}
	for _, n := range s.DistinctClause {
		idx, e, err := p.orderItem(n)
		if err != nil {
			return err
		}
		if idx >= 0 {
			e = q.Outputs[idx].Expr
		} else if e, err = bind(e); err != nil {
			return err
		}
		if e.Type() == TypeInterval {
			return unsupported(nodeLoc(n), "DISTINCT ON an interval", "")
		}
		p.distinctOn = append(p.distinctOn, e)
	}
	return nil
}

// checkDistinctOn applies PostgreSQL's rule that the DISTINCT ON
// expressions lead the ORDER BY.
func (p *planner) checkDistinctOn(q *Query) error {
	on := map[string]bool{}
	for _, e := range p.distinctOn {
		on[e.String()] = true
	}
	for i, k := range q.OrderBy {
		if i >= len(on) {
			break
		}
		if !on[k.Expr.String()] {
			return invalid(-1, "42P10", "SELECT DISTINCT ON expressions must match initial ORDER BY expressions")
		}
	}
	return nil
}

// ambiguityHint explains why a column name is ambiguous.
func ambiguityHint(t *Table) string {
	if t.scope != nil {
		return "qualify it with the table name"
	}
	return "the table has a tag and a field of that name"
}

// pushDown copies each WHERE conjunct of a query over joined tables that
// reads the columns of one stored table only (not on the NULL side of an
// outer join) into that table's scan, so that its time range and tag
// filters prune what is read. The conjunct stays in q too.
func pushDown(q *Query) {
	if q.Table == nil || q.Table.origins == nil || q.Where == nil {
		return
	}
	conj := []Expr{q.Where}
	if l, ok := q.Where.(*Logic); ok && l.Op == OpAnd {
		conj = l.Args
	}
	for _, c := range conj {
		var base *Query
		ok := true
		Walk(c, func(x Expr) bool {
			switch y := x.(type) {
			case *Subquery:
				ok = false // runs with the query that holds it
			case *ColumnRef:
				if y.Column.Index >= len(q.Table.origins) {
					ok = false
					break
				}
				o := q.Table.origins[y.Column.Index]
				if o.q == nil || o.nullable || base != nil && base != o.q {
					ok = false
				}
				base = o.q
			}
			return ok
		})
		if !ok || base == nil {
			continue
		}
		var remap func(Expr) (Expr, error)
		remap = func(e Expr) (Expr, error) {
			if r, isRef := e.(*ColumnRef); isRef {
				return &ColumnRef{Column: q.Table.origins[r.Column.Index].col, loc: r.loc}, nil
			}
			return mapChildren(e, remap)
		}
		e, err := remap(c)
		if err != nil {
			continue
		}
		if base.Where == nil {
			base.Where = e
		} else {
			base.Where = &Logic{Op: OpAnd, Args: []Expr{base.Where, e}}
		}
		base.TimeRange, base.Residual = timeRange(normalize(base.Where))
	}
}
