package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestConsoleRoutes: the console's page and assets are served (without a
// token when auth is on) with the headers that keep the page to its own
// scripts; anything else under /console/ and other methods are refused
// with the JSON error shape; the API still needs a token.
func TestConsoleRoutes(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens})
	req := func(method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		r, err := http.NewRequest(method, s.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for path, want := range map[string]string{
		"/":                   "text/html; charset=utf-8",
		"/console/app.js":     "text/javascript; charset=utf-8",
		"/console/chart.js":   "text/javascript; charset=utf-8",
		"/console/app.css":    "text/css; charset=utf-8",
		"/console/index.html": "text/html; charset=utf-8",
	} {
		resp, body := req("GET", path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want || len(body) == 0 {
			t.Fatalf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: CSP %q", path, csp)
		}
	}
	_, page := req("GET", "/")
	if !strings.Contains(string(page), `<script src="/console/app.js"`) {
		t.Fatalf("the page does not load its script: %.200s", page)
	}
	if resp, body := req("HEAD", "/"); resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("HEAD /: %d, %d bytes", resp.StatusCode, len(body))
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/console/", 404}, {"GET", "/console/nope.js", 404}, {"GET", "/console/.hidden", 404},
		{"GET", "/console/a/b.js", 404}, {"GET", "/consolex", 401}, {"POST", "/", 401},
		{"DELETE", "/console/app.js", 401}, {"POST", "/?p=r-secret", 405},
	} {
		resp, body := req(c.method, c.path)
		var e ErrorBody
		if resp.StatusCode != c.status || json.Unmarshal(body, &e) != nil || e.Error == "" || e.Code == "" {
			t.Fatalf("%s %s: %d %s, want %d with the JSON error shape", c.method, c.path, resp.StatusCode, body, c.status)
		}
	}
	// The API needs a token; the console's calls get a Bearer challenge
	// (no browser password dialog), other clients Basic as before.
	resp, _ := req("GET", "/api/v1/databases", "X-Requested-With", "XMLHttpRequest")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("console call without a token: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, _ = req("GET", "/api/v1/databases")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("call without a token: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestSQLErrorPosition: a query that does not compile is answered with
// where in its text the parser stopped (1-based bytes, as PostgreSQL's).
func TestSQLErrorPosition(t *testing.T) {
	s := startServer(t, 0)
	if code, _, body := s.post(t, "/write?db=d", "cpu,host=a v=1 1700000000000000000"); code != 204 {
		t.Fatalf("write: %d %s", code, body)
	}
	for _, c := range []struct {
		sql  string
		pos  int
		code string
	}{
		{"SELECT * FROM cpu WHER x = 1", 24, "syntax"},
		{"SELECT é, * FROM cpu WHER x = 1", 28, "syntax"}, // bytes, not characters
		{"SELECT v FROM cpu WHERE", 24, "syntax"},         // at the end of the input: one past it
	} {
		code, _, body := s.post(t, "/api/v1/sql?db=d", c.sql)
		var e struct {
			Error, Code string
			Position    int
		}
		if err := json.Unmarshal(body, &e); err != nil || code != 400 || e.Code != c.code || e.Position != c.pos {
			t.Fatalf("%q: %d %s, want 400 %s at %d", c.sql, code, body, c.code, c.pos)
		}
	}
}
