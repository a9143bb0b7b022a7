package pgwire

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/server"
)

// comparedQueries are answered through pgx and /api/v1/sql and must agree
// value for value. They cover every column type (timestamptz, text tags
// and strings, float8, int8, numeric for uint64, bool, NULLs of a sparse
// field) and the TSBS shapes.
var comparedQueries = []string{
	`SELECT * FROM cpu ORDER BY time, hostname LIMIT 40`,
	`SELECT time, hostname, usage_iowait, state FROM cpu WHERE hostname = 'host_1' ORDER BY time`,
	`SELECT hostname, region, max(usage_user), min(usage_system), count(*), sum(usage_system), avg(usage_user), count(usage_iowait) FROM cpu GROUP BY hostname, region ORDER BY hostname`,
	`SELECT date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS m, max(usage_user) FROM cpu WHERE hostname IN ('host_0','host_2') AND time >= '2024-03-01T00:00:00Z' AND time < '2024-03-01T00:05:00Z' GROUP BY m ORDER BY m`,
	`SELECT * FROM cpu WHERE usage_user > 90 ORDER BY time, hostname`,
	`SELECT hostname, last(usage_user, time) FROM cpu GROUP BY hostname ORDER BY hostname`,
	`SELECT max(cores), min(cores), count(*) FROM cpu WHERE ok = true`,
	`SHOW TABLES`,
}

func loadCPU(t testing.TB, e *testEnv, token string) {
	t.Helper()
	e.write(t, cpuLines(6, 120), token)
	e.write(t, "mem,hostname=host_0 used=1i 1709251200000000000\n", token)
}

// canon turns a value read by pgx into the Go type /api/v1/sql's values
// decode to, so the two can be compared.
func canon(t *testing.T, v any) any {
	switch x := v.(type) {
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		i := new(big.Int).Set(x.Int)
		i.Mul(i, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Exp)), nil))
		if !i.IsUint64() {
			t.Fatalf("numeric %v is not a uint64", x)
		}
		return i.Uint64()
	case time.Time:
		return x.UTC()
	case int32:
		return int64(x)
	}
	return v
}

func sameValue(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && (fa == fb || math.IsNaN(fa) && math.IsNaN(fb))
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}

// pgxRows runs q with mode and returns the column OIDs and canonical rows.
func pgxRows(t *testing.T, conn *pgx.Conn, mode pgx.QueryExecMode, q string, args ...any) ([]pgconn.FieldDescription, [][]any) {
	t.Helper()
	rows, err := conn.Query(context.Background(), q, append([]any{mode}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("%s: values: %v", q, err)
		}
		for i := range vals {
			vals[i] = canon(t, vals[i])
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rows.FieldDescriptions(), out
}

var wantOID = map[string]uint32{query.TypeTimestamp: oidTimestamptz, query.TypeInteger: oidInt8, query.TypeUnsigned: oidNumeric,
	query.TypeFloat: oidFloat8, query.TypeBoolean: oidBool, query.TypeString: oidText}

func compareResults(t *testing.T, what, q string, api apiResult, fields []pgconn.FieldDescription, rows [][]any) {
	t.Helper()
	if len(fields) != len(api.Columns) {
		t.Fatalf("%s %s: %d columns, /api/v1/sql has %d", what, q, len(fields), len(api.Columns))
	}
	for i, f := range fields {
		if f.Name != api.Columns[i].Name || f.DataTypeOID != wantOID[api.Columns[i].Type] {
			t.Errorf("%s %s: column %d is %s OID %d, /api/v1/sql has %s %s", what, q, i, f.Name, f.DataTypeOID, api.Columns[i].Name, api.Columns[i].Type)
		}
	}
	if len(rows) != len(api.Rows) {
		t.Fatalf("%s %s: %d rows, /api/v1/sql has %d", what, q, len(rows), len(api.Rows))
	}
	for r := range rows {
		for c := range rows[r] {
			if !sameValue(rows[r][c], api.Rows[r][c]) {
				t.Errorf("%s %s: row %d column %s: %#v, /api/v1/sql has %#v", what, q, r, api.Columns[c].Name, rows[r][c], api.Rows[r][c])
			}
		}
	}
}

// TestPgxMatchesSQLAPI runs the same queries through pgx's simple
// protocol (text results), its extended protocol (binary results for
// every type that has them) and /api/v1/sql, on the same data.
func TestPgxMatchesSQLAPI(t *testing.T) {
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	conn, err := pgx.Connect(context.Background(), e.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range comparedQueries {
		api := e.sqlAPI(t, q, "")
		if len(api.Rows) == 0 {
			t.Fatalf("%s: no rows: the comparison would be empty", q)
		}
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
			fields, rows := pgxRows(t, conn, mode, q)
			if mode == pgx.QueryExecModeCacheStatement {
				// pgx asks binary results for the types it can read so.
				for _, f := range fields {
					if f.DataTypeOID != oidText && f.Format != 1 {
						t.Errorf("%s: column %s came as text in the extended protocol", q, f.Name)
					}
				}
			}
			compareResults(t, mode.String(), q, api, fields, rows)
		}
	}
}

// TestPgxParameters binds parameters of each type, in the extended
// protocol (binary parameters, typed by the server's description) and in
// pgx's simple protocol (client-side interpolation), and compares with
// /api/v1/sql running the literal query.
func TestPgxParameters(t *testing.T) {
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	conn, err := pgx.Connect(context.Background(), e.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	from := time.Date(2024, 3, 1, 0, 2, 0, 0, time.UTC)
	cases := []struct {
		q, literal string
		args       []any
	}{
		{`SELECT time, usage_user FROM cpu WHERE hostname = $1 AND time >= $2 AND usage_user > $3 ORDER BY time LIMIT $4`,
			`SELECT time, usage_user FROM cpu WHERE hostname = 'host_2' AND time >= '2024-03-01T00:02:00Z' AND usage_user > 20.5 ORDER BY time LIMIT 7`,
			[]any{"host_2", from, 20.5, 7}},
		{`SELECT count(*) FROM cpu WHERE usage_system >= $1 AND ok = $2 AND hostname IN ($3, $4)`,
			`SELECT count(*) FROM cpu WHERE usage_system >= 40 AND ok = true AND hostname IN ('host_1', 'host_4')`,
			[]any{int64(40), true, "host_1", "host_4"}},
		// A value that tries to end its literal stays a value.
		{`SELECT count(*) FROM cpu WHERE hostname = $1`, `SELECT count(*) FROM cpu WHERE hostname = 'x'' OR ''1''=''1'`,
			[]any{"x' OR '1'='1"}},
		{`SELECT count(*) FROM cpu WHERE state = $1`, `SELECT count(*) FROM cpu WHERE state = 'it''s "quoted"'`,
			[]any{`it's "quoted"`}},
		// $1 in a string or a comment is not a parameter.
		{`SELECT count(*) FROM cpu WHERE state <> '$1' /* $2 */ AND usage_system < $1`,
			`SELECT count(*) FROM cpu WHERE state <> '$1' AND usage_system < -(-30)`, []any{int64(30)}},
	}
	for _, c := range cases {
		api := e.sqlAPI(t, c.literal, "")
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeSimpleProtocol} {
			fields, rows := pgxRows(t, conn, mode, c.q, c.args...)
			compareResults(t, mode.String(), c.q, api, fields, rows)
		}
	}
	// A named prepared statement, used twice with other values.
	if _, err := conn.Prepare(context.Background(), "by_host", `SELECT count(*) FROM cpu WHERE hostname = $1`); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"host_0", "host_5"} {
		var got int64
		if err := conn.QueryRow(context.Background(), "by_host", h).Scan(&got); err != nil {
			t.Fatal(err)
		}
		want := e.sqlAPI(t, `SELECT count(*) FROM cpu WHERE hostname = '`+h+`'`, "").Rows[0][0]
		if got != want {
			t.Errorf("prepared statement for %s: %d, /api/v1/sql %v", h, got, want)
		}
	}
}

// TestPgxErrorsKeepConnection checks SQLSTATE codes and that the
// connection answers the next query after each error.
func TestPgxErrorsKeepConnection(t *testing.T) {
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	conn, err := pgx.Connect(context.Background(), e.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	cases := []struct{ q, code string }{
		{`SELEC 1`, "42601"},
		{`SELECT * FROM nosuch`, "42P01"},
		{`SELECT nosuch FROM cpu`, "42703"},
		{`INSERT INTO cpu (hostname) VALUES ('x')`, "0A000"},
		{`SELECT usage_system / 0 FROM cpu`, "22012"},
	}
	for _, c := range cases {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			_, err := conn.Exec(context.Background(), c.q, mode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != c.code {
				t.Errorf("%s (%v): error %v, want SQLSTATE %s", c.q, mode, err, c.code)
			}
			var n int64
			if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM cpu`, mode).Scan(&n); err != nil || n == 0 {
				t.Errorf("after %s: count %d, %v", c.q, n, err)
			}
		}
	}
	// Session commands clients send.
	for _, q := range []string{"SET search_path = public", "SET application_name = 'x'", "BEGIN", "COMMIT", "BEGIN READ ONLY", "ROLLBACK", "DISCARD ALL"} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	var v, schema, tz string
	if err := conn.QueryRow(context.Background(), "SELECT version()").Scan(&v); err != nil || !strings.Contains(v, ServerVersion) {
		t.Errorf("version(): %q %v", v, err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT current_schema()").Scan(&schema); err != nil || schema != "public" {
		t.Errorf("current_schema(): %q %v", schema, err)
	}
	if err := conn.QueryRow(context.Background(), "SHOW TimeZone").Scan(&tz); err != nil || tz != "UTC" {
		t.Errorf("SHOW TimeZone: %q %v", tz, err)
	}
	if got := conn.PgConn().ParameterStatus("server_version"); got != ServerVersion {
		t.Errorf("server_version %q", got)
	}
}

// TestPgxCancel cancels a running query through pgx's context: pgx sends
// a CancelRequest on a new connection with the key from BackendKeyData,
// and the query's context on the server is canceled. What ended the query
// is told by its context's cause, not by how soon it ended, so a loaded
// machine cannot fail it: a query the cancel missed runs out its minute's
// hold and ends with no cause.
func TestPgxCancel(t *testing.T) {
	const hold = time.Minute
	d := &delayBackend{hold: hold, started: make(chan struct{}, 1), ended: make(chan error, 1)}
	e := startEnv(t, server.Config{}, func(b Backend) Backend { d.Backend = b; return d })
	loadCPU(t, e, "")
	conn, err := pgx.Connect(context.Background(), e.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-d.started
		cancel()
	}()
	_, err = conn.Exec(ctx, `SELECT count(*) FROM cpu`)
	if err == nil {
		t.Fatal("a canceled query succeeded")
	}
	select {
	case cause := <-d.ended:
		if !errors.Is(cause, errCanceledByClient) {
			t.Errorf("query ended with cause %v, want the client's cancel request", cause)
		}
	case <-time.After(hold + time.Minute): // a hang guard: the hold ends the query anyway
		t.Fatal("the query did not end, canceled or not")
	}
	// The server's answer: 57014, and the session goes on.
	conn2, err := pgx.Connect(context.Background(), e.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(context.Background())
	go func() {
		<-d.started
		_ = conn2.PgConn().CancelRequest(context.Background())
	}()
	_, err = conn2.Exec(context.Background(), `SELECT count(*) FROM cpu`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("canceled query: %v, want SQLSTATE 57014", err)
	}
	d.hold = 0
	var n int64
	if err := conn2.QueryRow(context.Background(), `SELECT count(*) FROM cpu`).Scan(&n); err != nil || n == 0 {
		t.Errorf("after the cancel: %d %v", n, err)
	}
}

// TestInformationSchema asks information_schema.tables and .columns what
// Grafana's query builder and GUIs ask, and compares with SHOW TABLES and
// DESCRIBE.
func TestInformationSchema(t *testing.T) {
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	conn, err := pgx.Connect(context.Background(), e.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	strs := func(q string) []string {
		t.Helper()
		rows, err := conn.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, v := range vals {
				parts = append(parts, fmt.Sprint(v))
			}
			out = append(out, strings.Join(parts, "|"))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	var tables []string
	for _, r := range e.sqlAPI(t, "SHOW TABLES", "").Rows {
		tables = append(tables, r[0].(string))
	}
	got := strs(`SELECT quote_ident(table_name) AS "table" FROM information_schema.tables
		WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog') AND table_type = 'BASE TABLE'
		AND quote_ident(table_schema) IN (SELECT current_schema()) ORDER BY 1`)
	if strings.Join(got, ",") != strings.Join(tables, ",") {
		t.Errorf("information_schema.tables: %v, SHOW TABLES %v", got, tables)
	}
	if got := strs(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'pg_catalog'`); len(got) != 0 {
		t.Errorf("tables in pg_catalog: %v", got)
	}
	pgType := map[string]string{"timestamp": "timestamp with time zone", "string": "text", "float64": "double precision",
		"int64": "bigint", "uint64": "numeric", "bool": "boolean"}
	var want []string
	for i, r := range e.sqlAPI(t, "DESCRIBE cpu", "").Rows {
		name := r[0].(string)
		if name == "time" {
			name = `"time"` // a keyword: PostgreSQL's quote_ident quotes it
		}
		want = append(want, fmt.Sprintf("%s|%s|%d", name, pgType[r[1].(string)], i+1))
	}
	got = strs(`SELECT quote_ident(column_name) AS "column", data_type AS "type", ordinal_position FROM information_schema.columns
		WHERE quote_ident(table_name) = 'cpu' ORDER BY ordinal_position`)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("information_schema.columns of cpu:\n%v\nDESCRIBE cpu:\n%v", got, want)
	}
}
