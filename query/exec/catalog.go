package exec

import (
	"sort"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/sql"
)

// Catalog builds the planner's catalog from table schemas (as
// engine.Engine.Tables returns them) and the sorted table names for SHOW
// TABLES.
func Catalog(schemas map[string]*columnar.TableSchema) (sql.MapCatalog, []string) {
	cat := sql.MapCatalog{}
	names := make([]string, 0, len(schemas))
	for name, s := range schemas {
		info := sql.TableInfo{Tags: append([]string(nil), s.Tags...)}
		for _, f := range s.Fields {
			info.Fields = append(info.Fields, sql.Field{Name: f.Name, Type: SQLType(f.Type)})
		}
		cat[name] = info
		names = append(names, name)
	}
	sort.Strings(names)
	return cat, names
}

// SQLType maps a field type to the planner's type.
func SQLType(t columnar.FieldType) sql.Type {
	switch t {
	case columnar.FieldFloat:
		return sql.TypeFloat64
	case columnar.FieldInt:
		return sql.TypeInt64
	case columnar.FieldUint:
		return sql.TypeUint64
	case columnar.FieldBool:
		return sql.TypeBool
	case columnar.FieldString:
		return sql.TypeString
	}
	return sql.TypeNull
}
