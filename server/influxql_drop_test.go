package server

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/influxoracle"
)

// sendQuery sends q to base's /query, by POST (form-encoded, as clients
// send statements that change data) or GET.
func sendQuery(t *testing.T, method, base, db, q string) (int, []byte) {
	t.Helper()
	v := url.Values{"q": {q}}
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = http.Post(base+"/query?"+url.Values{"db": {db}}.Encode(), "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	} else {
		v.Set("db", db)
		resp, err = http.Get(base + "/query?" + v.Encode())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func writeLines(t *testing.T, base, db, lines string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(base+"/write?db="+db+"&precision=ns", "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestInfluxQLDropOracle runs the same drops against InfluxDB 1.6 and
// Silt and compares every answer, and what queries see afterwards.
func TestInfluxQLDropOracle(t *testing.T) {
	infl := influxoracle.Start(t)
	silt := startServer(t, 0)
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	data := oracleData(base)
	tf := "time >= " + strconv.FormatInt(base.UnixMilli(), 10) + "ms"
	for _, u := range []string{infl.URL, silt.url} {
		for _, db := range []string{"dropdb", "keep"} {
			postQuery(t, u, "", `CREATE DATABASE "`+db+`"`)
			if code, b := writeLines(t, u, db, string(data)); code != http.StatusNoContent {
				t.Fatalf("write to %s: %d %s", u, code, b)
			}
		}
	}
	// Later writes: disk again with used as a float (it was an integer),
	// which only a table recreated from scratch accepts.
	var again bytes.Buffer
	for i := range 5 {
		again.WriteString("disk,host=host_9,path=/new used=" + strconv.Itoa(i) + ".5 " + strconv.FormatInt(base.Add(time.Duration(i)*time.Minute).UnixNano(), 10) + "\n")
	}
	steps := []struct {
		method, db, q string
		write         string // lines to write instead of a query
		// unordered: SHOW DATABASES lists by name in Silt, in creation
		// order in InfluxDB (docs/grafana.md).
		unordered bool
	}{
		{method: "POST", db: "dropdb", q: `DROP MEASUREMENT "disk"`},
		{method: "GET", db: "dropdb", q: `SHOW MEASUREMENTS`},
		{method: "GET", db: "dropdb", q: `SELECT * FROM "disk"`},
		{method: "GET", db: "dropdb", q: `SELECT count("used") FROM "disk" WHERE ` + tf},
		{method: "GET", db: "dropdb", q: `SHOW FIELD KEYS`},
		{method: "GET", db: "dropdb", q: `SHOW TAG KEYS`},
		{method: "GET", db: "dropdb", q: `SHOW TAG VALUES WITH KEY = "path"`},
		{method: "GET", db: "dropdb", q: `SELECT count("usage_user") FROM "cpu" WHERE ` + tf + ` GROUP BY "hostname"`},
		{method: "GET", db: "keep", q: `SELECT count("used") FROM "disk" WHERE ` + tf},
		{method: "POST", db: "dropdb", q: `DROP MEASUREMENT "nosuch"`},
		{method: "POST", db: "nosuchdb", q: `DROP MEASUREMENT "cpu"`},
		{method: "POST", db: "dropdb", q: `DROP SERIES FROM "weird"`},
		{method: "GET", db: "dropdb", q: `SHOW MEASUREMENTS`},
		{method: "GET", db: "dropdb", q: `SELECT * FROM "weird"`},
		{method: "POST", db: "dropdb", write: again.String()},
		{method: "GET", db: "dropdb", q: `SHOW MEASUREMENTS`},
		{method: "GET", db: "dropdb", q: `SELECT * FROM "disk"`},
		{method: "GET", db: "dropdb", q: `SHOW FIELD KEYS FROM "disk"`},
		{method: "GET", db: "dropdb", q: `SHOW TAG VALUES FROM "disk" WITH KEY = "path"`},
		{method: "POST", db: "", q: `DROP DATABASE "dropdb"`},
		{method: "GET", db: "", q: `SHOW DATABASES`},
		{method: "GET", db: "dropdb", q: `SELECT * FROM "cpu"`},
		{method: "GET", db: "dropdb", q: `SHOW MEASUREMENTS`},
		{method: "GET", db: "keep", q: `SELECT count("usage_user") FROM "cpu" WHERE ` + tf},
		{method: "POST", db: "", q: `DROP DATABASE "dropdb"`},
		// InfluxDB refuses writes to a missing database; recreate it first.
		{method: "POST", db: "", q: `CREATE DATABASE "dropdb"`},
		{method: "GET", db: "dropdb", q: `SHOW MEASUREMENTS`},
		{method: "POST", db: "dropdb", write: again.String()},
		{method: "GET", db: "dropdb", q: `SELECT * FROM "disk"`},
		{method: "GET", db: "", q: `SHOW DATABASES`, unordered: true},
		{method: "GET", db: "dropdb", q: `SHOW RETENTION POLICIES`},
	}
	for i, st := range steps {
		var wantCode, gotCode int
		var want, got []byte
		if st.write != "" {
			wantCode, want = writeLines(t, infl.URL, st.db, st.write)
			gotCode, got = writeLines(t, silt.url, st.db, st.write)
			if wantCode != gotCode || wantCode != http.StatusNoContent {
				t.Fatalf("step %d write: InfluxDB %d %s, Silt %d %s", i, wantCode, want, gotCode, got)
			}
			continue
		}
		wantCode, want = sendQuery(t, st.method, infl.URL, st.db, st.q)
		gotCode, got = sendQuery(t, st.method, silt.url, st.db, st.q)
		if wantCode != gotCode {
			t.Fatalf("step %d %s %s (db %q): status InfluxDB %d, Silt %d\ninflux: %s\nsilt:   %s", i, st.method, st.q, st.db, wantCode, gotCode, want, got)
		}
		if err := sameJSON(want, got, st.unordered); err != nil {
			t.Fatalf("step %d %s %s (db %q): %v\ninflux: %s\nsilt:   %s", i, st.method, st.q, st.db, err, trunc(want), trunc(got))
		}
	}
}

// TestInfluxQLDropAuth: a read-only token gets 403 for every drop and
// nothing is dropped; a token with the write scope drops.
func TestInfluxQLDropAuth(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens})
	admin := map[string]string{"Authorization": "Token a-secret"}
	if code, _, b := s.post(t, "/write?db=d", "m v=1 1\nm v=2 2\nn v=3 3", "Authorization", "Token w-secret"); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	form := "application/x-www-form-urlencoded"
	for _, q := range []string{`DROP MEASUREMENT m`, `DROP DATABASE d`, `SHOW DATABASES; DROP SERIES FROM m`, `DELETE FROM m`} {
		for name, hdr := range map[string]map[string]string{
			"Token":      {"Authorization": "Token r-secret"},
			"Basic":      {"Authorization": basic("reader", "r-secret")},
			"no scope":   {"Authorization": "Bearer nope"},
			"no headers": nil,
		} {
			code, b := s.do(t, authReq{method: "POST", path: "/query?db=d", ctype: form, body: url.Values{"q": {q}}.Encode(), header: hdr})
			if code != http.StatusForbidden && code != http.StatusUnauthorized {
				t.Errorf("%s as %s: %d %s", q, name, code, b)
			}
		}
	}
	if n := countRows(t, s, "d", "m"); n != 2 {
		t.Fatalf("after refused drops m has %v rows, want 2", n)
	}
	// Dropping needs the admin scope: the write-only token may not.
	code, b := s.do(t, authReq{method: "POST", path: "/query?db=d", ctype: form, body: url.Values{"q": {`DROP MEASUREMENT m`}}.Encode(),
		header: map[string]string{"Authorization": "Token w-secret"}})
	if code != http.StatusForbidden || !strings.Contains(string(b), "admin scope") {
		t.Fatalf("drop by the writer: %d %s", code, b)
	}
	code, b = s.do(t, authReq{method: "POST", path: "/query?db=d", ctype: form, body: url.Values{"q": {`DROP MEASUREMENT m`}}.Encode(), header: admin})
	if code != 200 || strings.Contains(string(b), "error") {
		t.Fatalf("drop by the admin: %d %s", code, b)
	}
	if n := countRows(t, s, "d", "m"); n != 0 {
		t.Fatalf("after the drop m has %v rows", n)
	}
	if n := countRows(t, s, "d", "n"); n != 1 {
		t.Fatalf("n lost rows: %v", n)
	}
	code, b = s.do(t, authReq{method: "POST", path: "/query", ctype: form, body: url.Values{"q": {`DROP DATABASE d; SHOW DATABASES`}}.Encode(), header: admin})
	if code != 200 || !strings.Contains(string(b), `"columns":["name"]}`) {
		t.Fatalf("drop database: %d %s", code, b)
	}
	// A write recreates it (Silt creates databases on write).
	if code, _, b := s.post(t, "/write?db=d", "m v=7 7", "Authorization", "Token w-secret"); code != 204 {
		t.Fatalf("write after drop: %d %s", code, b)
	}
	if n := countRows(t, s, "d", "m"); n != 1 {
		t.Fatalf("after recreating: %v rows", n)
	}
}

// TestDropHTTP: DELETE /api/v1/databases drops a table or a database;
// read-only and write-only tokens get 403 and nothing goes; admin drops.
func TestDropHTTP(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens})
	if code, _, b := s.post(t, "/write?db=d", "m v=1 1\nm v=2 2\nn v=3 3", "Authorization", "Token w-secret"); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	del := func(path, tok string) (int, string) {
		code, b := s.do(t, authReq{method: "DELETE", path: path, header: map[string]string{"Authorization": "Token " + tok}})
		return code, string(b)
	}
	for _, p := range []string{"/api/v1/databases?db=d&table=m", "/api/v1/databases?db=d"} {
		for _, tok := range []string{"r-secret", "w-secret", "rw-secret"} {
			if code, b := del(p, tok); code != http.StatusForbidden || !strings.Contains(b, "insufficient-scope") {
				t.Fatalf("DELETE %s as %s: %d %s", p, tok, code, b)
			}
		}
	}
	if n := countRows(t, s, "d", "m"); n != 2 {
		t.Fatalf("after refused drops: %v rows", n)
	}
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/api/v1/databases", 400, "missing-db"},
		{"/api/v1/databases?db=nodb", 404, "db-not-found"},
		{"/api/v1/databases?db=d&table=nosuch", 404, "table-not-found"},
		{"/api/v1/databases?db=d&table=m", 200, `"dropped_table":"m"`},
		{"/api/v1/databases?db=d&table=m", 404, "table-not-found"},
	} {
		if code, b := del(c.path, "a-secret"); code != c.code || !strings.Contains(b, c.want) {
			t.Fatalf("DELETE %s: %d %s, want %d %s", c.path, code, b, c.code, c.want)
		}
	}
	if n := countRows(t, s, "d", "m"); n != 0 {
		t.Fatalf("m after DELETE: %v rows", n)
	}
	if n := countRows(t, s, "d", "n"); n != 1 {
		t.Fatalf("n after dropping m: %v rows", n)
	}
	if code, b := del("/api/v1/databases?db=d", "a-secret"); code != 200 {
		t.Fatalf("DELETE database: %d %s", code, b)
	}
	code, b := s.do(t, authReq{method: "GET", path: "/api/v1/databases", header: map[string]string{"Authorization": "Token r-secret"}})
	if code != 200 || strings.Contains(string(b), `"d"`) {
		t.Fatalf("databases after DELETE: %d %s", code, b)
	}
}
