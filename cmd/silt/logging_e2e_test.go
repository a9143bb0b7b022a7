package main

import (
	"bufio"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// silt serve --log-format json --access-log: every line of the process's
// log is one JSON object (start-up, the secret warning, access lines,
// shutdown), the access lines have their fields, and no line holds the
// token, though it is on the command line and in the requests' headers, p
// parameters and form bodies.
func TestJSONLogsE2E(t *testing.T) {
	skipShort(t)
	const secret = "Js0n-Log-Secret-4e1c"
	h := newHarness(t)
	p := h.spawn(filepath.Join(h.dir, "data"), "--log-format", "json", "--access-log", "--auth-token", "ops:"+secret+":admin")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if code, _ := p.doAuth("GET", "/ready", "Token "+secret, ""); code == 200 {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("silt did not become ready:\n%s", tailLines(p.log(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
	requests := []struct {
		method, path, auth, body string
		status                   int
	}{
		{"POST", "/write?db=logs", "Token " + secret, "cpu,host=a v=1 1700000000000000000\n", 204},
		{"POST", "/write?db=logs&u=x&p=" + secret, "", "cpu,host=b v=2 1700000000000000000\n", 204},
		{"GET", "/query?db=logs&p=" + secret + "&q=" + url.QueryEscape("SELECT * FROM cpu"), "", "", 200},
		{"GET", "/api/v1/sql?db=logs&q=" + url.QueryEscape("SELECT count(*) FROM cpu"), "Bearer " + secret, "", 200},
		{"GET", "/api/v1/export?db=logs", "Token " + secret, "", 200},
		{"GET", "/api/v1/tables?db=logs", "Token not-" + secret, "", 401},
	}
	for _, r := range requests {
		if code, body := p.doAuth(r.method, r.path, r.auth, r.body); code != r.status {
			t.Fatalf("%s %s: %d %s", r.method, r.path, code, body)
		}
	}
	if code := p.term(); code != 0 {
		t.Fatalf("silt exited %d", code)
	}
	raw := p.log()
	if strings.Contains(raw, secret) {
		t.Fatalf("the log holds the token:\n%s", raw)
	}
	paths := map[string]int{}
	msgs := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON (%v): %s", err, sc.Text())
		}
		if m["time"] == nil || m["level"] == nil || m["msg"] == nil {
			t.Errorf("log line without time, level or msg: %s", sc.Text())
		}
		msg, _ := m["msg"].(string)
		msgs[msg] = true
		if msg != "request" {
			continue
		}
		for _, k := range []string{"method", "path", "status", "bytes", "duration_ms", "client", "db", "request_id"} {
			if m[k] == nil {
				t.Errorf("access line without %s: %s", k, sc.Text())
			}
		}
		paths[m["path"].(string)]++
	}
	for _, r := range requests {
		path, _, _ := strings.Cut(r.path, "?")
		if paths[path] == 0 {
			t.Errorf("no access line for %s", path)
		}
	}
	if !msgs["silt ready"] || !msgs["stopped cleanly"] {
		t.Errorf("start-up or shutdown lines missing: %v", msgs)
	}
	if !strings.Contains(raw, "a secret is on the command line") {
		t.Error("the command-line secret warning is missing")
	}
}
