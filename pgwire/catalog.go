package pgwire

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/siltdb/silt/columnar"
)

// The catalog queries of psql's \l, \dt and \d (PostgreSQL 15's psql,
// Debian's) use regular expression operators, joins, subqueries and
// pg_catalog functions that Silt's SQL does not run. They are recognised
// by their shape and answered from Silt's own catalog, as are queries of
// information_schema.tables and .columns (catalog_info.go); another query
// of the system catalogs gets an empty answer, which psql and GUIs read as
// "nothing of that kind" (no indexes, no policies, no inheritance).
//
// Each table has an OID, 16384 (PostgreSQL's first user OID) plus its
// rank in the database's sorted table names: stable between the queries
// of one \d, which is what psql needs.

const firstUserOID = 16384

var (
	reCatalog    = regexp.MustCompile(`(?i)\b(pg_catalog\s*\.|information_schema\s*\.)|\bFROM\s+pg_[a-z_]+\b`)
	reAlias      = regexp.MustCompile(`(?i)\bAS\s+"([^"]+)"`)
	reRelname    = regexp.MustCompile(`(?i)c\.relname\s+OPERATOR\s*\(\s*pg_catalog\.~\s*\)\s*'((?:[^']|'')*)'`)
	reNspname    = regexp.MustCompile(`(?i)n\.nspname\s+OPERATOR\s*\(\s*pg_catalog\.~\s*\)\s*'((?:[^']|'')*)'`)
	reRelkindIn  = regexp.MustCompile(`(?i)c\.relkind\s+IN\s*\(([^)]*)\)`)
	reOIDEquals  = regexp.MustCompile(`(?i)\b(?:c\.oid|a\.attrelid)\s*=\s*'?(\d+)'?`)
	reListTables = regexp.MustCompile(`(?i)c\.relname\s+as\s+"Name"`)
	reFindRel    = regexp.MustCompile(`(?is)^\s*SELECT\s+c\.oid\s*,\s*n\.nspname\s*,\s*c\.relname\s+FROM\s+pg_catalog\.pg_class\s+c\b`)
	reTableInfo  = regexp.MustCompile(`(?is)^\s*SELECT\s+c\.relchecks\s*,\s*c\.relkind\b`)
	reColumns    = regexp.MustCompile(`(?is)^\s*SELECT\s+a\.attname\s*,.*FROM\s+pg_catalog\.pg_attribute\s+a\b`)
	reDatabases  = regexp.MustCompile(`(?is)d\.datname\s+as\s+"Name".*FROM\s+pg_catalog\.pg_database\s+d\b`)
)

// catalog answers a query of the system catalogs; ok is false for any
// other query.
func (c *conn) catalog(text string) (*answer, bool) {
	text = stripComments(text)
	if !reCatalog.MatchString(text) {
		return nil, false
	}
	tables, _ := c.l.be.Tables(c.db)
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	switch {
	case reDatabases.MatchString(text):
		return c.listDatabases(text), true
	case reFindRel.MatchString(text):
		return findRelations(text, names), true
	case reTableInfo.MatchString(text):
		return tableInfo(text, names), true
	case reColumns.MatchString(text):
		return attributes(text, names, tables), true
	case reListTables.MatchString(text):
		return c.listTables(text, names), true
	}
	if ans, ok := c.infoSchema(text, names, tables); ok {
		return ans, true
	}
	return &answer{cols: []column{}}, true
}

// aliasAnswer builds a list answer whose columns are the query's quoted
// aliases (AS "Name") in order, each row's values looked up by alias.
func aliasAnswer(text string, rows []map[string]any) *answer {
	var cols []column
	for _, m := range reAlias.FindAllStringSubmatch(text, -1) {
		cols = append(cols, column{m[1], oidText})
	}
	ans := &answer{cols: cols}
	for _, r := range rows {
		row := make([]any, len(cols))
		for i, col := range cols {
			if v, ok := r[col.name]; ok {
				row[i] = v
			} else {
				row[i] = ""
			}
		}
		ans.rows = append(ans.rows, row)
	}
	return ans
}

// listDatabases answers \l.
func (c *conn) listDatabases(text string) *answer {
	dbs := slices.Clone(c.l.be.Databases())
	sort.Strings(dbs)
	var rows []map[string]any
	for _, db := range dbs {
		rows = append(rows, map[string]any{"Name": db, "Owner": "silt", "Encoding": "UTF8", "Collate": "C", "Ctype": "C",
			"Locale Provider": "libc", "ICU Locale": nil, "Access privileges": nil, "Size": nil, "Tablespace": "pg_default",
			"Description": "Silt database"})
	}
	return aliasAnswer(text, rows)
}

// psqlPattern reads the regular expression psql made of a name pattern
// ('^(cpu)$'); ok is false when the query has none.
func psqlPattern(re *regexp.Regexp, text string) (*regexp.Regexp, bool) {
	m := re.FindStringSubmatch(text)
	if m == nil {
		return nil, false
	}
	p, err := regexp.Compile(strings.ReplaceAll(m[1], "''", "'"))
	if err != nil {
		return regexp.MustCompile(`^$.`), true // matches nothing
	}
	return p, true
}

// inPublic reports whether a query's schema pattern, if any, matches
// "public", the one schema Silt's tables are in.
func inPublic(text string) bool {
	p, ok := psqlPattern(reNspname, text)
	return !ok || p.MatchString("public")
}

func matchNames(text string, names []string) []int {
	p, ok := psqlPattern(reRelname, text)
	var out []int
	if !inPublic(text) {
		return nil
	}
	for i, n := range names {
		if !ok || p.MatchString(n) {
			out = append(out, i)
		}
	}
	return out
}

// listTables answers \dt and \d without a name: the tables, as relkind
// 'r', if the query asks for that kind.
func (c *conn) listTables(text string, names []string) *answer {
	if m := reRelkindIn.FindStringSubmatch(text); m != nil && !strings.Contains(m[1], "'r'") {
		return aliasAnswer(text, nil) // \dv, \di, \ds...: Silt has none
	}
	var rows []map[string]any
	for _, i := range matchNames(text, names) {
		rows = append(rows, map[string]any{"Schema": "public", "Name": names[i], "Type": "table", "Owner": "silt",
			"Persistence": "permanent", "Access method": "heap", "Size": nil, "Description": nil})
	}
	return aliasAnswer(text, rows)
}

// findRelations answers the first query of \d NAME: oid, schema and name
// of the matching tables.
func findRelations(text string, names []string) *answer {
	ans := &answer{cols: []column{{"oid", oidOID}, {"nspname", oidName}, {"relname", oidName}}}
	for _, i := range matchNames(text, names) {
		ans.rows = append(ans.rows, []any{uint32(firstUserOID + i), "public", names[i]})
	}
	return ans
}

// tableOf returns the table whose OID the query names, or -1.
func tableOf(text string, names []string) int {
	m := reOIDEquals.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	oid, err := strconv.Atoi(m[1])
	if err != nil || oid < firstUserOID || oid-firstUserOID >= len(names) {
		return -1
	}
	return oid - firstUserOID
}

// tableInfo answers the second query of \d NAME, the table's properties,
// in the column order psql 12 and later read: a plain heap table without
// checks, indexes, rules, triggers or row security.
func tableInfo(text string, names []string) *answer {
	ans := &answer{cols: []column{{"relchecks", oidInt4}, {"relkind", oidChar}, {"relhasindex", oidBool}, {"relhasrules", oidBool},
		{"relhastriggers", oidBool}, {"relrowsecurity", oidBool}, {"relforcerowsecurity", oidBool}, {"relhasoids", oidBool},
		{"relispartition", oidBool}, {"?column?", oidText}, {"reltablespace", oidOID}, {"reloftype", oidText},
		{"relpersistence", oidChar}, {"relreplident", oidChar}, {"amname", oidName}}}
	if tableOf(text, names) < 0 {
		return ans
	}
	ans.rows = [][]any{{int32(0), "r", false, false, false, false, false, false, false, "", uint32(0), "", "p", "d", "heap"}}
	return ans
}

// attributes answers the column query of \d NAME: name, type, default,
// not null, collation, identity, generated, and for \d+ storage,
// compression, statistics target and description, in psql's order.
func attributes(text string, names []string, tables map[string]*columnar.TableSchema) *answer {
	ans := &answer{cols: []column{{"attname", oidName}, {"format_type", oidText}, {"pg_get_expr", oidText}, {"attnotnull", oidBool},
		{"attcollation", oidName}, {"attidentity", oidChar}, {"attgenerated", oidChar}, {"attstorage", oidChar},
		{"attcompression", oidChar}, {"attstattarget", oidInt4}, {"col_description", oidText}}}
	i := tableOf(text, names)
	if i < 0 {
		return ans
	}
	s := tables[names[i]]
	row := func(name, typ string, notNull bool, storage, desc string) []any {
		return []any{name, typ, nil, notNull, nil, "", "", storage, "", int32(-1), desc}
	}
	ans.rows = append(ans.rows, row("time", "timestamp with time zone", true, "p", "time"))
	for _, t := range s.Tags {
		ans.rows = append(ans.rows, row(t, "text", false, "x", "tag"))
	}
	for _, f := range s.Fields {
		ans.rows = append(ans.rows, row(f.Name, fieldTypeName(f.Type), false, "p", "field"))
	}
	return ans
}

func fieldTypeName(t columnar.FieldType) string {
	switch t {
	case columnar.FieldFloat:
		return "double precision"
	case columnar.FieldInt:
		return "bigint"
	case columnar.FieldUint:
		return "numeric"
	case columnar.FieldBool:
		return "boolean"
	}
	return "text"
}
