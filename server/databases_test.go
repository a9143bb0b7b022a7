package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// POST /api/v1/databases creates a database with a retention; rows older
// than it are invisible to SQL at once.
func TestCreateDatabaseRetention(t *testing.T) {
	s := startServer(t, 0)
	f := func(body string, wantStatus int, want string) {
		t.Helper()
		st, _, b := s.post(t, "/api/v1/databases", body, "Content-Type", "application/json")
		if st != wantStatus || !strings.Contains(string(b), want) {
			t.Fatalf("POST %s: %d %s, want %d containing %s", body, st, b, wantStatus, want)
		}
	}
	f(`{"name":"db","retention":"2d"}`, 200, `"retention":"48h0m0s"`)
	f(`{"name":"db2"}`, 200, `"retention_is_default":true`)
	f(`{"name":"db3","retention":"inf"}`, 200, `"retention":"inf"`)
	f(`{"retention":"2d"}`, 400, `"code":"missing-name"`)
	f(`{"name":"db","retention":"soon"}`, 400, `"code":"bad-retention"`)
	f(`{"name":"db","retention":-1}`, 400, `"code":"bad-json"`)

	_, b := s.get(t, "/api/v1/databases")
	var dbs struct{ Databases []string }
	if err := json.Unmarshal(b, &dbs); err != nil || fmt.Sprint(dbs.Databases) != "[db db2 db3]" {
		t.Fatalf("databases: %s %v", b, err)
	}
	now := time.Now()
	lp := fmt.Sprintf("cpu,host=a v=1 %d\ncpu,host=a v=2 %d\n", now.Add(-72*time.Hour).UnixNano(), now.Add(-time.Hour).UnixNano())
	if st, _, b := s.post(t, "/write?db=db", lp); st != 204 {
		t.Fatalf("write: %d %s", st, b)
	}
	_, b = s.get(t, "/api/v1/sql?db=db&q=SELECT+count(*)+AS+n+FROM+cpu")
	if !strings.Contains(string(b), `"rows":[[1]]`) {
		t.Fatalf("count over a 2d retention: %s, want 1 row visible", b)
	}
}
