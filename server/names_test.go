package server

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestBadNamesRefused sends names that once crashed the server (invalid
// UTF-8 reached a metrics label after the WAL fsync) or wedged every flush
// (a name that escapes to more than a file name may hold) to every endpoint
// that takes one: each answers 400 with a stable code, and the server keeps
// writing and flushing other databases.
func TestBadNamesRefused(t *testing.T) {
	s := startServer(t, 0)
	slashes := url.QueryEscape(strings.Repeat("/", 100)) // 100 bytes, 300 once escaped on disk
	for _, c := range []struct {
		path, body, code string
	}{
		{"/write?db=%FF%FE", "cpu v=1", "bad-db-name"},
		{"/api/v1/ingest?db=%FF%FE", `{"table":"cpu","v":1}`, "bad-db-name"},
		{"/api/v2/write?bucket=%FF%FE&org=o", "cpu v=1", "bad-db-name"},
		{"/write?db=" + slashes, "cpu v=1", "bad-db-name"},
		{"/api/v2/write?bucket=" + slashes + "&org=o", "cpu v=1", "bad-db-name"},
		{"/api/v1/ingest?db=" + slashes, `{"table":"cpu","v":1}`, "bad-db-name"},
		{"/write?db=a%00b", "cpu v=1", "bad-db-name"},
		{"/api/v1/ingest?db=ok&table=%FF", `{"v":1}`, "bad-table-name"},
		{"/api/v1/databases?name=%FF%FE", "", "bad-db-name"},
		{"/api/v1/databases?name=" + slashes, "", "bad-db-name"},
		// A measurement is a table name: the line is rejected, the request
		// answers 400 and nothing of it is stored.
		{"/write?db=ok", "\xff\xfe v=1", "lp-invalid-utf8"}, // the decoder checks first
		{"/write?db=ok", strings.Repeat(`\/`, 100) + " v=1", "bad-table-name"},
	} {
		code, _, b := s.post(t, c.path, c.body)
		var e ErrorBody
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("%s: %d %q is not an error body: %v", c.path, code, b, err)
			continue
		}
		if code != 400 || e.Code != c.code || e.Error == "" {
			t.Errorf("%s %q: %d %s, want 400 %s", c.path, c.body, code, b, c.code)
		}
	}
	// InfluxQL answers a statement's error inside the results, as InfluxDB.
	// (POST: GET /query runs only SELECT and SHOW.)
	code, _, b := s.post(t, "/query?q="+url.QueryEscape(`CREATE DATABASE "`+strings.Repeat("/", 100)+`"`), "")
	if code != 200 || !strings.Contains(string(b), "bad name") {
		t.Errorf("CREATE DATABASE of 100 '/': %d %s, want a statement error naming the bad name", code, b)
	}

	// The server is up, other writes are taken and flushed.
	if code, _, b := s.post(t, "/write?db=ok", "cpu v=1 1700000000000000000"); code != 204 {
		t.Fatalf("write after bad names: %d %s", code, b)
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatalf("flush after bad names: %v", err)
	}
	if dbs := s.eng.Databases(); !slices.Equal(dbs, []string{"ok"}) {
		t.Errorf("databases = %q, want only ok", dbs)
	}
	if code, b := s.get(t, "/ping"); code != 204 {
		t.Errorf("ping: %d %s", code, b)
	}
}
