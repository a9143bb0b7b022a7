package server

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// csvGet sends GET path with Accept: application/csv.
func (s *testServer) csvGet(t *testing.T, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestQueryCSVErrors: with Accept: application/csv every error of /query
// is CSV, as docs/http-api.md shows: an "error" header row and the
// message, with the status of the JSON answer (request-level errors) or
// inside the statement's block (statement errors, status 200).
func TestQueryCSVErrors(t *testing.T) {
	s := startServerWith(t, Config{QueryMaxMemory: 1000, QueryMaxRows: 1000})
	lines := "cpu,host=a v=1 1700000000000000000\ncpu,host=b v=2 1700000000000000000\n"
	for i := range 200 { // 200 more rows of columns pass 1000 bytes
		lines += fmt.Sprintf("big,host=a v=%d %d\n", i, 1700000000000000000+i)
	}
	if code, _, b := s.post(t, "/write?db=d", lines); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	q := func(text string) string { return "/query?db=d&q=" + url.QueryEscape(text) }
	cases := []struct {
		name, path string
		status     int
		records    [][]string // the CSV, blank lines dropped
		msg        string     // in the last record
	}{
		{"syntax", q("SELEKT 1"), 400, nil, "found SELEKT"},
		{"missing q", "/query?db=d", 400, nil, `missing required parameter "q"`},
		{"bad epoch", q("SELECT v FROM cpu") + "&epoch=week", 400, nil, "bad epoch parameter"},
		{"change over GET", q("DROP DATABASE d"), 405, nil, "send it with POST"},
		{"statement", "/query?db=nope&q=" + url.QueryEscape("SELECT v FROM cpu"), 200, nil, "database not found: nope"},
		{"memory limit", q("SELECT * FROM big"), 200, nil, "--query-max-memory"},
		{"one good, one failing", q("SELECT v FROM cpu WHERE host = 'a'; SELECT v FROM nope.autogen.cpu"), 200,
			[][]string{{"name", "tags", "time", "v"}, {"cpu", "", "1700000000000000000", "1"}, {"error"}}, "database not found: nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, ctype, body := s.csvGet(t, c.path)
			if code != c.status || !strings.HasPrefix(ctype, "text/csv") {
				t.Fatalf("%d %s %q, want %d text/csv", code, ctype, body, c.status)
			}
			r := csv.NewReader(strings.NewReader(body))
			r.FieldsPerRecord = -1
			recs, err := r.ReadAll()
			if err != nil {
				t.Fatalf("not CSV: %v\n%s", err, body)
			}
			want := c.records
			if want == nil {
				want = [][]string{{"error"}}
			}
			if len(recs) != len(want)+1 {
				t.Fatalf("records %q, want %q then the message", recs, want)
			}
			for i, w := range want {
				if strings.Join(recs[i], "|") != strings.Join(w, "|") {
					t.Fatalf("record %d = %q, want %q (all: %q)", i, recs[i], w, recs)
				}
			}
			if last := recs[len(recs)-1]; len(last) != 1 || !strings.Contains(last[0], c.msg) {
				t.Fatalf("message %q, want one holding %q", last, c.msg)
			}
		})
	}
}

// TestSQLCSVErrors: /api/v1/sql with format=csv answers its errors in JSON
// ({"error", "code"}, Content-Type application/json) with the error's
// status, as docs/http-api.md says: only answers are CSV.
func TestSQLCSVErrors(t *testing.T) {
	s := startServerWith(t, Config{QueryMaxMemory: 1000, QueryMaxRows: 1000})
	var lines strings.Builder
	for i := range 200 { // 200 rows of columns pass 1000 bytes
		fmt.Fprintf(&lines, "cpu,host=a v=%d %d\n", i, 1700000000000000000+i)
	}
	if code, _, b := s.post(t, "/write?db=d", lines.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	for _, c := range []struct {
		q      string
		status int
		code   string
	}{
		{"SELEKT 1", 400, "syntax"},
		{"SELECT * FROM cpu", 422, "query-memory-limit"},
	} {
		resp, err := http.Get(s.url + "/api/v1/sql?db=d&format=csv&q=" + url.QueryEscape(c.q))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error, Code string }
		if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != c.status || e.Code != c.code ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s %s, want %d JSON with code %s", c.q, resp.StatusCode, resp.Header.Get("Content-Type"), b, c.status, c.code)
		}
	}
}
