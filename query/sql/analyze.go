package sql

import (
	"math"
	"sort"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Compile parses and plans sql: Parse followed by Plan.
func Compile(sql string, cat Catalog, now time.Time) (*Query, error) {
	st, err := Parse(sql)
	if err != nil {
		return nil, err
	}
	if st.release == nil {
		return Plan(st, cat, now)
	}
	// A tree from the shape cache: the plan holds nothing of it, so it
	// goes back once planned. Errors come from a fresh parse, whose
	// positions are this text's.
	q, err := Plan(st, cat, now)
	st.release()
	if err != nil {
		return compileUncached(sql, cat, now)
	}
	return q, nil
}

// Plan resolves a parsed statement against the catalog into a Query. now
// is the value of now() and CURRENT_TIMESTAMP. Errors are *Error.
func Plan(st *Statement, cat Catalog, now time.Time) (*Query, error) {
	if st == nil {
		return nil, &Error{Code: CodeInvalid, Message: "no statement"}
	}
	p := &planner{cat: cat, now: now.UTC(), keyIndex: map[string]int{}, aggIndex: map[string]int{}}
	switch st.Kind {
	case StmtShowTables:
		return &Query{Kind: QueryShowTables, Limit: -1, TimeKey: -1, TimeRange: FullRange,
			Outputs: []Output{{Name: "table_name", Type: TypeString}}}, nil
	case StmtDescribe:
		t, err := p.resolveTable("", st.Schema, st.Table, -1)
		if err != nil {
			return nil, err
		}
		return &Query{Kind: QueryDescribe, Table: t, Limit: -1, TimeKey: -1, TimeRange: FullRange,
			Outputs: []Output{{Name: "column_name", Type: TypeString}, {Name: "data_type", Type: TypeString}, {Name: "column_kind", Type: TypeString}}}, nil
	case StmtExplain:
		return planExplain(st, cat, now) // explain.go
	}
	if st.sel == nil {
		return nil, &Error{Code: CodeInvalid, Message: "statement was not produced by Parse"}
	}
	return p.planStatement(st.sel, st.loc)
}

type planner struct {
	cat Catalog
	now time.Time

	table     *Table
	tableName string // the table's name as written
	alias     string // FROM alias, or ""

	targets []target

	keys     []GroupKey
	keyIndex map[string]int // GroupKey.Expr.String() → index
	aggs     []Aggregate
	aggIndex map[string]int // Aggregate.String() → index

	numeric map[Expr]bool // expressions of PostgreSQL type numeric (see markNumeric)
	naive   map[Expr]bool // timestamps without time zone (see markNaive)
	int4    map[Expr]bool // PostgreSQL integer (int4) expressions (see markInt4)

	ctes       map[string]*cte // WITH queries in scope
	outer      *planner        // the enclosing query's, in a subquery
	sublink    bool            // a subquery in an expression: may correlate with outer
	outerArgs  []Expr          // its correlated references, in outer's context (OuterRef.Index)
	corr       *corrScope      // a sublink's identity in its OuterRefs (outerColumn)
	input      *Rel            // what FROM reads when it is not a stored table
	fromDone   bool            // FROM was resolved by the caller (set operations)
	outAttrs   []colAttr       // the select list's typing details (recordAttrs)
	distinctOn []Expr          // DISTINCT ON expressions, bound
}

// target is one select-list item before binding: a row-context
// expression that may hold aggregate calls.
type target struct {
	name string
	expr Expr
	loc  int32
}

// clause describes where an expression stands, for the rules that depend
// on it.
type clause struct {
	name     string // "WHERE", "SELECT", "GROUP BY", ...
	allowAgg bool
	inAgg    bool // inside an aggregate's argument
	noVars   bool // LIMIT/OFFSET: no column references
}

// aggCall is an aggregate call before binding (row context, only in
// targets, HAVING and ORDER BY); binding turns it into an AggRef.
type aggCall struct {
	agg Aggregate
	loc int32
}

func (*aggCall) exprNode()        {}
func (a *aggCall) Type() Type     { return a.agg.Type }
func (a *aggCall) String() string { return a.agg.String() }

func (p *planner) scopeName() string {
	if p.alias != "" {
		return p.alias
	}
	return p.tableName
}

func (p *planner) resolveTable(catalog, schema, name string, loc int32) (*Table, error) {
	full := name
	if schema != "" {
		full = schema + "." + name
	}
	if catalog != "" {
		return nil, unsupported(loc, "database-qualified table name", "choose the database with the db parameter")
	}
	if schema != "" && schema != "public" {
		return nil, errAt(loc, CodeUndefinedTable, "42P01", "relation %q does not exist", full).
			withHint("the only schema is public")
	}
	if p.cat == nil {
		return nil, errAt(loc, CodeUndefinedTable, "42P01", "relation %q does not exist", full)
	}
	info, ok := p.cat.Table(name)
	if !ok {
		return nil, errAt(loc, CodeUndefinedTable, "42P01", "relation %q does not exist", full)
	}
	return newTable(name, info), nil
}

func (p *planner) planSelect(s *pg_query.SelectStmt) (*Query, error) {
	q := &Query{Kind: QuerySelect, Limit: -1, TimeKey: -1, TimeRange: FullRange}

	// FROM
	switch {
	case p.fromDone:
	case len(s.FromClause) == 0:
		return p.planNoFrom(s)
	case len(s.FromClause) == 1:
		if err := p.from(s.FromClause[0]); err != nil {
			return nil, err
		}
	default:
		if err := p.fromItems(s.FromClause); err != nil {
			return nil, err
		}
	}
	q.Table, q.Input = p.table, p.input

	// SELECT list
	if len(s.TargetList) == 0 {
		return nil, unsupported(-1, "empty select list", "")
	}
	if err := p.targetList(s.TargetList); err != nil {
		return nil, err
	}

	// WHERE
	if s.WhereClause != nil {
		w, err := p.expr(s.WhereClause, clause{name: "WHERE"})
		if err != nil {
			return nil, err
		}
		if w, err = p.requireBool(w, "WHERE", nodeLoc(s.WhereClause)); err != nil {
			return nil, err
		}
		if c, ok := w.(*Const); !ok || c.Value.Null || !c.Value.Bool {
			q.Where = w // WHERE TRUE is dropped
		}
	}

	// GROUP BY
	for _, g := range s.GroupClause {
		if err := p.groupItem(g); err != nil {
			return nil, err
		}
	}

	// HAVING
	var having Expr
	if s.HavingClause != nil {
		h, err := p.expr(s.HavingClause, clause{name: "HAVING", allowAgg: true})
		if err != nil {
			return nil, err
		}
		if having, err = p.requireBool(h, "HAVING", nodeLoc(s.HavingClause)); err != nil {
			return nil, err
		}
	}

	// ORDER BY (resolved against the targets; bound below)
	type sortItem struct {
		target int  // >= 0: a target
		expr   Expr // else: a row-context expression
		desc   bool
		nulls  bool
		loc    int32
	}
	var sorts []sortItem
	for _, n := range s.SortClause {
		sb := n.GetSortBy()
		if sb == nil {
			return nil, unsupported(nodeLoc(n), "ORDER BY item", "")
		}
		if sb.SortbyDir == pg_query.SortByDir_SORTBY_USING {
			return nil, unsupported(sb.Location, "ORDER BY ... USING", "")
		}
		it := sortItem{target: -1, desc: sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC, loc: nodeLoc(sb.Node)}
		it.nulls = it.desc
		switch sb.SortbyNulls {
		case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
			it.nulls = true
		case pg_query.SortByNulls_SORTBY_NULLS_LAST:
			it.nulls = false
		}
		idx, e, err := p.orderItem(sb.Node)
		if err != nil {
			return nil, err
		}
		it.target, it.expr = idx, e
		sorts = append(sorts, it)
	}

	// Aggregated?
	q.Aggregated = len(s.GroupClause) > 0 || having != nil
	for _, t := range p.targets {
		q.Aggregated = q.Aggregated || hasAgg(t.expr)
	}
	for _, it := range sorts {
		q.Aggregated = q.Aggregated || hasAgg(it.expr)
	}

	// Outputs, HAVING and ORDER BY in their evaluation context.
	bind := func(e Expr) (Expr, error) { return e, nil }
	if q.Aggregated {
		bind = p.bind
	}
	for _, t := range p.targets {
		e, err := bind(t.expr)
		if err != nil {
			return nil, err
		}
		q.Outputs = append(q.Outputs, Output{Name: t.name, Type: e.Type(), Expr: e})
	}
	if having != nil {
		h, err := bind(having)
		if err != nil {
			return nil, err
		}
		if c, ok := h.(*Const); !ok || c.Value.Null || !c.Value.Bool {
			q.Having = h
		}
	}
	q.Distinct = len(s.DistinctClause) > 0 && !isDistinctOn(s)
	if isDistinctOn(s) {
		if err := p.resolveDistinctOn(s, q, bind); err != nil {
			return nil, err
		}
	}
	for _, it := range sorts {
		k := SortKey{Output: it.target, Desc: it.desc, NullsFirst: it.nulls}
		if it.target >= 0 {
			k.Expr = q.Outputs[it.target].Expr
		} else {
			if q.Distinct {
				return nil, invalid(it.loc, "42P10", "for SELECT DISTINCT, ORDER BY expressions must appear in select list").
					withCode(CodeGrouping)
			}
			e, err := bind(it.expr)
			if err != nil {
				return nil, err
			}
			k.Expr = e
		}
		if _, ok := k.Expr.(*Const); ok {
			continue // sorting by a constant orders nothing
		}
		if k.Expr.Type() == TypeNull {
			continue
		}
		q.OrderBy = append(q.OrderBy, k)
	}

	// LIMIT / OFFSET
	var err error
	if q.Limit, err = p.limit(s.LimitCount, "LIMIT", -1); err != nil {
		return nil, err
	}
	if q.Offset, err = p.limit(s.LimitOffset, "OFFSET", 0); err != nil {
		return nil, err
	}

	q.GroupBy = p.keys
	for i, k := range p.keys {
		if k.IsTime() {
			q.TimeKey = i
		}
	}
	q.Aggregates = p.aggs
	if q.GroupBy == nil && q.Aggregated {
		q.GroupBy = []GroupKey{}
	}

	// Time range and residual predicate.
	q.TimeRange, q.Residual = timeRange(normalize(q.Where))

	// Columns read.
	used := map[int]Column{}
	collect := func(e Expr) {
		Walk(e, func(x Expr) bool {
			if c, ok := x.(*ColumnRef); ok {
				used[c.Column.Index] = c.Column
			}
			return true
		})
	}
	collect(q.Residual)
	for _, k := range q.GroupBy {
		collect(k.Expr)
	}
	for _, a := range q.Aggregates {
		collect(a.Arg)
		collect(a.Filter)
		collect(a.Order)
		if a.Func == AggFirst || a.Func == AggLast {
			used[0] = q.Table.Columns[0] // they order by time
		}
	}
	if !q.Aggregated {
		for _, o := range q.Outputs {
			collect(o.Expr)
		}
		for _, k := range q.OrderBy {
			collect(k.Expr)
		}
	}
	for _, c := range used {
		q.Scan = append(q.Scan, c)
	}
	sort.Slice(q.Scan, func(i, j int) bool { return q.Scan[i].Index < q.Scan[j].Index })
	if p.distinctOn != nil {
		if err := p.checkDistinctOn(q); err != nil {
			return nil, err
		}
	}
	p.recordAttrs()
	return q, nil
}

// planNoFrom plans SELECT without FROM: a list of constant expressions,
// one row.
func (p *planner) planNoFrom(s *pg_query.SelectStmt) (*Query, error) {
	switch {
	case s.WhereClause != nil, len(s.GroupClause) > 0, s.HavingClause != nil, len(s.SortClause) > 0,
		s.LimitCount != nil, s.LimitOffset != nil, len(s.DistinctClause) > 0:
		return nil, unsupported(-1, "SELECT without FROM", "only a list of constant expressions is")
	case len(s.TargetList) == 0:
		return nil, unsupported(-1, "empty select list", "")
	}
	if err := p.targetList(s.TargetList); err != nil {
		return nil, err
	}
	q := &Query{Kind: QuerySelect, Limit: -1, TimeKey: -1, TimeRange: FullRange}
	p.recordAttrs()
	for _, t := range p.targets {
		if hasAgg(t.expr) {
			return nil, unsupported(t.loc, "aggregate without FROM", "")
		}
		q.Outputs = append(q.Outputs, Output{Name: t.name, Type: t.expr.Type(), Expr: t.expr})
	}
	return q, nil
}

// from resolves the single FROM item.
func (p *planner) from(n *pg_query.Node) error {
	if ok, err := p.fromDerived(n); ok || err != nil {
		return err
	}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		rv := x.RangeVar
		if !rv.Inh {
			return unsupported(rv.Location, "ONLY", "")
		}
		t, err := p.resolveTable(rv.Catalogname, rv.Schemaname, rv.Relname, rv.Location)
		if err != nil {
			return err
		}
		p.table, p.tableName = t, rv.Relname
		if rv.Alias != nil {
			if len(rv.Alias.Colnames) > 0 {
				return unsupported(rv.Location, "column aliases in FROM", "")
			}
			p.alias = rv.Alias.Aliasname
		}
		return nil
	case *pg_query.Node_JoinExpr:
		return unsupported(nodeLoc(x.JoinExpr.Larg), "JOIN", "FROM takes exactly one table")
	case *pg_query.Node_RangeSubselect:
		if x.RangeSubselect.Lateral {
			return unsupported(-1, "LATERAL", "")
		}
		return unsupported(-1, "subquery", "FROM takes exactly one table")
	case *pg_query.Node_RangeFunction:
		if x.RangeFunction.Lateral {
			return unsupported(-1, "LATERAL", "")
		}
		return unsupported(-1, "function in FROM", "")
	case *pg_query.Node_RangeTableSample:
		return unsupported(x.RangeTableSample.Location, "TABLESAMPLE", "")
	default:
		return unsupported(nodeLoc(n), splitCamel(nodeTypeName(n))+" in FROM", "")
	}
}

// targetList resolves the select list, expanding *.
func (p *planner) targetList(list []*pg_query.Node) error {
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			return unsupported(nodeLoc(n), "select-list item", "")
		}
		if len(rt.Indirection) > 0 {
			return unsupported(rt.Location, "subscript or field selection", "")
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			if p.table == nil {
				return errAt(cr.Location, CodeSyntax, "42601", "SELECT * with no tables specified is not valid")
			}
			if err := p.checkQualifier(cr.Fields[:len(cr.Fields)-1], cr.Location); err != nil {
				return err
			}
			qual := ""
			if len(cr.Fields) > 1 {
				qual = cr.Fields[len(cr.Fields)-2].GetString_().GetSval()
			}
			for _, c := range p.table.starColumns(qual) {
				p.targets = append(p.targets, target{name: c.Name, expr: &ColumnRef{Column: c, loc: cr.Location}, loc: cr.Location})
			}
			continue
		}
		e, err := p.expr(rt.Val, clause{name: "SELECT", allowAgg: true})
		if err != nil {
			return err
		}
		if c, ok := e.(*Const); ok && e.Type() == TypeInterval {
			// Intervals are output as PostgreSQL's text for them.
			s, _ := constText(c.Value)
			e = &Const{Value: StringValue(s)}
			if c.Value.Null {
				e = &Const{Value: NullValue(TypeString)}
			}
		}
		if c, ok := e.(*Const); ok && c.Value.Type == TypeNull {
			e = &Const{Value: NullValue(TypeString)} // PostgreSQL outputs an untyped NULL as text
		}
		name := rt.Name
		if name == "" {
			name = figureColname(rt.Val)
		}
		p.targets = append(p.targets, target{name: name, expr: e, loc: rt.Location})
	}
	return nil
}

// groupItem resolves one GROUP BY item with PostgreSQL's rules: an integer
// is a select-list position; a bare name is an input column if the table
// has it, else a select-list alias; anything else an expression.
func (p *planner) groupItem(n *pg_query.Node) error {
	loc := nodeLoc(n)
	var e Expr
	switch x := n.GetNode().(type) {
	case *pg_query.Node_GroupingSet:
		switch x.GroupingSet.Kind {
		case pg_query.GroupingSetKind_GROUPING_SET_ROLLUP:
			return unsupported(x.GroupingSet.Location, "ROLLUP", "")
		case pg_query.GroupingSetKind_GROUPING_SET_CUBE:
			return unsupported(x.GroupingSet.Location, "CUBE", "")
		case pg_query.GroupingSetKind_GROUPING_SET_EMPTY:
			return nil // GROUP BY (): one group, like an aggregate without GROUP BY
		}
		return unsupported(x.GroupingSet.Location, "GROUPING SETS", "")
	case *pg_query.Node_AConst:
		if x.AConst.GetIval() == nil {
			return errAt(loc, CodeSyntax, "42601", "non-integer constant in GROUP BY")
		}
		if iv := x.AConst.GetIval(); iv != nil {
			i := int(iv.Ival)
			if i < 1 || i > len(p.targets) {
				return invalid(loc, "42P10", "GROUP BY position %d is not in select list", i)
			}
			e = p.targets[i-1].expr
			if hasAgg(e) {
				return errAt(loc, CodeGrouping, "42803", "aggregate functions are not allowed in GROUP BY")
			}
		}
	case *pg_query.Node_ColumnRef:
		if name, ok := bareName(x.ColumnRef); ok && p.table != nil && len(p.table.lookup(name)) == 0 {
			t, err := p.targetByName(name, "GROUP BY", loc)
			if err != nil {
				return err
			}
			if t >= 0 {
				e = p.targets[t].expr
				if hasAgg(e) {
					return errAt(loc, CodeGrouping, "42803", "aggregate functions are not allowed in GROUP BY")
				}
			}
		}
	}
	if e == nil {
		var err error
		if e, err = p.expr(n, clause{name: "GROUP BY"}); err != nil {
			return err
		}
	}
	return p.addKey(e, loc)
}

// addKey records a group key, deduplicated.
func (p *planner) addKey(e Expr, loc int32) error {
	var key GroupKey
	switch x := e.(type) {
	case *Const:
		// PostgreSQL makes one group of all rows, but none (no output row)
		// when there is no row, unlike GROUP BY () or no GROUP BY: a key
		// evaluated over the rows does the same.
		key = GroupKey{Column: Column{Kind: KindExpr, Index: -1}, Expr: x}
	case *ColumnRef:
		switch x.Column.Kind {
		case KindTime:
			key = GroupKey{Column: x.Column, Bucket: Bucket{Width: 1}, Expr: x}
		default: // a tag or a field
			key = GroupKey{Column: x.Column, Expr: x}
		}
	case *DateBin:
		if c, ok := x.X.(*ColumnRef); ok && c.Column.Kind == KindTime {
			key = GroupKey{Column: c.Column, Bucket: x.Bucket, Expr: x}
		} else {
			key = GroupKey{Column: Column{Kind: KindExpr, Index: -1}, Expr: x}
		}
	default:
		if hasAgg(e) {
			return errAt(loc, CodeGrouping, "42803", "aggregate functions are not allowed in GROUP BY")
		}
		key = GroupKey{Column: Column{Kind: KindExpr, Index: -1}, Expr: e}
	}
	s := key.Expr.String()
	if _, dup := p.keyIndex[s]; dup {
		return nil
	}
	if key.IsTime() {
		for _, k := range p.keys {
			if k.IsTime() {
				return unsupported(loc, "more than one time key in GROUP BY", "")
			}
		}
	}
	p.keyIndex[s] = len(p.keys)
	p.keys = append(p.keys, key)
	return nil
}

// orderItem resolves one ORDER BY expression with PostgreSQL's rules: an
// integer is a select-list position; a bare name is an output column name
// if one has it; anything else an expression, which is matched against
// the select list.
func (p *planner) orderItem(n *pg_query.Node) (int, Expr, error) {
	loc := nodeLoc(n)
	switch x := n.GetNode().(type) {
	case *pg_query.Node_AConst:
		if x.AConst.GetIval() == nil {
			return 0, nil, errAt(loc, CodeSyntax, "42601", "non-integer constant in ORDER BY")
		}
		if iv := x.AConst.GetIval(); iv != nil {
			i := int(iv.Ival)
			if i < 1 || i > len(p.targets) {
				return 0, nil, invalid(loc, "42P10", "ORDER BY position %d is not in select list", i)
			}
			return i - 1, nil, nil
		}
	case *pg_query.Node_ColumnRef:
		if name, ok := bareName(x.ColumnRef); ok {
			t, err := p.targetByName(name, "ORDER BY", loc)
			if err != nil || t >= 0 {
				return t, nil, err
			}
		}
	}
	e, err := p.expr(n, clause{name: "ORDER BY", allowAgg: true})
	if err != nil {
		return 0, nil, err
	}
	s := e.String()
	for i, t := range p.targets {
		if t.expr.String() == s {
			return i, nil, nil
		}
	}
	return -1, e, nil
}

// targetByName finds the select-list item named name: its index, or -1.
func (p *planner) targetByName(name, clauseName string, loc int32) (int, error) {
	found := -1
	for i, t := range p.targets {
		if t.name != name {
			continue
		}
		if found >= 0 && p.targets[found].expr.String() != t.expr.String() {
			return 0, errAt(loc, CodeAmbiguous, "42702", "%s %q is ambiguous", clauseName, name)
		}
		if found < 0 {
			found = i
		}
	}
	return found, nil
}

func bareName(c *pg_query.ColumnRef) (string, bool) {
	if len(c.Fields) != 1 {
		return "", false
	}
	s := c.Fields[0].GetString_()
	if s == nil {
		return "", false
	}
	return s.Sval, true
}

// limit resolves LIMIT or OFFSET: a constant integer expression.
func (p *planner) limit(n *pg_query.Node, what string, def int64) (int64, error) {
	if n == nil {
		return def, nil
	}
	e, err := p.expr(n, clause{name: what, noVars: true})
	if err != nil {
		return 0, err
	}
	c, ok := e.(*Const)
	if !ok {
		return 0, unsupported(nodeLoc(n), "non-constant "+what, "")
	}
	if c.Value.Null {
		return def, nil // LIMIT ALL, LIMIT NULL, OFFSET NULL
	}
	val := c.Value
	if c.lit == litDecimal {
		val.Float = math.Round(val.Float) // numeric → bigint rounds half away from zero
	}
	v, err := convertValue(val, TypeInt64, p.now)
	if err != nil || c.Value.Type == TypeBool || c.Value.Type == TypeTimestamp || c.Value.Type == TypeInterval {
		return 0, errAt(nodeLoc(n), CodeType, "42804", "argument of %s must be type bigint, not type %s", what, pgTypeName(e))
	}
	if v.Int < 0 {
		state := "2201W"
		if what == "OFFSET" {
			state = "2201X"
		}
		return 0, invalid(nodeLoc(n), state, "%s must not be negative", what)
	}
	return v.Int, nil
}

// requireBool checks that a WHERE/HAVING/AND/OR/NOT operand is boolean,
// converting an unknown literal or NULL.
func (p *planner) requireBool(e Expr, what string, loc int32) (Expr, error) {
	if e.Type() == TypeBool {
		return e, nil
	}
	if isUnknownLit(e) {
		return p.cast(e, TypeBool, loc)
	}
	return nil, errAt(loc, CodeType, "42804", "argument of %s must be type boolean, not type %s", what, pgTypeName(e))
}

func hasAgg(e Expr) bool {
	found := false
	Walk(e, func(x Expr) bool {
		if _, ok := x.(*aggCall); ok {
			found = true
		}
		return !found
	})
	return found
}

// bind turns a row-context expression of an aggregate query into a group
// context one: subexpressions equal to a group key become KeyRefs,
// aggregate calls AggRefs; a column left over is an error.
func (p *planner) bind(e Expr) (Expr, error) {
	if _, isConst := e.(*Const); !isConst {
		if i, ok := p.keyIndex[e.String()]; ok {
			return &KeyRef{Key: i, T: p.keys[i].Type(), Name: p.keys[i].Column.Name}, nil
		}
	}
	switch x := e.(type) {
	case *aggCall:
		return &AggRef{Agg: p.addAgg(x.agg), T: x.agg.Type}, nil
	case *ColumnRef:
		return nil, errAt(x.loc, CodeGrouping, "42803",
			"column \"%s.%s\" must appear in the GROUP BY clause or be used in an aggregate function", p.scopeName(), x.Column.Name)
	case *Const:
		return x, nil
	}
	return mapChildren(e, p.bind)
}

func (p *planner) addAgg(a Aggregate) int {
	s := a.String()
	if i, ok := p.aggIndex[s]; ok {
		return i
	}
	p.aggIndex[s] = len(p.aggs)
	p.aggs = append(p.aggs, a)
	return len(p.aggs) - 1
}

// mapChildren rebuilds e with f applied to its direct subexpressions.
func mapChildren(e Expr, f func(Expr) (Expr, error)) (Expr, error) {
	var err error
	switch x := e.(type) {
	case *Unary:
		y := *x
		y.X, err = f(x.X)
		return &y, err
	case *Binary:
		y := *x
		if y.L, err = f(x.L); err != nil {
			return nil, err
		}
		y.R, err = f(x.R)
		return &y, err
	case *Logic:
		y := &Logic{Op: x.Op, Args: make([]Expr, len(x.Args))}
		for i, a := range x.Args {
			if y.Args[i], err = f(a); err != nil {
				return nil, err
			}
		}
		return y, nil
	case *Cast:
		y := *x
		y.X, err = f(x.X)
		return &y, err
	case *InList:
		y := *x
		y.X, err = f(x.X)
		return &y, err
	case *Match:
		y := *x
		y.X, err = f(x.X)
		return &y, err
	case *IsNull:
		y := *x
		y.X, err = f(x.X)
		return &y, err
	case *DateBin:
		y := *x
		y.X, err = f(x.X)
		return &y, err
	case *Func:
		y := *x
		y.Args = make([]Expr, len(x.Args))
		for i, a := range x.Args {
			if y.Args[i], err = f(a); err != nil {
				return nil, err
			}
		}
		return &y, nil
	case *windowCall:
		return x.mapExprs(f)
	case *Subquery:
		if x.X == nil && len(x.Outer) == 0 {
			return x, nil
		}
		y := *x
		if x.X != nil {
			if y.X, err = f(x.X); err != nil {
				return nil, err
			}
		}
		if len(x.Outer) > 0 {
			y.Outer = make([]Expr, len(x.Outer))
			for i, o := range x.Outer {
				if y.Outer[i], err = f(o); err != nil {
					return nil, err
				}
			}
		}
		return &y, nil
	case *Case:
		y := &Case{T: x.T, Whens: make([]When, len(x.Whens))}
		for i, w := range x.Whens {
			if y.Whens[i].Cond, err = f(w.Cond); err != nil {
				return nil, err
			}
			if y.Whens[i].Then, err = f(w.Then); err != nil {
				return nil, err
			}
		}
		if x.Else != nil {
			if y.Else, err = f(x.Else); err != nil {
				return nil, err
			}
		}
		return y, nil
	}
	return e, nil
}

// satAdd adds d to t, saturating at the int64 bounds.
func satAdd(t, d int64) int64 {
	r := t + d
	if d > 0 && r < t {
		return math.MaxInt64
	}
	if d < 0 && r > t {
		return math.MinInt64
	}
	return r
}
