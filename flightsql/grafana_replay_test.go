package flightsql

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/server"
)

// The requests of Grafana's InfluxDB data source in SQL mode, replayed
// as its backend sends them: a Flight SQL client with the data source's
// metadata (database, Authorization: Bearer token) on every call,
// GetFlightInfo of the query expected to answer one endpoint, DoGet of
// its ticket reading the stream's headers; its schema browser's
// information_schema queries; and its query builder's and macros'
// panel queries, expanded as its backend expands them.

// grafanaSQLClient is the data source's Flight SQL connection.
type grafanaSQLClient struct {
	c  *flightsql.Client
	md metadata.MD
}

func newGrafanaSQLClient(t *testing.T, addr string, meta map[string]string, token string) *grafanaSQLClient {
	t.Helper()
	c, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	md := metadata.MD{}
	for k, v := range meta {
		md.Set(k, v)
	}
	if token != "" {
		md.Set("Authorization", "Bearer "+token)
	}
	return &grafanaSQLClient{c: c, md: md}
}

// query runs one query as the data source's backend does.
func (g *grafanaSQLClient) query(t *testing.T, sql string) ([]string, [][]string, error) {
	t.Helper()
	ctx := metadata.NewOutgoingContext(context.Background(), g.md)
	info, err := g.c.Execute(ctx, sql)
	if err != nil {
		return nil, nil, err
	}
	if len(info.Endpoint) != 1 {
		return nil, nil, fmt.Errorf("unsupported endpoint count in response: %d", len(info.Endpoint))
	}
	stream, err := g.c.Client.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		return nil, nil, err
	}
	r, err := flight.NewRecordReader(stream)
	if err != nil {
		return nil, nil, err
	}
	if _, err := stream.Header(); err != nil {
		t.Errorf("%s: stream headers: %v", sql, err)
	}
	planned, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil || !planned.Equal(r.Schema()) {
		t.Errorf("%s: planned schema %v (%v), streamed %v", sql, planned, err, r.Schema())
	}
	cols, rows := readAll(t, r)
	return cols, rows, nil
}

// grafanaMacros expands the data source's SQL-mode macros for a
// dashboard range from..to and an interval, as its backend does
// (its own macros, then the SDK's defaults it keeps).
func grafanaMacros(sql string, from, to time.Time, interval time.Duration) string {
	secs := int64(interval.Seconds())
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	group := func(col, unit string, alias bool) string {
		units := []string{"minute", "hour", "day", "month", "year"}
		start := 0
		for i, u := range units {
			if u == unit {
				start = i
			}
		}
		var parts []string
		for _, u := range units[start:] {
			p := fmt.Sprintf("datepart('%s', %s)", u, col)
			if alias {
				p += fmt.Sprintf(" as %s_%s", col, u)
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, ",")
	}
	rules := []struct {
		re  *regexp.Regexp
		fix func(args []string) string
	}{
		{regexp.MustCompile(`\$__timeGroupAlias\(([^,)]+),\s*([a-z]+)\)`), func(a []string) string { return group(a[0], a[1], true) }},
		{regexp.MustCompile(`\$__timeGroup\(([^,)]+),\s*([a-z]+)\)`), func(a []string) string { return group(a[0], a[1], false) }},
		{regexp.MustCompile(`\$__dateBinAlias\(([^)]+)\)`), func(a []string) string {
			return fmt.Sprintf("date_bin(interval '%d second', %s, timestamp '1970-01-01T00:00:00Z') as %s_binned", secs, a[0], a[0])
		}},
		{regexp.MustCompile(`\$__dateBin\(([^)]+)\)`), func(a []string) string {
			return fmt.Sprintf("date_bin(interval '%d second', %s, timestamp '1970-01-01T00:00:00Z')", secs, a[0])
		}},
		{regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`), func(a []string) string {
			return fmt.Sprintf("%s >= '%s' AND %s <= '%s'", a[0], ts(from), a[0], ts(to))
		}},
		{regexp.MustCompile(`\$__timeFrom(\(\))?`), func([]string) string { return fmt.Sprintf("cast('%s' as timestamp)", ts(from)) }},
		{regexp.MustCompile(`\$__timeTo(\(\))?`), func([]string) string { return fmt.Sprintf("cast('%s' as timestamp)", ts(to)) }},
		{regexp.MustCompile(`\$__interval\b`), func([]string) string { return fmt.Sprintf("interval '%d second'", secs) }},
	}
	for _, r := range rules {
		sql = r.re.ReplaceAllStringFunc(sql, func(m string) string {
			sub := r.re.FindStringSubmatch(m)
			var args []string
			for _, a := range sub[1:] {
				args = append(args, strings.TrimSpace(a))
			}
			return r.fix(args)
		})
	}
	return sql
}

func TestGrafanaSQLModeReplay(t *testing.T) {
	e := startEnv(t, server.Config{Tokens: []server.Token{
		{Name: "grafana", Secret: "gsecret", Read: true},
		{Name: "w", Secret: "wsecret", Write: true},
	}}, Config{BatchRows: 3})
	var lp strings.Builder
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 240; i++ {
		ts := base.Add(time.Duration(i) * 7 * time.Minute).UnixNano()
		host := []string{"a", "b", "c"}[i%3]
		fmt.Fprintf(&lp, "cpu,host=%s,region=%s usage_idle=%g,usage_user=%di %d\n", host, []string{"eu", "us"}[i%2], float64(i%17)*1.5, i%11, ts)
		if i%4 == 0 {
			fmt.Fprintf(&lp, "cpu,region=eu usage_idle=%g,ok=%t %d\n", float64(i)/3, i%8 == 0, ts) // no host tag, sparse fields
		}
		if i%5 == 0 {
			fmt.Fprintf(&lp, "disk,host=%s free=%du,note=\"n%d\" %d\n", host, 1000-i, i%3, ts)
		}
	}
	e.write(t, testDB, lp.String(), "Authorization", "Bearer wsecret")
	g := newGrafanaSQLClient(t, e.addr, map[string]string{"database": testDB}, "gsecret")

	// The schema browser: datasets, then the tables of one, then the
	// columns of a table (flightsqlMetaQuery.ts).
	_, rows, err := g.query(t, "SELECT DISTINCT TABLE_SCHEMA from information_schema.TABLES where TABLE_TYPE != 'SYSTEM VIEW' ORDER BY TABLE_SCHEMA")
	if want := [][]string{{"information_schema"}, {"iox"}}; err != nil || !reflect.DeepEqual(rows, want) {
		t.Errorf("datasets: %v %v, want %v", rows, err, want)
	}
	tables, _ := e.l.be.Tables(testDB)
	var names [][]string
	for n := range tables {
		names = append(names, []string{n})
	}
	sort.Slice(names, func(i, j int) bool { return names[i][0] < names[j][0] })
	_, rows, err = g.query(t, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'iox' ORDER BY table_name")
	if err != nil || !reflect.DeepEqual(rows, names) {
		t.Errorf("tables: %v %v, want %v", rows, err, names)
	}
	for n, sch := range tables {
		_, rows, err := g.query(t, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'iox' AND table_name = '"+n+"' ORDER BY column_name")
		want := [][]string{{columnar.TimeColumn, "Timestamp(Nanosecond, None)"}}
		for _, tag := range sch.Tags {
			want = append(want, []string{tag, "Dictionary(Int32, Utf8)"})
		}
		for _, f := range sch.Fields {
			want = append(want, []string{f.Name, arrowTypeName(f.Type)})
		}
		sort.Slice(want, func(i, j int) bool { return want[i][0] < want[j][0] })
		if err != nil || !reflect.DeepEqual(rows, want) {
			t.Errorf("columns of %s: %v %v, want %v", n, rows, err, want)
		}
	}
	// Other information_schema uses: a join of the views, a count, an
	// alias, a view in a subquery.
	for _, q := range []string{
		"SELECT t.table_name, count(c.column_name) AS n FROM information_schema.tables t JOIN information_schema.columns c ON c.table_name = t.table_name AND c.table_schema = t.table_schema WHERE t.table_schema = 'iox' GROUP BY t.table_name ORDER BY 1",
		"SELECT schema_name FROM information_schema.schemata ORDER BY 1",
		"SELECT * FROM information_schema.columns WHERE table_name = 'disk' ORDER BY ordinal_position",
		"SELECT count(*) FROM cpu WHERE host IN (SELECT column_name FROM information_schema.columns)",
	} {
		if _, rows, err := g.query(t, q); err != nil || len(rows) == 0 {
			t.Errorf("%s: %v %v", q, rows, err)
		}
	}

	// Panels: the query builder's SQL (sqlUtil.ts toRawSql) and raw SQL
	// with the macros, expanded for a range inside the data; each answers
	// what /api/v1/sql answers.
	from, to := base.Add(3*time.Hour), base.Add(20*time.Hour)
	for _, q := range []string{
		`SELECT "usage_idle", "host" FROM "cpu" WHERE "time" >= $__timeFrom AND "time" <= $__timeTo ORDER BY "time" ASC LIMIT 1000`,
		`SELECT avg("usage_idle"), "host" FROM "cpu" WHERE "time" >= $__timeFrom AND "time" <= $__timeTo AND "region" = 'eu' GROUP BY "host" ORDER BY "host" DESC LIMIT 50`,
		`SELECT max("usage_user"), count("ok") FROM "cpu" WHERE "time" >= $__timeFrom AND "time" <= $__timeTo LIMIT 10`,
		`SELECT $__dateBin(time), avg(usage_idle) FROM cpu WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`,
		`SELECT $__dateBinAlias(time), host, max(usage_user) AS mx FROM cpu WHERE $__timeFilter(time) GROUP BY 1, 2 ORDER BY 1, 2`,
		`SELECT $__timeGroupAlias(time, hour), count(*) FROM cpu WHERE $__timeFilter(time) GROUP BY 1, 2, 3, 4 ORDER BY 4, 3, 2, 1`,
		`SELECT $__timeGroup(time, day), sum(free) FROM disk GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
		`SELECT time, usage_idle FROM cpu WHERE host = 'b' AND time >= $__timeFrom AND time < $__timeFrom + $__interval * 10 ORDER BY time`,
		`SELECT date_bin($__interval, time) AS t, host, avg(usage_idle) AS a FROM cpu WHERE $__timeFilter(time) GROUP BY 1, 2 ORDER BY 1, 2`,
		`SELECT time, host, region, usage_idle FROM cpu WHERE $__timeFilter(time) AND host IS NULL ORDER BY time`,
		`SELECT time, note, free FROM disk WHERE $__timeFilter(time) ORDER BY time DESC LIMIT 5`,
	} {
		text := grafanaMacros(q, from, to, 10*time.Minute)
		cols, rows, err := g.query(t, text)
		if err != nil {
			t.Errorf("%s\n  expanded %s: %v", q, text, err)
			continue
		}
		wantCols, wantRows := e.sqlRows(t, testDB, text, "Authorization", "Bearer gsecret")
		if !reflect.DeepEqual(cols, wantCols) || !(len(rows) == 0 && len(wantRows) == 0 || reflect.DeepEqual(rows, wantRows)) {
			t.Errorf("%s:\nflight %v %v\nhttp   %v %v", text, cols, rows, wantCols, wantRows)
		}
		if len(rows) == 0 && !strings.Contains(q, "IS NULL") {
			t.Errorf("%s: no rows", text)
		}
	}

	// Without the token, and with a database that does not exist, the
	// data source gets the errors its connection test shows.
	anon := newGrafanaSQLClient(t, e.addr, map[string]string{"database": testDB}, "")
	if _, _, err := anon.query(t, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Errorf("no token: %v", err)
	}
	nodb := newGrafanaSQLClient(t, e.addr, map[string]string{"database": "nope"}, "gsecret")
	if _, _, err := nodb.query(t, "SELECT table_name FROM information_schema.tables"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown database: %v", err)
	}
}
