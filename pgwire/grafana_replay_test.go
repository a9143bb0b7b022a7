package pgwire

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/server"
)

// Grafana's PostgreSQL data source (pkg/tsdb/grafana-postgresql-datasource
// and its frontend in public/app/plugins/datasource/grafana-postgresql-
// datasource), read from its source:
//
//   - "Save & test" pings the pool: pgx's Ping sends the simple query
//     "-- ping" (lib/pq, its older driver, sends ";").
//   - On a new data source the configuration page detects the server:
//     SELECT current_setting('server_version_num')::int/100 as version,
//     then (from 9.6) the TimescaleDB extension's version.
//   - The query builder lists schemas, tables (with and without a schema)
//     and a table's columns with the queries of postgresMetaQuery.ts.
//   - A panel's SQL has $__interval and the like replaced, then its macros
//     expanded to SQL text in Grafana (macros.go), and is sent with
//     PgConn().Exec: the simple query protocol, several statements allowed,
//     every result read in text format.
//
// grafanaExpand expands a query's macros to the text Grafana sends for a
// dashboard range from..to and an interval.
func grafanaExpand(t *testing.T, q string, from, to time.Time, interval time.Duration) string {
	t.Helper()
	ts := func(x time.Time) string { return x.UTC().Format(time.RFC3339Nano) }
	// Grafana's gtime.FormatInterval for the intervals used here.
	iv := strconv.FormatInt(int64(interval/time.Minute), 10) + "m"
	if interval < time.Minute {
		iv = strconv.FormatInt(int64(interval/time.Second), 10) + "s"
	}
	q = strings.ReplaceAll(q, "$__interval_ms", strconv.FormatInt(interval.Milliseconds(), 10))
	q = strings.ReplaceAll(q, "$__interval", iv)
	q = strings.ReplaceAll(q, "$__unixEpochFrom()", strconv.FormatInt(from.Unix(), 10))
	q = strings.ReplaceAll(q, "$__unixEpochTo()", strconv.FormatInt(to.Unix(), 10))
	macro := regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)
	out := q
	for _, m := range macro.FindAllStringSubmatchIndex(q, -1) {
		whole, name, argText := q[m[0]:m[1]], q[m[2]:m[3]], q[m[4]:m[5]]
		var args []string
		for _, a := range strings.Split(argText, ",") {
			args = append(args, strings.TrimSpace(a))
		}
		if name == "__timeGroup" && m[1] < len(q) && q[m[1]] == ',' {
			name = "__timeGroupAlias" // Grafana's pre-5.3 compatibility
		}
		group := func() string {
			d, err := time.ParseDuration(strings.Trim(args[1], "'"))
			if err != nil {
				t.Fatalf("interval of %s: %v", whole, err)
			}
			return fmt.Sprintf("floor(extract(epoch from %s)/%v)*%v", args[0], d.Seconds(), d.Seconds())
		}
		var rep string
		switch name {
		case "__time":
			rep = args[0] + ` AS "time"`
		case "__timeEpoch":
			rep = "extract(epoch from " + args[0] + `) as "time"`
		case "__timeFilter":
			rep = fmt.Sprintf("%s BETWEEN '%s' AND '%s'", args[0], ts(from), ts(to))
		case "__timeFrom":
			rep = "'" + ts(from) + "'"
		case "__timeTo":
			rep = "'" + ts(to) + "'"
		case "__timeGroup":
			rep = group()
		case "__timeGroupAlias":
			rep = group() + ` AS "time"`
		case "__unixEpochFilter":
			rep = fmt.Sprintf("%s >= %d AND %s <= %d", args[0], from.Unix(), args[0], to.Unix())
		default:
			t.Fatalf("macro %s not expanded by this test", name)
		}
		out = strings.Replace(out, whole, rep, 1)
	}
	return out
}

// TestGrafanaPostgresReplay replays what Grafana's PostgreSQL data source
// sends, as it sends it, against the listener and against PostgreSQL 15
// with the same rows, and compares every answer: column names, types
// (numeric types may differ where Grafana reads them alike), rows.
func TestGrafanaPostgresReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL; skipped with -short")
	}
	o := pgoracle.Start(t)
	e := startEnv(t, server.Config{}, nil)
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var points []pgoracle.Point
	var lp strings.Builder
	for h := range 4 {
		tags := map[string]string{"hostname": fmt.Sprintf("host_%d", h)}
		if h != 3 {
			tags["region"] = []string{"eu-west", "us-east", "eu-west"}[h]
		}
		for i := range 2160 {
			ts := base.Add(time.Duration(i)*10*time.Second + time.Duration(h)*time.Second)
			fields := map[string]any{"usage_user": float64((h*37+i*11)%1000)/10 + 0.25, "n": int64((h*7 + i*3) % 100)}
			fmt.Fprintf(&lp, "cpu,hostname=%s", tags["hostname"])
			if r, ok := tags["region"]; ok {
				fmt.Fprintf(&lp, ",region=%s", r)
			}
			fmt.Fprintf(&lp, " usage_user=%s,n=%di", strconv.FormatFloat(fields["usage_user"].(float64), 'g', -1, 64), fields["n"])
			if i%5 == h%5 {
				fields["usage_idle"] = float64(i%23) * 1.5
				fmt.Fprintf(&lp, ",usage_idle=%s", strconv.FormatFloat(fields["usage_idle"].(float64), 'g', -1, 64))
			}
			fmt.Fprintf(&lp, " %d\n", ts.UnixNano())
			points = append(points, pgoracle.Point{Time: ts.UnixNano(), Tags: tags, Fields: fields})
		}
	}
	// A second table: the builder's column list must be of the table asked.
	var mem []pgoracle.Point
	for i := range 10 {
		ts := base.Add(time.Duration(i) * time.Minute)
		mem = append(mem, pgoracle.Point{Time: ts.UnixNano(), Tags: map[string]string{"hostname": "host_0"}, Fields: map[string]any{"free": int64(i)}})
		fmt.Fprintf(&lp, "mem,hostname=host_0 free=%di %d\n", i, ts.UnixNano())
	}
	if err := o.LoadPoints("mem", []string{"hostname"}, []pgoracle.FieldDef{{Name: "free", Type: pgoracle.Integer}}, mem); err != nil {
		t.Fatal(err)
	}
	e.write(t, lp.String(), "")
	if err := o.LoadPoints("cpu", []string{"hostname", "region"}, []pgoracle.FieldDef{
		{Name: "usage_user", Type: pgoracle.Float}, {Name: "usage_idle", Type: pgoracle.Float}, {Name: "n", Type: pgoracle.Integer}}, points); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	connect := func(dsn string) *pgx.Conn {
		t.Helper()
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		// The oracle's session in UTC, as Silt's: timestamps print alike.
		cfg.RuntimeParams["timezone"] = "UTC"
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	silt, pg := connect(e.dsn("")), connect(o.ConnString())

	// Save & test.
	if err := silt.Ping(ctx); err != nil {
		t.Fatalf("pgx Ping (-- ping): %v", err)
	}
	if _, err := silt.PgConn().Exec(ctx, ";").ReadAll(); err != nil {
		t.Fatalf("lib/pq's ping (;): %v", err)
	}
	// Feature detection of a new data source.
	res, err := silt.PgConn().Exec(ctx, "SELECT current_setting('server_version_num')::int/100 as version").ReadAll()
	if err != nil {
		t.Errorf("version: %v", err)
	} else if v, err := strconv.Atoi(string(res[0].Rows[0][0])); err != nil || v < 906 || res[0].FieldDescriptions[0].Name != "version" {
		t.Fatalf("version %q (%v): Grafana parses an integer, 906 or more", res[0].Rows[0][0], err)
	}

	from, to := base.Add(17*time.Minute+13*time.Second), base.Add(5*time.Hour)
	type replay struct {
		q        string
		sorted   bool // no ORDER BY: compared as sets of rows
		interval time.Duration
	}
	cases := []replay{
		{q: "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"},
		{q: `SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name`},
		{q: `SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'public'
      ORDER BY 1`},
		{q: `SELECT
    CASE WHEN ` + grafanaSchemaConstraint + `
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN ` + grafanaSchemaConstraint + ` THEN 0 ELSE 1 END, 1`},
		{q: `SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('cpu'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('cpu'))[1]
          AND quote_ident(table_name) = (parse_ident('cpu'))[2]
        ELSE quote_ident(table_name) = 'cpu'
          AND ` + grafanaSchemaConstraint + `
      END`, sorted: true},
		{q: `SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('public.mem'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('public.mem'))[1]
          AND quote_ident(table_name) = (parse_ident('public.mem'))[2]
        ELSE quote_ident(table_name) = 'public.mem'
          AND ` + grafanaSchemaConstraint + `
      END`, sorted: true},
		// The query builder's SQL (toRawSql: clauses each followed by a space).
		{q: `SELECT $__timeGroupAlias(time, $__interval), avg(usage_user) AS "usage_user" FROM cpu WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1 LIMIT 50 `, interval: time.Minute},
		{q: `SELECT hostname, avg(usage_user), count(usage_idle) FROM cpu WHERE $__timeFilter(time) GROUP BY hostname ORDER BY hostname `},
		// Code mode: the macros of Grafana's documentation and cheat sheet.
		{q: `SELECT $__timeGroup(time, '5m'), hostname AS metric, max(usage_user) FROM cpu WHERE $__timeFilter(time) GROUP BY 1, 2 ORDER BY 1, 2`},
		{q: `SELECT $__timeGroupAlias(time, '1h'), region AS metric, count(*) AS "points" FROM cpu WHERE $__timeFilter(time) GROUP BY 1, 2 ORDER BY 1, 2`},
		{q: `SELECT $__time(time), usage_idle FROM cpu WHERE $__timeFilter(time) AND hostname = 'host_1' AND usage_idle IS NOT NULL ORDER BY 1`},
		{q: `SELECT $__timeEpoch(time), n AS "value" FROM cpu WHERE time >= $__timeFrom() AND time < $__timeTo() AND region IS NULL ORDER BY 1 LIMIT 100`},
		{q: `SELECT $__timeGroupAlias(time, $__interval), avg(usage_user) - lag(avg(usage_user)) OVER (ORDER BY $__timeGroup(time, $__interval)) AS delta FROM cpu WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`, interval: 10 * time.Minute},
		{q: `SELECT $__timeGroupAlias(time, '15m'), sum(n) AS "n", $__interval_ms AS "step_ms" FROM cpu WHERE $__timeFilter(time) AND region = 'eu-west' GROUP BY 1 ORDER BY 1`, interval: 30 * time.Second},
		{q: `SELECT $__time(time), usage_user FROM cpu WHERE $__timeFilter(time) AND hostname = 'host_0' ORDER BY 1 LIMIT 3; SELECT $__time(time), usage_user FROM cpu WHERE $__timeFilter(time) AND hostname = 'host_2' ORDER BY 1 LIMIT 3`},
		{q: `SELECT hostname AS "__text", hostname AS "__value" FROM cpu WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`},
		{q: `SELECT count(*) FROM cpu WHERE extract(epoch from time) >= $__unixEpochFrom() AND extract(epoch from time) <= $__unixEpochTo()`},
	}
	for i, c := range cases {
		q := grafanaExpand(t, c.q, from, to, c.interval)
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			want, werr := pg.PgConn().Exec(ctx, q).ReadAll()
			got, gerr := silt.PgConn().Exec(ctx, q).ReadAll()
			if werr != nil || gerr != nil {
				t.Fatalf("%s\nPostgreSQL: %v\nSilt: %v", q, werr, gerr)
			}
			if err := sameResults(want, got, c.sorted); err != nil {
				t.Fatalf("%s\n%v", q, err)
			}
		})
	}
}

// grafanaSchemaConstraint is postgresMetaQuery.ts's buildSchemaConstraint:
// the schemas of the session's search_path.
const grafanaSchemaConstraint = `
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )`

// numericOIDs are the types Grafana reads as numbers alike (a time
// column as epoch seconds, a value converted to float64).
var numericOIDs = map[uint32]bool{oidInt2: true, oidInt4: true, oidInt8: true, oidFloat4: true, oidFloat8: true, oidNumeric: true}

// sameResults compares simple-protocol results: statements, column names,
// types, and rows (numbers to a relative 1e-12; sorted first when sorted).
func sameResults(want, got []*pgconn.Result, sorted bool) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d results, PostgreSQL %d", len(got), len(want))
	}
	for k := range want {
		w, g := want[k], got[k]
		if len(w.FieldDescriptions) != len(g.FieldDescriptions) {
			return fmt.Errorf("result %d: %d columns, PostgreSQL %d", k, len(g.FieldDescriptions), len(w.FieldDescriptions))
		}
		for i, wf := range w.FieldDescriptions {
			gf := g.FieldDescriptions[i]
			if wf.Name != gf.Name {
				return fmt.Errorf("result %d column %d: %q, PostgreSQL %q", k, i, gf.Name, wf.Name)
			}
			if wf.DataTypeOID != gf.DataTypeOID && !(numericOIDs[wf.DataTypeOID] && numericOIDs[gf.DataTypeOID]) {
				return fmt.Errorf("result %d column %q: type OID %d, PostgreSQL %d", k, wf.Name, gf.DataTypeOID, wf.DataTypeOID)
			}
		}
		if w.CommandTag.String() != g.CommandTag.String() {
			return fmt.Errorf("result %d: command tag %q, PostgreSQL %q", k, g.CommandTag, w.CommandTag)
		}
		wr, gr := textRows(w.Rows), textRows(g.Rows)
		if len(wr) != len(gr) {
			return fmt.Errorf("result %d: %d rows, PostgreSQL %d", k, len(gr), len(wr))
		}
		if sorted {
			sort.Slice(wr, func(i, j int) bool { return strings.Join(wr[i], "\x00") < strings.Join(wr[j], "\x00") })
			sort.Slice(gr, func(i, j int) bool { return strings.Join(gr[i], "\x00") < strings.Join(gr[j], "\x00") })
		}
		for r := range wr {
			for c := range wr[r] {
				if !sameText(wr[r][c], gr[r][c]) {
					return fmt.Errorf("result %d row %d column %q: %q, PostgreSQL %q", k, r, w.FieldDescriptions[c].Name, gr[r][c], wr[r][c])
				}
			}
		}
	}
	return nil
}

// textRows are rows as text, "\x00NULL" for NULL.
func textRows(rows [][][]byte) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			if v == nil {
				out[i][j] = "\x00NULL"
			} else {
				out[i][j] = string(v)
			}
		}
	}
	return out
}

func sameText(w, g string) bool {
	if w == g {
		return true
	}
	wf, err1 := strconv.ParseFloat(w, 64)
	gf, err2 := strconv.ParseFloat(g, 64)
	return err1 == nil && err2 == nil && math.Abs(wf-gf) <= 1e-12*math.Max(math.Abs(wf), 1)
}
