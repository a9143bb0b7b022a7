package influxql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
)

// runSQL compiles text against db's tables and runs it.
func runSQL(ctx context.Context, b Backend, db string, tables map[string]*columnar.TableSchema, text string, now time.Time) (*query.Result, error) {
	q, err := compileSQL(tables, text, now)
	if err != nil {
		return nil, err
	}
	return b.Run(ctx, db, q)
}

// compileSQL plans text, SQL this compiler wrote over its measurement
// alone, through the request's plan cache (PlanCache).
func (c *selectCompiler) compileSQL(text string) (*sql.Query, error) {
	return c.req.Plans.plan(c.db, c.m, c.schema, text, c.req.Now,
		func(tables map[string]*columnar.TableSchema, now time.Time) (*sql.Query, error) {
			return compileSQL(tables, text, now)
		},
		func() (*sql.Query, error) { return compileSQL(c.tables, text, c.req.Now) })
}

// runSQL runs text as compileSQL plans it.
func (c *selectCompiler) runSQL(ctx context.Context, text string) (*query.Result, error) {
	q, err := c.compileSQL(text)
	if err != nil {
		return nil, err
	}
	return c.b.Run(ctx, c.db, q)
}

// compileSQL compiles text against tables, with errors in InfluxQL's
// terms.
func compileSQL(tables map[string]*columnar.TableSchema, text string, now time.Time) (*sql.Query, error) {
	q, err := sql.Compile(text, sqlCatalog(tables), now)
	var se *sql.Error
	if errors.As(err, &se) && se.Code == sql.CodeAmbiguous {
		// InfluxDB allows a tag and a field of one name; Silt's planner
		// cannot tell them apart yet.
		return nil, fmt.Errorf("a measurement has a tag and a field of the same name; Silt cannot query that name yet (%s)", se.Message)
	}
	if errors.As(err, &se) && (se.Code == sql.CodeType || se.Code == sql.CodeUndefinedFunction) {
		// Math over a boolean or string field, and the like.
		return nil, fmt.Errorf("type error: %s", se.Message)
	}
	if err != nil {
		return nil, fmt.Errorf("%w compiling %q: %w", ErrInternal, text, err)
	}
	return q, nil
}

func showDatabases(b Backend) []*Series {
	s := &Series{Name: "databases", Columns: []string{"name"}}
	for _, db := range b.Databases() {
		s.Values = append(s.Values, []any{db})
	}
	return []*Series{s}
}

// Silt has one retention policy per database, named autogen as
// InfluxDB's default policy is: the database's retention.
const policyName = "autogen"

func showRetentionPolicies(b Backend, db string) ([]*Series, error) {
	if db == "" {
		return nil, ErrDatabaseRequired
	}
	d, ok := b.Retention(db)
	if !ok {
		return nil, databaseNotFound(db)
	}
	return []*Series{{Columns: []string{"name", "duration", "shardGroupDuration", "replicaN", "default"},
		Values: [][]any{{policyName, d.String(), shardGroupDuration(d).String(), 1, true}}}}, nil
}

// shardGroupDuration is what InfluxDB derives from a retention (Silt has
// no shard groups; its time windows are a day).
func shardGroupDuration(d time.Duration) time.Duration {
	switch {
	case d == 0 || d >= 180*24*time.Hour:
		return 7 * 24 * time.Hour
	case d >= 2*24*time.Hour:
		return 24 * time.Hour
	}
	return time.Hour
}

// setPolicy serves CREATE and ALTER RETENTION POLICY: the one policy of a
// database is its retention, so only the default policy (or autogen) can
// be set.
func setPolicy(b Backend, db, name string, d *time.Duration, isDefault bool) error {
	if db == "" {
		return ErrDatabaseRequired
	}
	if _, ok := b.Retention(db); !ok {
		return databaseNotFound(db)
	}
	if name != policyName && !isDefault {
		return fmt.Errorf("retention policy %q: Silt has one retention policy per database, %q; set it, or add DEFAULT", name, policyName)
	}
	if d == nil {
		return nil
	}
	return b.SetRetention(db, *d)
}

// sourceTables resolves FROM sources (names and /regex/) to the sorted
// table names that exist; no sources means every table.
func sourceTables(sources influxql.Sources, tables map[string]*columnar.TableSchema) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if _, ok := tables[n]; ok && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(sources) == 0 {
		for n := range tables {
			add(n)
		}
	}
	for _, src := range sources {
		m, ok := src.(*influxql.Measurement)
		if !ok {
			continue
		}
		if m.Regex != nil {
			for n := range tables {
				if m.Regex.Val.MatchString(n) {
					add(n)
				}
			}
		} else {
			add(m.Name)
		}
	}
	sort.Strings(out)
	return out
}

// sourceDB is the database a statement reads: FROM db..m wins over the db
// parameter.
func sourceDB(sources influxql.Sources, stmtDB, reqDB string) string {
	for _, src := range sources {
		if m, ok := src.(*influxql.Measurement); ok && m.Database != "" {
			return m.Database
		}
	}
	return pick(stmtDB, reqDB)
}

// metaCondition strips time bounds (InfluxDB 1.6 ignores them in SHOW
// statements over the in-memory index) and returns the rest as SQL.
func metaCondition(cond influxql.Expr, s *columnar.TableSchema, now time.Time) (string, error) {
	if cond == nil {
		return "TRUE", nil
	}
	expr, _, err := influxql.ConditionExpr(cond, &influxql.NowValuer{Now: now})
	if err != nil {
		return "", err
	}
	return condSQL(expr, s)
}

// shardCondition splits a SHOW TAG KEYS or SHOW TAG VALUES condition as
// InfluxDB 1.x applies it: where, the condition without its time range,
// and shards, the range widened to the shard groups it overlaps ("" when
// the condition has no time). InfluxDB answers these statements from the
// series of those shard groups, not from points: Grafana's "use time range
// for tags" sends `time > now() - 30m`, so right after a shard group starts
// InfluxDB lists nothing and later in the group everything the group
// holds. Silt widens the range to the groups of the database's retention
// (shardGroupDuration), aligned as InfluxDB aligns them: multiples of the
// duration since the zero time, so a week starts on a Monday.
func shardCondition(b Backend, db string, cond influxql.Expr, s *columnar.TableSchema, now time.Time) (where, shards string, err error) {
	if cond == nil {
		return "TRUE", "", nil
	}
	expr, tr, err := influxql.ConditionExpr(cond, &influxql.NowValuer{Now: now})
	if err != nil {
		return "", "", err
	}
	if where, err = condSQL(expr, s); err != nil {
		return "", "", err
	}
	d, _ := b.Retention(db)
	g := shardGroupDuration(d)
	var bounds []string
	if !tr.Min.IsZero() {
		bounds = append(bounds, "time >= "+timestampLit(tr.Min.Truncate(g).UnixNano()))
	}
	if !tr.Max.IsZero() {
		bounds = append(bounds, "time < "+timestampLit(tr.Max.Truncate(g).Add(g).UnixNano()))
	}
	return where, strings.Join(bounds, " AND "), nil
}

// shardsExist reports whether any table of db has a point in shards (a
// time condition from shardCondition): whether InfluxDB would have a shard
// group there.
func shardsExist(ctx context.Context, b Backend, db string, tables map[string]*columnar.TableSchema, shards string, now time.Time) (bool, error) {
	for m := range tables {
		ok, err := hasRows(ctx, b, db, tables, m, shards, now)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// matchingTags returns the tags of s that some row passing where has.
func matchingTags(ctx context.Context, b Backend, db string, tables map[string]*columnar.TableSchema, m string, where string, now time.Time) ([]string, error) {
	s := tables[m]
	if len(s.Tags) == 0 {
		return nil, nil
	}
	cols := make([]string, len(s.Tags))
	for i, t := range s.Tags {
		cols[i] = "count(" + quoteIdent(t) + ")"
	}
	res, err := runSQL(ctx, b, db, tables, "SELECT "+strings.Join(cols, ", ")+" FROM "+quoteIdent(m)+" WHERE "+where, now)
	if err != nil {
		return nil, err
	}
	var out []string
	if len(res.Rows) == 1 {
		for i, t := range s.Tags {
			if n, ok := res.Rows[0][i].(int64); ok && n > 0 {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// hasRows reports whether any row of m passes where.
func hasRows(ctx context.Context, b Backend, db string, tables map[string]*columnar.TableSchema, m string, where string, now time.Time) (bool, error) {
	res, err := runSQL(ctx, b, db, tables, "SELECT count(*) FROM "+quoteIdent(m)+" WHERE "+where, now)
	if err != nil {
		return false, err
	}
	return len(res.Rows) == 1 && res.Rows[0][0] != int64(0), nil
}

func limitRows[T any](vals []T, limit, offset int) []T {
	if offset > 0 {
		if offset >= len(vals) {
			return nil
		}
		vals = vals[offset:]
	}
	if limit > 0 && limit < len(vals) {
		vals = vals[:limit]
	}
	return vals
}

func showMeasurements(ctx context.Context, b Backend, req Request, st *influxql.ShowMeasurementsStatement) ([]*Series, error) {
	db := pick(st.Database, req.Database)
	tables, err := tablesOf(b, db)
	if err != nil {
		if db != "" {
			return nil, nil // InfluxDB lists nothing for an unknown database
		}
		return nil, err
	}
	var sources influxql.Sources
	if st.Source != nil {
		sources = influxql.Sources{st.Source}
	}
	var vals [][]any
	for _, m := range sourceTables(sources, tables) {
		if st.Condition != nil {
			where, err := metaCondition(st.Condition, tables[m], req.Now)
			if err != nil {
				return nil, err
			}
			ok, err := hasRows(ctx, b, db, tables, m, where, req.Now)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		vals = append(vals, []any{m})
	}
	vals = limitRows(vals, st.Limit, st.Offset)
	if len(vals) == 0 {
		return nil, nil
	}
	return []*Series{{Name: "measurements", Columns: []string{"name"}, Values: vals}}, nil
}

func showTagKeys(ctx context.Context, b Backend, req Request, st *influxql.ShowTagKeysStatement) ([]*Series, error) {
	db := sourceDB(st.Sources, st.Database, req.Database)
	tables, err := tablesOf(b, db)
	if err != nil {
		return nil, err
	}
	var out []*Series
	for _, m := range sourceTables(st.Sources, tables) {
		keys := append([]string(nil), tables[m].Tags...)
		if st.Condition != nil {
			where, shards, err := shardCondition(b, db, st.Condition, tables[m], req.Now)
			if err != nil {
				return nil, err
			}
			// A measurement's tag keys come from the database's index,
			// not a shard's (InfluxDB 1.x's in-memory index): a shard group
			// in the range lists every key its other conditions match, even
			// if the measurement has no point there.
			if shards != "" {
				ok, err := shardsExist(ctx, b, db, tables, shards, req.Now)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
			}
			if keys, err = matchingTags(ctx, b, db, tables, m, where, req.Now); err != nil {
				return nil, err
			}
		}
		sort.Strings(keys)
		var vals [][]any
		for _, k := range keys {
			vals = append(vals, []any{k})
		}
		vals = limitRows(vals, st.Limit, st.Offset)
		if len(vals) == 0 {
			continue
		}
		out = append(out, &Series{Name: m, Columns: []string{"tagKey"}, Values: vals})
	}
	return limitSeries(out, st.SLimit, st.SOffset), nil
}

func limitSeries(s []*Series, limit, offset int) []*Series {
	if offset > 0 {
		if offset >= len(s) {
			return nil
		}
		s = s[offset:]
	}
	if limit > 0 && limit < len(s) {
		s = s[:limit]
	}
	return s
}

// tagKeyMatches evaluates SHOW TAG VALUES' WITH KEY clause for key k.
func tagKeyMatches(op influxql.Token, expr influxql.Literal, k string) (bool, error) {
	switch op {
	case influxql.EQ, influxql.NEQ:
		lit, ok := expr.(*influxql.StringLiteral)
		if !ok {
			return false, fmt.Errorf("WITH KEY %s needs a string", op)
		}
		return (lit.Val == k) == (op == influxql.EQ), nil
	case influxql.EQREGEX, influxql.NEQREGEX:
		re, ok := expr.(*influxql.RegexLiteral)
		if !ok {
			return false, fmt.Errorf("WITH KEY %s needs a regular expression", op)
		}
		return re.Val.MatchString(k) == (op == influxql.EQREGEX), nil
	case influxql.IN:
		list, ok := expr.(*influxql.ListLiteral)
		if !ok {
			return false, fmt.Errorf("WITH KEY IN needs a list")
		}
		for _, v := range list.Vals {
			if v == k {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("unsupported WITH KEY operator %s", op)
}

func showTagValues(ctx context.Context, b Backend, req Request, st *influxql.ShowTagValuesStatement) ([]*Series, error) {
	db := sourceDB(st.Sources, st.Database, req.Database)
	tables, err := tablesOf(b, db)
	if err != nil {
		return nil, err
	}
	var out []*Series
	for _, m := range sourceTables(st.Sources, tables) {
		s := tables[m]
		var keys []string
		for _, k := range s.Tags {
			ok, err := tagKeyMatches(st.Op, st.TagKeyExpr, k)
			if err != nil {
				return nil, err
			}
			if ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			continue
		}
		if tv, ok := b.(tagValuer); ok {
			if filter, ok := tagFilter(st.Condition, s); ok {
				vals, ok, err := indexedTagValues(tv, db, m, keys, filter)
				if err != nil {
					return nil, err
				}
				if ok {
					if vals = limitRows(vals, st.Limit, st.Offset); len(vals) > 0 {
						out = append(out, &Series{Name: m, Columns: []string{"key", "value"}, Values: vals})
					}
					continue
				}
			}
		}
		where, shards, err := shardCondition(b, db, st.Condition, s, req.Now)
		if err != nil {
			return nil, err
		}
		if shards != "" {
			where = "(" + where + ") AND " + shards
		}
		var vals [][]any
		for _, k := range keys {
			col := quoteIdent(k)
			res, err := runSQL(ctx, b, db, tables, "SELECT "+col+" FROM "+quoteIdent(m)+" WHERE "+col+" IS NOT NULL AND "+col+" <> '' AND ("+where+") GROUP BY "+col+" ORDER BY "+col, req.Now)
			if err != nil {
				return nil, err
			}
			for _, r := range res.Rows {
				vals = append(vals, []any{k, r[0]})
			}
		}
		vals = limitRows(vals, st.Limit, st.Offset)
		if len(vals) == 0 {
			continue
		}
		out = append(out, &Series{Name: m, Columns: []string{"key", "value"}, Values: vals})
	}
	return out, nil
}

func showFieldKeys(b Backend, req Request, st *influxql.ShowFieldKeysStatement) ([]*Series, error) {
	db := sourceDB(st.Sources, st.Database, req.Database)
	tables, err := tablesOf(b, db)
	if err != nil {
		return nil, err
	}
	var out []*Series
	for _, m := range sourceTables(st.Sources, tables) {
		fields := append([]columnar.FieldSchema(nil), tables[m].Fields...)
		sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
		var vals [][]any
		for _, f := range fields {
			vals = append(vals, []any{f.Name, influxType(f.Type)})
		}
		vals = limitRows(vals, st.Limit, st.Offset)
		if len(vals) == 0 {
			continue
		}
		out = append(out, &Series{Name: m, Columns: []string{"fieldKey", "fieldType"}, Values: vals})
	}
	return out, nil
}

func showSeries(ctx context.Context, b Backend, req Request, st *influxql.ShowSeriesStatement) ([]*Series, error) {
	db := sourceDB(st.Sources, st.Database, req.Database)
	tables, err := tablesOf(b, db)
	if err != nil {
		return nil, err
	}
	// keys are the escaped series keys; order holds each one's sort key:
	// InfluxDB orders series by measurement, then tag keys and values,
	// compared unescaped, a name before a longer one it starts.
	var keys, order []string
	for _, m := range sourceTables(st.Sources, tables) {
		s := tables[m]
		where, err := metaCondition(st.Condition, s, req.Now)
		if err != nil {
			return nil, err
		}
		if len(s.Tags) == 0 {
			ok, err := hasRows(ctx, b, db, tables, m, where, req.Now)
			if err != nil {
				return nil, err
			}
			if ok {
				keys = append(keys, escapeMeasurement(m))
				order = append(order, m)
			}
			continue
		}
		cols := make([]string, len(s.Tags))
		for i, t := range s.Tags {
			cols[i] = quoteIdent(t)
		}
		list := strings.Join(cols, ", ")
		res, err := runSQL(ctx, b, db, tables, "SELECT "+list+" FROM "+quoteIdent(m)+" WHERE "+where+" GROUP BY "+list, req.Now)
		if err != nil {
			return nil, err
		}
		for _, r := range res.Rows {
			tags := map[string]string{}
			for i, t := range s.Tags {
				if v, ok := r[i].(string); ok && v != "" {
					tags[t] = v
				}
			}
			keys = append(keys, seriesKey(m, tags))
			order = append(order, seriesOrder(m, tags))
		}
	}
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return order[idx[a]] < order[idx[b]] })
	vals := make([][]any, 0, len(keys))
	for _, i := range idx {
		vals = append(vals, []any{keys[i]})
	}
	vals = limitRows(vals, st.Limit, st.Offset)
	if len(vals) == 0 {
		return nil, nil
	}
	return []*Series{{Columns: []string{"key"}, Values: vals}}, nil
}

// seriesKey is InfluxDB's series key: the measurement and the tags sorted
// by key, escaped as in line protocol.
func seriesKey(m string, tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(escapeMeasurement(m))
	for _, k := range keys {
		b.WriteByte(',')
		b.WriteString(escapeTag(k))
		b.WriteByte('=')
		b.WriteString(escapeTag(tags[k]))
	}
	return b.String()
}

// seriesOrder is a series' sort key for SHOW SERIES: the measurement and
// the tags in key order, unescaped, each ended by a byte below any other.
func seriesOrder(m string, tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(m)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(tags[k])
	}
	return b.String()
}

var (
	measurementEscaper = strings.NewReplacer(",", `\,`, " ", `\ `)
	tagEscaper         = strings.NewReplacer(",", `\,`, " ", `\ `, "=", `\=`)
)

func escapeMeasurement(s string) string { return measurementEscaper.Replace(s) }
func escapeTag(s string) string         { return tagEscaper.Replace(s) }

// sqlCatalog is the SQL planner's view of a database's tables.
func sqlCatalog(tables map[string]*columnar.TableSchema) sql.MapCatalog {
	cat, _ := exec.Catalog(tables)
	return cat
}

// tagValuer is a backend that reads distinct tag values from its indexes
// (the engine's segment tag indexes and head dictionaries) instead of
// scanning: SHOW TAG VALUES is what Grafana's variables and editor send on
// every dashboard load.
type tagValuer interface {
	// TagValues returns the sorted distinct values of key among rows whose
	// tags match filter; ok is false when the indexes cannot answer.
	TagValues(db, table, key string, filter map[string][]string) (vals []string, ok bool, err error)
}

// indexedTagValues is SHOW TAG VALUES' rows for keys through tv; ok is
// false when any key needs a scan.
func indexedTagValues(tv tagValuer, db, table string, keys []string, filter map[string][]string) ([][]any, bool, error) {
	var rows [][]any
	for _, k := range keys {
		vals, ok, err := tv.TagValues(db, table, k, filter)
		if err != nil || !ok {
			return nil, false, err
		}
		for _, v := range vals {
			rows = append(rows, []any{k, v})
		}
	}
	return rows, true, nil
}

// tagFilter turns a SHOW ... WHERE condition made only of `tag = 'value'`
// terms joined by AND (or no condition) into tag sets; ok is false for
// anything else (time bounds, regexes, OR, fields), which is scanned.
func tagFilter(cond influxql.Expr, s *columnar.TableSchema) (map[string][]string, bool) {
	filter := map[string][]string{}
	var walk func(e influxql.Expr) bool
	walk = func(e influxql.Expr) bool {
		switch x := e.(type) {
		case nil:
			return true
		case *influxql.ParenExpr:
			return walk(x.Expr)
		case *influxql.BinaryExpr:
			switch x.Op {
			case influxql.AND:
				return walk(x.LHS) && walk(x.RHS)
			case influxql.EQ:
				ref, ok := x.LHS.(*influxql.VarRef)
				lit, isLit := x.RHS.(*influxql.StringLiteral)
				if !ok || !isLit || (ref.Type != influxql.Unknown && ref.Type != influxql.Tag) || !slices.Contains(s.Tags, ref.Val) {
					return false
				}
				if have, seen := filter[ref.Val]; seen {
					// Two values for one tag: no row has both.
					if !slices.Contains(have, lit.Val) {
						filter[ref.Val] = []string{}
					}
					return true
				}
				filter[ref.Val] = []string{lit.Val}
				return true
			}
		}
		return false
	}
	if !walk(cond) {
		return nil, false
	}
	return filter, true
}
