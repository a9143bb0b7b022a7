package pgwire

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/server"
)

// These tests run real PostgreSQL clients as child processes: Debian's
// psql and Python's psycopg2 (python3-psycopg2, python3-pandas). They are
// skipped under -short, and when the client is missing outside CI; with
// CI=true a missing client fails the test (.ci/run installs them).

func needClient(t *testing.T, name string, check ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a PostgreSQL client process; skipped with -short")
	}
	path, err := exec.LookPath(name)
	if err == nil && len(check) > 0 {
		err = exec.Command(path, check...).Run()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s not available: %v", name, err)
	}
	return path
}

// psql runs psql with args against e and returns its output.
func (e *testEnv) psql(t *testing.T, bin, password string, args ...string) (string, error) {
	t.Helper()
	host, port, _ := strings.Cut(e.pg, ":")
	cmd := exec.Command(bin, append([]string{"-X", "-h", host, "-p", port, "-U", "tester", "-d", testDB, "-v", "ON_ERROR_STOP=1"}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10", "PGSSLMODE=prefer")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return out.String() + stderr.String(), fmt.Errorf("psql %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	if stderr.Len() > 0 && !strings.Contains(strings.Join(args, " "), "-t") {
		return out.String() + stderr.String(), nil // psql's notes ("Did not find any relations.")
	}
	return out.String(), nil
}

// parsePsqlValue reads one value of psql's unaligned output as the Go
// type of /api/v1/sql's values.
func parsePsqlValue(t *testing.T, typ, s string) any {
	t.Helper()
	if s == "<NULL>" {
		return nil
	}
	var v any
	var err error
	switch typ {
	case query.TypeTimestamp:
		v, err = time.Parse("2006-01-02 15:04:05.999999999-07", s)
	case query.TypeFloat:
		v, err = strconv.ParseFloat(s, 64)
	case query.TypeInteger:
		v, err = strconv.ParseInt(s, 10, 64)
	case query.TypeUnsigned:
		v, err = strconv.ParseUint(s, 10, 64)
	case query.TypeBoolean:
		v, err = s == "t", nil
		if s != "t" && s != "f" {
			err = fmt.Errorf("not a bool")
		}
	default:
		v = s
	}
	if err != nil {
		t.Fatalf("psql value %q as %s: %v", s, typ, err)
	}
	return v
}

// TestPsql runs Debian's psql: queries in unaligned tuples-only output
// compared with /api/v1/sql, several statements in one -c, and the
// catalog commands \dt, \d cpu and \l.
func TestPsql(t *testing.T) {
	bin := needClient(t, "psql", "--version")
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	for _, q := range comparedQueries {
		api := e.sqlAPI(t, q, "")
		out, err := e.psql(t, bin, "", "-A", "-t", "-F", "|", "-P", "null=<NULL>", "-c", q)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(api.Rows) {
			t.Fatalf("%s: psql printed %d rows, /api/v1/sql has %d:\n%s", q, len(lines), len(api.Rows), out)
		}
		for r, line := range lines {
			vals := strings.Split(line, "|")
			if len(vals) != len(api.Columns) {
				t.Fatalf("%s: row %d has %d values: %q", q, r, len(vals), line)
			}
			for c, s := range vals {
				if got := parsePsqlValue(t, api.Columns[c].Type, s); !sameValue(got, api.Rows[r][c]) {
					t.Errorf("%s: row %d column %s: psql %q, /api/v1/sql %v", q, r, api.Columns[c].Name, s, api.Rows[r][c])
				}
			}
		}
	}
	// Several statements in one string: one result each.
	out, err := e.psql(t, bin, "", "-A", "-t", "-c", "SELECT count(*) FROM cpu; SELECT count(*) FROM mem")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%v\n%v\n", e.sqlAPI(t, "SELECT count(*) FROM cpu", "").Rows[0][0], e.sqlAPI(t, "SELECT count(*) FROM mem", "").Rows[0][0])
	if out != want {
		t.Errorf("two statements: %q, want %q", out, want)
	}
	// An error names the position; psql exits 1 and the listener goes on.
	if out, err := e.psql(t, bin, "", "-c", "SELECT nosuch FROM cpu"); err == nil || !strings.Contains(out, `column "nosuch" does not exist`) {
		t.Errorf("bad column: %v %s", err, out)
	}

	// \dt lists the tables of SHOW TABLES.
	out, err = e.psql(t, bin, "", "-A", "-t", "-c", `\dt`)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 3 || f[0] != "public" || f[2] != "table" {
			t.Fatalf(`\dt line %q`, line)
		}
		listed = append(listed, f[1])
	}
	var tables []string
	for _, r := range e.sqlAPI(t, "SHOW TABLES", "").Rows {
		tables = append(tables, r[0].(string))
	}
	if strings.Join(listed, ",") != strings.Join(tables, ",") {
		t.Errorf(`\dt lists %v, SHOW TABLES %v`, listed, tables)
	}
	// \dt with a pattern, and a kind Silt has none of.
	if out, err := e.psql(t, bin, "", "-A", "-t", "-c", `\dt me*`); err != nil || strings.TrimSpace(out) != "public|mem|table|silt" {
		t.Errorf(`\dt me*: %q %v`, out, err)
	}
	if out, err := e.psql(t, bin, "", "-c", `\dv`); err != nil || !strings.Contains(out, "Did not find any relations") {
		t.Errorf(`\dv: %q %v`, out, err)
	}

	// \d cpu: every column of DESCRIBE cpu, in its order, with its type.
	out, err = e.psql(t, bin, "", "-A", "-t", "-c", `\d cpu`)
	if err != nil {
		t.Fatal(err)
	}
	desc := e.sqlAPI(t, "DESCRIBE cpu", "")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < len(desc.Rows) {
		t.Fatalf(`\d cpu printed %q; DESCRIBE cpu has %d columns`, out, len(desc.Rows))
	}
	pgType := map[string]string{"timestamp": "timestamp with time zone", "string": "text", "float64": "double precision",
		"int64": "bigint", "uint64": "numeric", "bool": "boolean"}
	for i, r := range desc.Rows {
		f := strings.Split(lines[i], "|")
		if f[0] != r[0] || f[1] != pgType[r[1].(string)] {
			t.Errorf(`\d cpu line %q; DESCRIBE cpu has %v`, lines[i], r)
		}
	}
	if out, err := e.psql(t, bin, "", "-c", `\d nosuch`); err == nil || !strings.Contains(out, "Did not find any relation") {
		t.Errorf(`\d nosuch: %q %v`, out, err)
	}
	// \copy of a query to stdout as CSV with a header (COPY ... TO
	// STDOUT): the rows of /api/v1/sql.
	q := `SELECT time, hostname, usage_iowait, state FROM cpu WHERE hostname = 'host_1' ORDER BY time`
	out, err = e.psql(t, bin, "", "-c", `\copy (`+q+`) to stdout with csv header`)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("\\copy output %q: %v", out, err)
	}
	api := e.sqlAPI(t, q, "")
	if len(recs) != len(api.Rows)+1 || strings.Join(recs[0], ",") != "time,hostname,usage_iowait,state" {
		t.Fatalf("\\copy: %d records (header %v), /api/v1/sql %d rows", len(recs), recs[0], len(api.Rows))
	}
	for r, rec := range recs[1:] {
		for c, s := range rec {
			if s == "" {
				s = "<NULL>"
			}
			if got := parsePsqlValue(t, api.Columns[c].Type, s); !sameValue(got, api.Rows[r][c]) {
				t.Errorf("\\copy row %d column %d: %q, /api/v1/sql %v", r, c, s, api.Rows[r][c])
			}
		}
	}
	// \l lists the databases.
	if out, err := e.psql(t, bin, "", "-A", "-t", "-c", `\l`); err != nil || !strings.HasPrefix(out, testDB+"|") {
		t.Errorf(`\l: %q %v`, out, err)
	}
}

// scramCounter counts the logins checked by SCRAM and by cleartext.
type scramCounter struct {
	Backend
	scram, cleartext atomic.Int32
}

func (b *scramCounter) AuthenticateMatch(match func(string) bool) (string, error) {
	b.scram.Add(1)
	return b.Backend.AuthenticateMatch(match)
}

func (b *scramCounter) Authenticate(secret string) (string, error) {
	b.cleartext.Add(1)
	return b.Backend.Authenticate(secret)
}

// TestPsqlAuth checks that with tokens configured the password is a
// token with the read scope, checked by SCRAM-SHA-256 (no TLS here).
func TestPsqlAuth(t *testing.T) {
	bin := needClient(t, "psql", "--version")
	var counter *scramCounter
	e := startEnv(t, server.Config{Tokens: []server.Token{
		{Name: "reader", Secret: "r-secret", Read: true}, {Name: "writer", Secret: "w-secret", Write: true}}},
		func(be Backend) Backend { counter = &scramCounter{Backend: be}; return counter })
	e.write(t, cpuLines(1, 3), "w-secret")
	want := e.sqlAPI(t, "SELECT count(*) FROM cpu", "r-secret").Rows[0][0]
	out, err := e.psql(t, bin, "r-secret", "-A", "-t", "-c", "SELECT count(*) FROM cpu")
	if err != nil || strings.TrimSpace(out) != fmt.Sprint(want) {
		t.Errorf("with the read token: %q %v", out, err)
	}
	for _, pw := range []string{"wrong", "w-secret", ""} {
		out, err := e.psql(t, bin, pw, "-w", "-c", "SELECT 1")
		if err == nil || !strings.Contains(out, "password authentication failed") && !strings.Contains(out, "no password supplied") {
			t.Errorf("password %q: %q %v", pw, out, err)
		}
	}
	// Three SCRAM exchanges reached the proof ("-w" with no password
	// stops before it); no token crossed the wire in cleartext.
	if n, c := counter.scram.Load(), counter.cleartext.Load(); n != 3 || c != 0 {
		t.Errorf("SCRAM checks %d (want 3), cleartext %d (want 0)", n, c)
	}
}

// TestPsycopg2 runs Python's psycopg2 (client-side parameters in the
// simple protocol, a transaction around the queries) and pandas'
// read_sql, compared with /api/v1/sql.
func TestPsycopg2(t *testing.T) {
	py := needClient(t, "/usr/bin/python3", "-c", "import psycopg2, pandas")
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	type pyQuery struct {
		sql     string
		params  []any
		literal string // the same query for /api/v1/sql
	}
	queries := []pyQuery{
		{sql: comparedQueries[0]},
		{sql: comparedQueries[2]},
		{sql: `SELECT time, hostname, usage_user, cores FROM cpu WHERE hostname = %s AND usage_system > %s ORDER BY time`,
			params:  []any{"host_3", 20},
			literal: `SELECT time, hostname, usage_user, cores FROM cpu WHERE hostname = 'host_3' AND usage_system > 20 ORDER BY time`},
	}
	type request struct {
		DSN     string  `json:"dsn"`
		Queries [][]any `json:"queries"`
		Pandas  string  `json:"pandas"`
	}
	req := request{DSN: e.dsn(""), Pandas: comparedQueries[0]}
	for _, q := range queries {
		req.Queries = append(req.Queries, []any{q.sql, q.params})
	}
	in, _ := json.Marshal(req)
	cmd := exec.Command(py, "testdata/psycopg2_client.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("psycopg2 client: %v\n%s", err, stderr.String())
	}
	var got struct {
		Queries []struct {
			Columns []string
			OIDs    []uint32
			Rows    [][]any
		}
		Pandas struct {
			Columns []string
			Dtypes  []string
			Rows    int
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	for i, q := range queries {
		lit := q.literal
		if lit == "" {
			lit = q.sql
		}
		api := e.sqlAPI(t, lit, "")
		g := got.Queries[i]
		if len(g.Rows) != len(api.Rows) || len(g.Columns) != len(api.Columns) {
			t.Fatalf("%s: psycopg2 %d rows × %d columns, /api/v1/sql %d × %d", q.sql, len(g.Rows), len(g.Columns), len(api.Rows), len(api.Columns))
		}
		for c, col := range api.Columns {
			if g.Columns[c] != col.Name || g.OIDs[c] != wantOID[col.Type] {
				t.Errorf("%s: column %d %s OID %d, want %s %s", q.sql, c, g.Columns[c], g.OIDs[c], col.Name, col.Type)
			}
		}
		for r := range g.Rows {
			for c, v := range g.Rows[r] {
				if pv := pythonValue(t, api.Columns[c].Type, v); !sameValue(pv, api.Rows[r][c]) {
					t.Errorf("%s: row %d column %s: psycopg2 %v, /api/v1/sql %v", q.sql, r, api.Columns[c].Name, v, api.Rows[r][c])
				}
			}
		}
	}
	api := e.sqlAPI(t, comparedQueries[0], "")
	if got.Pandas.Rows != len(api.Rows) || len(got.Pandas.Columns) != len(api.Columns) {
		t.Errorf("pandas read_sql: %+v; /api/v1/sql has %d rows", got.Pandas, len(api.Rows))
	}
	for c, col := range api.Columns {
		if col.Type == query.TypeFloat && got.Pandas.Dtypes[c] != "float64" || col.Type == query.TypeTimestamp && !strings.HasPrefix(got.Pandas.Dtypes[c], "datetime64") {
			t.Errorf("pandas column %s has dtype %s", col.Name, got.Pandas.Dtypes[c])
		}
	}
}

// pythonValue reads a value of the Python client's JSON as the Go type of
// /api/v1/sql's values.
func pythonValue(t *testing.T, typ string, v any) any {
	t.Helper()
	if v == nil {
		return nil
	}
	switch typ {
	case query.TypeTimestamp:
		ts, err := time.Parse(time.RFC3339Nano, v.(string))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	case query.TypeInteger:
		return int64(v.(float64))
	case query.TypeUnsigned:
		u, err := strconv.ParseUint(v.(string), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	return v
}

// psql shows EXPLAIN ANALYZE as PostgreSQL's: one QUERY PLAN column, a
// row per line, with the counters /api/v1/sql reports for the query.
func TestPsqlExplain(t *testing.T) {
	bin := needClient(t, "psql", "--version")
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	const q = "SELECT hostname, percentile_disc(0.5) WITHIN GROUP (ORDER BY usage_user) FROM cpu WHERE hostname = 'host_1' OR hostname = 'host_2' GROUP BY hostname"
	api := e.sqlAPI(t, q, "")
	out, err := e.psql(t, bin, "", "-c", "EXPLAIN ANALYZE "+q)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if strings.TrimSpace(lines[0]) != "QUERY PLAN" {
		t.Fatalf("psql's header is %q, want QUERY PLAN:\n%s", lines[0], out)
	}
	if !strings.Contains(out, "Tag Index: hostname IN ('host_1', 'host_2')") {
		t.Errorf("no tag index line:\n%s", out)
	}
	want := fmt.Sprintf("Rows Scanned: %d", api.Stats.RowsScanned)
	if api.Stats.RowsScanned == 0 || !strings.Contains(out, want) {
		t.Errorf("want %q (the query's stats):\n%s", want, out)
	}
}
