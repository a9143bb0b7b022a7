package pgwire

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/siltdb/silt/server"
)

// nodePg installs node's pg client (major version 8, from npm) into the
// user's cache directory once, and returns the node_modules directory to
// put on NODE_PATH. Like the other clients it is skipped under -short or
// when node, npm or the registry is missing, and fails under CI=true.
func nodePg(t *testing.T) string {
	t.Helper()
	needClient(t, "node", "--version")
	npm := needClient(t, "npm", "--version")
	dir := filepath.Join(t.TempDir(), "node-pg")
	if cache, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(cache, "silt-tests", "node-pg8")
	}
	mods := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(mods, "pg", "package.json")); err == nil {
		return mods
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "--loglevel=error", "pg@8")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("npm install pg@8 is required in CI: %v\n%s", err, out)
		}
		t.Skipf("npm install pg@8: %v\n%s", err, out)
	}
	return mods
}

// TestNodePg runs node's pg client (SCRAM login with a token, a simple
// query, a parameterized query through the extended protocol, bad
// queries with their SQLSTATE, a wrong password) and compares its answers
// with /api/v1/sql's.
func TestNodePg(t *testing.T) {
	mods := nodePg(t)
	e := startEnv(t, server.Config{Tokens: []server.Token{{Name: "rw", Secret: "node-secret", Read: true, Write: true}}}, nil)
	loadCPU(t, e, "node-secret")
	type nodeQuery struct {
		sql     string
		params  []any
		literal string // the same query for /api/v1/sql
		code    string // the SQLSTATE of a bad query
	}
	queries := []nodeQuery{
		{sql: comparedQueries[0]},
		{sql: comparedQueries[2]},
		{sql: `SELECT time, hostname, usage_user, cores, ok FROM cpu WHERE hostname = $1 AND usage_system > $2 ORDER BY time`,
			params:  []any{"host_3", 20},
			literal: `SELECT time, hostname, usage_user, cores, ok FROM cpu WHERE hostname = 'host_3' AND usage_system > 20 ORDER BY time`},
		{sql: `SELECT nope FROM cpu`, code: "42703"},
		{sql: `SELECT count(*) FROM cpu WHERE hostname = $1 AND`, params: []any{"host_1"}, code: "42601"},
		{sql: `SELECT * FROM no_such_table`, code: "42P01"},
	}
	host, port, _ := strings.Cut(e.pg, ":")
	portN, _ := strconv.Atoi(port)
	req := map[string]any{
		"conn":        map[string]any{"host": host, "port": portN, "user": "node", "password": "node-secret", "database": testDB},
		"badPassword": "not-a-token",
	}
	var qs [][]any
	for _, q := range queries {
		qs = append(qs, []any{q.sql, q.params})
	}
	req["queries"] = qs
	in, _ := json.Marshal(req)
	cmd := exec.Command("node", "testdata/node_pg_client.js")
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node pg client: %v\n%s", err, stderr.String())
	}
	var got struct {
		Queries []struct {
			Columns []string
			OIDs    []uint32
			Rows    [][]*string
			Error   string
			Code    string
		}
		After       string // int8 arrives as a string with pg's default parsers
		BadPassword struct{ Error, Code string }
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if len(got.Queries) != len(queries) {
		t.Fatalf("node pg answered %d queries of %d: %s", len(got.Queries), len(queries), raw)
	}
	for i, q := range queries {
		g := got.Queries[i]
		if q.code != "" {
			if g.Code != q.code || g.Error == "" {
				t.Errorf("%s: want SQLSTATE %s, got %q %q", q.sql, q.code, g.Code, g.Error)
			}
			continue
		}
		if g.Error != "" {
			t.Errorf("%s: %s (%s)", q.sql, g.Error, g.Code)
			continue
		}
		lit := q.literal
		if lit == "" {
			lit = q.sql
		}
		api := e.sqlAPI(t, lit, "node-secret")
		if len(api.Rows) == 0 || len(g.Rows) != len(api.Rows) || len(g.Columns) != len(api.Columns) {
			t.Fatalf("%s: node pg %d rows × %d columns, /api/v1/sql %d × %d", q.sql, len(g.Rows), len(g.Columns), len(api.Rows), len(api.Columns))
		}
		for c, col := range api.Columns {
			if g.Columns[c] != col.Name || g.OIDs[c] != wantOID[col.Type] {
				t.Errorf("%s: column %d %s OID %d, want %s %s", q.sql, c, g.Columns[c], g.OIDs[c], col.Name, col.Type)
			}
		}
		for r := range g.Rows {
			for c, v := range g.Rows[r] {
				s := "<NULL>"
				if v != nil {
					s = *v
				}
				if pv := parsePsqlValue(t, api.Columns[c].Type, s); !sameValue(pv, api.Rows[r][c]) {
					t.Errorf("%s: row %d column %s: node pg %q, /api/v1/sql %v", q.sql, r, api.Columns[c].Name, s, api.Rows[r][c])
				}
			}
		}
	}
	if got.After != "1" {
		t.Errorf("the session after the errors answered %q to SELECT 1", got.After)
	}
	if got.BadPassword.Code != "28P01" {
		t.Errorf("wrong password: want SQLSTATE 28P01, got %+v", got.BadPassword)
	}
}
