package pgwire

import (
	"slices"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/siltdb/silt/columnar"
)

// information_schema.tables and .columns, which Grafana's query builder,
// Metabase and DBeaver read to list tables and columns. A query of one of
// them is answered by a small evaluator: its select list (columns,
// quote_ident/lower/upper of a column, constants, *), equality and IN
// filters on string columns (other conditions are not applied, so the
// answer is never missing a row), and ORDER BY output or view columns.

// infoColumns are the columns of the two views Silt answers, in order.
var infoColumns = map[string][]string{
	"tables":  {"table_catalog", "table_schema", "table_name", "table_type"},
	"columns": {"table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "data_type", "udt_name", "is_nullable", "column_default"},
}

// infoSchema answers a SELECT from information_schema.tables or .columns;
// ok is false for any other query.
func (c *conn) infoSchema(text string, names []string, tables map[string]*columnar.TableSchema) (*answer, bool) {
	tree, err := pg_query.Parse(text)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, false
	}
	sel := tree.Stmts[0].GetStmt().GetSelectStmt()
	if sel == nil || len(sel.FromClause) != 1 {
		return nil, false
	}
	rv := sel.FromClause[0].GetRangeVar()
	if rv == nil || !strings.EqualFold(rv.Schemaname, "information_schema") {
		return nil, false
	}
	view := strings.ToLower(rv.Relname)
	cols, ok := infoColumns[view]
	if !ok {
		return nil, false
	}
	// The view's rows.
	var rows []map[string]any
	for _, name := range names {
		if view == "tables" {
			rows = append(rows, map[string]any{"table_catalog": c.db, "table_schema": "public", "table_name": name, "table_type": "BASE TABLE"})
			continue
		}
		s := tables[name]
		add := func(col, dataType, udt string, notNull bool) {
			nullable := "YES"
			if notNull {
				nullable = "NO"
			}
			rows = append(rows, map[string]any{"table_catalog": c.db, "table_schema": "public", "table_name": name,
				"column_name": col, "ordinal_position": int64(len(rows) + 1), "data_type": dataType, "udt_name": udt,
				"is_nullable": nullable, "column_default": nil})
		}
		first := len(rows)
		add("time", "timestamp with time zone", "timestamptz", true)
		for _, t := range s.Tags {
			add(t, "text", "text", false)
		}
		for _, f := range s.Fields {
			add(f.Name, fieldTypeName(f.Type), fieldUDT(f.Type), false)
		}
		for i := first; i < len(rows); i++ {
			rows[i]["ordinal_position"] = int64(i - first + 1)
		}
	}
	rows = slices.DeleteFunc(rows, func(r map[string]any) bool { return !infoMatch(sel.WhereClause, r) })

	// The select list.
	type out struct {
		name  string
		col   string // view column, or "" for a constant
		fn    string // quote_ident, lower, upper or ""
		value any    // constant
	}
	var outs []out
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			return nil, false
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			for _, col := range cols {
				outs = append(outs, out{name: col, col: col})
			}
			continue
		}
		col, fn, ok := infoColumnOf(rt.Val)
		o := out{name: rt.Name, col: col, fn: fn}
		switch {
		case ok && !slices.Contains(cols, col):
			return nil, false // a column Silt does not have: the empty answer of other catalog queries
		case !ok:
			ac := rt.Val.GetAConst()
			if ac == nil {
				return nil, false
			}
			o.value = constValue(ac)
			if o.name == "" {
				o.name = "?column?"
			}
		case o.name == "" && fn != "":
			o.name = fn
		case o.name == "":
			o.name = col
		}
		outs = append(outs, o)
	}
	// ORDER BY output names or view columns (table and column order by
	// default, as the views list them).
	for i := len(sel.SortClause) - 1; i >= 0; i-- {
		sb := sel.SortClause[i].GetSortBy()
		col, _, ok := infoColumnOf(sb.GetNode())
		if !ok {
			continue
		}
		for _, o := range outs {
			if o.name == col && o.col != "" {
				col = o.col
			}
		}
		desc := sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC
		sort.SliceStable(rows, func(a, b int) bool {
			less := lessValue(rows[a][col], rows[b][col])
			if desc {
				return lessValue(rows[b][col], rows[a][col])
			}
			return less
		})
	}
	ans := &answer{cols: make([]column, len(outs))}
	for i, o := range outs {
		oid := uint32(oidText)
		if o.col == "ordinal_position" && o.fn == "" {
			oid = oidInt8
		}
		ans.cols[i] = column{o.name, oid}
	}
	for _, r := range rows {
		row := make([]any, len(outs))
		for i, o := range outs {
			if o.col == "" {
				row[i] = o.value
				continue
			}
			row[i] = applyFn(o.fn, r[o.col])
		}
		ans.rows = append(ans.rows, row)
	}
	return ans, true
}

// infoColumnOf reads a column reference, possibly inside quote_ident,
// lower or upper; ok is false for anything else.
func infoColumnOf(n *pg_query.Node) (col, fn string, ok bool) {
	if n == nil {
		return "", "", false
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) > 0 {
		s := cr.Fields[len(cr.Fields)-1].GetString_()
		if s == nil {
			return "", "", false
		}
		return strings.ToLower(s.Sval), "", true
	}
	if fc := n.GetFuncCall(); fc != nil && len(fc.Args) == 1 && len(fc.Funcname) > 0 {
		name := strings.ToLower(fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval())
		switch name {
		case "quote_ident", "lower", "upper":
			if col, _, ok := infoColumnOf(fc.Args[0]); ok {
				return col, name, true
			}
		}
	}
	return "", "", false
}

func applyFn(fn string, v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch fn {
	case "lower":
		return strings.ToLower(s)
	case "upper":
		return strings.ToUpper(s)
	case "quote_ident":
		if s != "" && strings.IndexFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
		}) < 0 && !(s[0] >= '0' && s[0] <= '9') {
			return s
		}
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func constValue(ac *pg_query.A_Const) any {
	switch {
	case ac.Isnull:
		return nil
	case ac.GetSval() != nil:
		return ac.GetSval().Sval
	case ac.GetIval() != nil:
		return int64(ac.GetIval().Ival)
	case ac.GetBoolval() != nil:
		return ac.GetBoolval().Boolval
	}
	return nil
}

// infoMatch applies the conditions it understands (col = 'x', col <> 'x',
// col IN (...), col NOT IN (...), with quote_ident/lower/upper, joined by
// AND) to a row; any other condition is taken as true.
func infoMatch(where *pg_query.Node, r map[string]any) bool {
	if where == nil {
		return true
	}
	if be := where.GetBoolExpr(); be != nil {
		if be.Boolop != pg_query.BoolExprType_AND_EXPR {
			return true
		}
		for _, a := range be.Args {
			if !infoMatch(a, r) {
				return false
			}
		}
		return true
	}
	ae := where.GetAExpr()
	if ae == nil || len(ae.Name) != 1 {
		return true
	}
	col, fn, ok := infoColumnOf(ae.Lexpr)
	if !ok {
		return true
	}
	v, ok := r[col].(string)
	if !ok {
		return true
	}
	v = applyFn(fn, v).(string)
	op := ae.Name[0].GetString_().GetSval()
	var lits []string
	if ac := ae.Rexpr.GetAConst(); ac != nil && ac.GetSval() != nil {
		lits = []string{ac.GetSval().Sval}
	} else if l := ae.Rexpr.GetList(); l != nil {
		for _, it := range l.Items {
			if ac := it.GetAConst(); ac != nil && ac.GetSval() != nil {
				lits = append(lits, ac.GetSval().Sval)
			}
		}
	} else {
		return true // compared with something else (current_schema(), say)
	}
	in := slices.Contains(lits, v)
	switch {
	case ae.Kind == pg_query.A_Expr_Kind_AEXPR_OP && op == "=":
		return in
	case ae.Kind == pg_query.A_Expr_Kind_AEXPR_OP && (op == "<>" || op == "!="):
		return !in
	case ae.Kind == pg_query.A_Expr_Kind_AEXPR_IN && op == "=":
		return in
	case ae.Kind == pg_query.A_Expr_Kind_AEXPR_IN && op == "<>":
		return !in
	}
	return true
}

func lessValue(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return x < y
	case int64:
		y, _ := b.(int64)
		return x < y
	}
	return false
}

func fieldUDT(t columnar.FieldType) string {
	switch t {
	case columnar.FieldFloat:
		return "float8"
	case columnar.FieldInt:
		return "int8"
	case columnar.FieldUint:
		return "numeric"
	case columnar.FieldBool:
		return "bool"
	}
	return "text"
}
