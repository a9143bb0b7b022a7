package flightsql

import (
	"sort"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/siltdb/silt/columnar"
)

// information_schema over Flight SQL, as InfluxDB 3 answers it: the views
// tables, columns and schemata, which Grafana's InfluxDB data source in
// SQL mode queries for its schema browser (SELECT DISTINCT table_schema
// FROM information_schema.tables, then the tables of schema iox, then
// the column_name and data_type of a table). A query naming one is
// rewritten so that each view becomes a subquery of its rows as
// constants, and then runs as any query does: every SQL construct works
// on them.

// infoViews are the views, their columns and the SQL type of each.
var infoViews = map[string][][2]string{
	"tables":   {{"table_catalog", "text"}, {"table_schema", "text"}, {"table_name", "text"}, {"table_type", "text"}},
	"columns":  {{"table_catalog", "text"}, {"table_schema", "text"}, {"table_name", "text"}, {"column_name", "text"}, {"ordinal_position", "bigint"}, {"column_default", "text"}, {"is_nullable", "text"}, {"data_type", "text"}},
	"schemata": {{"catalog_name", "text"}, {"schema_name", "text"}},
}

const infoSchemaName = "information_schema"

// withInfoSchema returns text with its references to information_schema
// views replaced by subqueries over db's tables; text as is when it
// names none (or does not parse: the compiler reports that).
func withInfoSchema(text, db string, tables map[string]*columnar.TableSchema) (string, error) {
	if !strings.Contains(strings.ToLower(text), infoSchemaName) {
		return text, nil
	}
	tree, err := pg_query.Parse(text)
	if err != nil {
		return text, nil
	}
	views := map[string]*pg_query.Node{}
	changed := false
	var walkErr error
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		if n, ok := m.Interface().(*pg_query.Node); ok {
			if rv := n.GetRangeVar(); rv != nil && strings.EqualFold(rv.Schemaname, infoSchemaName) && rv.Catalogname == "" {
				name := strings.ToLower(rv.Relname)
				if _, known := infoViews[name]; known {
					sub := views[name]
					if sub == nil {
						if sub, err = infoViewQuery(name, db, tables); err != nil {
							walkErr = err
							return
						}
						views[name] = sub
					}
					alias := rv.Alias
					if alias == nil {
						alias = &pg_query.Alias{Aliasname: rv.Relname}
					}
					n.Node = &pg_query.Node_RangeSubselect{RangeSubselect: &pg_query.RangeSubselect{Subquery: sub, Alias: alias}}
					changed = true
					return
				}
			}
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					visit(l.Get(i).Message())
				}
			case fd.Message() != nil && !fd.IsMap():
				visit(v.Message())
			}
			return walkErr == nil
		})
	}
	visit(tree.ProtoReflect())
	if walkErr != nil {
		return "", walkErr
	}
	if !changed {
		return text, nil
	}
	return pg_query.Deparse(tree)
}

// infoViewQuery is a view's rows as a SELECT ... UNION ALL SELECT ... of
// constants, parsed.
func infoViewQuery(view, db string, tables map[string]*columnar.TableSchema) (*pg_query.Node, error) {
	var rows [][]string // SQL literals
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	views := make([]string, 0, len(infoViews))
	for v := range infoViews {
		views = append(views, v)
	}
	sort.Strings(views)
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	switch view {
	case "schemata":
		rows = append(rows, []string{lit(db), lit(infoSchemaName)}, []string{lit(db), lit(tableSchema)})
	case "tables":
		for _, n := range names {
			rows = append(rows, []string{lit(db), lit(tableSchema), lit(n), lit("BASE TABLE")})
		}
		for _, v := range views {
			rows = append(rows, []string{lit(db), lit(infoSchemaName), lit(v), lit("VIEW")})
		}
	case "columns":
		col := func(schema, table, name string, pos int, nullable bool, typ string) {
			yn := "NO"
			if nullable {
				yn = "YES"
			}
			rows = append(rows, []string{lit(db), lit(schema), lit(table), lit(name), strconv.Itoa(pos), "NULL", lit(yn), lit(typ)})
		}
		for _, n := range names {
			t := tables[n]
			pos := 0
			col(tableSchema, n, columnar.TimeColumn, pos, false, "Timestamp(Nanosecond, None)")
			for _, tag := range t.Tags {
				pos++
				col(tableSchema, n, tag, pos, true, "Dictionary(Int32, Utf8)")
			}
			for _, f := range t.Fields {
				pos++
				col(tableSchema, n, f.Name, pos, true, arrowTypeName(f.Type))
			}
		}
		for _, v := range views {
			for i, c := range infoViews[v] {
				typ := "Utf8"
				if c[1] == "bigint" {
					typ = "UInt64"
				}
				col(infoSchemaName, v, c[0], i, true, typ)
			}
		}
	}
	cols := infoViews[view]
	var b strings.Builder
	for i, r := range rows {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT ")
		for j, v := range r {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v + "::" + cols[j][1])
			if i == 0 {
				b.WriteString(" AS " + cols[j][0])
			}
		}
	}
	tree, err := pg_query.Parse(b.String())
	if err != nil {
		return nil, err
	}
	return tree.Stmts[0].Stmt, nil
}

// arrowTypeName is the name InfluxDB 3's information_schema.columns gives
// a field type (DataFusion's display of its Arrow type).
func arrowTypeName(t columnar.FieldType) string {
	switch t {
	case columnar.FieldFloat:
		return "Float64"
	case columnar.FieldInt:
		return "Int64"
	case columnar.FieldUint:
		return "UInt64"
	case columnar.FieldBool:
		return "Boolean"
	}
	return "Utf8"
}
