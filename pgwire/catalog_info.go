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
	"tables":   {"table_catalog", "table_schema", "table_name", "table_type"},
	"columns":  {"table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "data_type", "udt_name", "is_nullable", "column_default"},
	"schemata": {"catalog_name", "schema_name", "schema_owner"},
}

// infoOIDs are the types of the views' columns as PostgreSQL describes
// them (its domains reported as their base types): sql_identifier is
// name, character_data and yes_or_no varchar, cardinal_number int4.
var infoOIDs = map[string]uint32{
	"table_catalog": oidName, "table_schema": oidName, "table_name": oidName, "column_name": oidName, "udt_name": oidName,
	"catalog_name": oidName, "schema_name": oidName, "schema_owner": oidName,
	"table_type": oidVarchar, "data_type": oidVarchar, "is_nullable": oidVarchar, "column_default": oidVarchar,
	"ordinal_position": oidInt4,
}

// infoSchemas are the schemas information_schema.schemata lists: Silt's
// tables are all in public.
var infoSchemas = []string{"information_schema", "pg_catalog", "pg_toast", "public"}

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
	if view == "schemata" {
		for _, sch := range infoSchemas {
			rows = append(rows, map[string]any{"catalog_name": c.db, "schema_name": sch, "schema_owner": "silt"})
		}
		names = nil
	}
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
				"column_name": col, "ordinal_position": int32(len(rows) + 1), "data_type": dataType, "udt_name": udt,
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
			rows[i]["ordinal_position"] = int32(i - first + 1)
		}
	}
	// Grafana's schema test: a subquery of the search_path.
	searchPath := strings.Contains(strings.ToLower(text), "search_path")
	rows = slices.DeleteFunc(rows, func(r map[string]any) bool {
		if v, known := c.infoEval(sel.WhereClause, r, searchPath); known {
			return v != true
		}
		return !infoMatch(sel.WhereClause, r)
	})

	// The select list.
	type out struct {
		name  string
		col   string         // view column, or "" for a constant
		fn    string         // quote_ident, lower, upper or ""
		value any            // constant
		expr  *pg_query.Node // an expression infoEval evaluates, for each row
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
		case !ok && rt.Val.GetAConst() != nil:
			o.value = constValue(rt.Val.GetAConst())
			if o.name == "" {
				o.name = "?column?"
			}
		case !ok:
			for _, r := range rows {
				if _, known := c.infoEval(rt.Val, r, searchPath); !known {
					return nil, false
				}
			}
			o.expr = rt.Val
			if o.name == "" {
				o.name = "?column?"
				if rt.Val.GetCaseExpr() != nil {
					o.name = "case"
				}
			}
		case o.name == "" && fn != "":
			o.name = fn
		case o.name == "":
			o.name = col
		}
		outs = append(outs, o)
	}
	// ORDER BY output names, positions or view columns (table and column
	// order by default, as the views list them), or expressions.
	value := func(o out, r map[string]any) any {
		switch {
		case o.expr != nil:
			v, _ := c.infoEval(o.expr, r, searchPath)
			return v
		case o.col == "":
			return o.value
		}
		return applyFn(o.fn, r[o.col])
	}
	for i := len(sel.SortClause) - 1; i >= 0; i-- {
		sb := sel.SortClause[i].GetSortBy()
		var key func(r map[string]any) any
		if ac := sb.GetNode().GetAConst(); ac != nil && ac.GetIval() != nil {
			if k := int(ac.GetIval().Ival); k >= 1 && k <= len(outs) {
				o := outs[k-1]
				key = func(r map[string]any) any { return value(o, r) }
			}
		} else if col, _, ok := infoColumnOf(sb.GetNode()); ok {
			for _, o := range outs {
				if o.name == col && o.col != "" {
					col = o.col
				}
			}
			key = func(r map[string]any) any { return r[col] }
		} else {
			known := true
			for _, r := range rows {
				if _, ok := c.infoEval(sb.GetNode(), r, searchPath); !ok {
					known = false
				}
			}
			if known {
				node := sb.GetNode()
				key = func(r map[string]any) any { v, _ := c.infoEval(node, r, searchPath); return v }
			}
		}
		if key == nil {
			continue
		}
		desc := sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC
		sort.SliceStable(rows, func(a, b int) bool {
			if desc {
				return lessValue(key(rows[b]), key(rows[a]))
			}
			return lessValue(key(rows[a]), key(rows[b]))
		})
	}
	ans := &answer{cols: make([]column, len(outs))}
	for _, r := range rows {
		row := make([]any, len(outs))
		for i, o := range outs {
			row[i] = value(o, r)
		}
		ans.rows = append(ans.rows, row)
	}
	for i, o := range outs {
		oid := uint32(oidText) // functions of columns, text constants
		switch {
		case o.col != "" && o.fn == "":
			oid = infoOIDs[o.col]
		case o.col == "" && o.expr == nil:
			if _, isInt := o.value.(int64); isInt {
				oid = oidInt8
			}
		}
		ans.cols[i] = column{o.name, oid}
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
		}) < 0 && !(s[0] >= '0' && s[0] <= '9') && !reservedWord(s) {
			return s
		}
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// reservedWord reports whether quote_ident quotes s as a keyword: any
// but PostgreSQL's unreserved ones (time, user, order...).
func reservedWord(s string) bool {
	sr, err := pg_query.Scan(s)
	if err != nil || len(sr.Tokens) != 1 {
		return false
	}
	k := sr.Tokens[0].KeywordKind
	return k != pg_query.KeywordKind_NO_KEYWORD && k != pg_query.KeywordKind_UNRESERVED_KEYWORD
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
	if a == nil || b == nil {
		return a != nil // NULLs last, as PostgreSQL sorts ascending
	}
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return x < y
	case int64:
		y, _ := b.(int64)
		return x < y
	case int32:
		y, _ := b.(int32)
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
