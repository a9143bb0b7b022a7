package server

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func doRequest(t *testing.T, method, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// A client's X-Request-Id is echoed, a missing or unusable one replaced by
// a fresh one; error bodies carry the same id as the header.
func TestRequestIDs(t *testing.T) {
	ts := startServer(t, 0)
	f := func(sent string, want func(got string) bool, path string) string {
		t.Helper()
		var hdr []string
		if sent != "" {
			hdr = []string{RequestIDHeader, sent}
		}
		resp, body := doRequest(t, "GET", ts.url+path, "", hdr...)
		got := resp.Header.Get(RequestIDHeader)
		if !want(got) {
			t.Errorf("sent %q to %s: answer's id %q", sent, path, got)
		}
		if resp.StatusCode >= 400 {
			var eb ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.RequestID != got || eb.Code == "" {
				t.Errorf("%s: error body %s (%v), want request_id %q", path, body, err, got)
			}
		}
		return got
	}
	same := func(s string) func(string) bool { return func(got string) bool { return got == s } }
	fresh := func(got string) bool { return validRequestID([]byte(got)) && len(got) > 17 }

	f("abc-123", same("abc-123"), "/health")
	f("4bf92f3577b34da6a3ce929d0e0e4736", same("4bf92f3577b34da6a3ce929d0e0e4736"), "/nope")
	f("trace.span:1/2=", same("trace.span:1/2="), "/api/v1/tables") // 400 missing-db
	a := f("", fresh, "/health")
	b := f("", fresh, "/nope")
	if a == b {
		t.Errorf("two requests got the same id %q", a)
	}
	f(`has space`, fresh, "/nope")
	f(`"quoted"`, fresh, "/health")
	f(strings.Repeat("x", maxRequestIDLen+1), fresh, "/health")

	// The write endpoints' partial-write body too.
	resp, body := doRequest(t, "POST", ts.url+"/write?db=ids", "cpu v=1\ncpu v=x\n", RequestIDHeader, "w-1")
	var wr WriteResponse
	if err := json.Unmarshal(body, &wr); err != nil || resp.StatusCode != 400 || wr.RequestID != "w-1" || wr.Written != 1 {
		t.Errorf("partial write: %d %s (%v), want 400 with request_id w-1", resp.StatusCode, body, err)
	}
}

// The access log has one JSON object a line per request with its method,
// path, status, bytes sent (streamed answers included), duration, client,
// database and request id, and never a token: not from the Authorization
// header, not from the p parameter, not from a form body.
func TestAccessLogJSON(t *testing.T) {
	const secret = "Sekrit-Token-7f3a9"
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	toks, err := ParseTokens("test", "admin:"+secret+":admin")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, Config{AccessLog: true, Logger: log, Tokens: toks})
	auth := []string{"Authorization", "Token " + secret}

	type sent struct {
		method, path, body string
		hdr                []string
		status             int
	}
	reqs := []sent{
		{"POST", "/write?db=acc", lpSample, auth, 204},
		{"POST", "/write?db=acc&u=x&p=" + secret, "cpu,hostname=h v=1 1700000000000000000\n", nil, 204},
		{"GET", "/query?db=acc&p=" + secret + "&q=SHOW+MEASUREMENTS", "", nil, 200},
		{"POST", "/query", "db=acc&p=" + secret + "&q=SHOW+DATABASES", []string{"Content-Type", "application/x-www-form-urlencoded"}, 200},
		{"GET", "/api/v1/export?db=acc", "", auth, 200}, // streamed
		{"GET", "/api/v1/tables?db=acc", "", []string{"Authorization", "Token wrong-" + secret}, 401},
		{"GET", "/health", "", nil, 200},
	}
	bodies := map[string]int{} // request id -> bytes received
	for i, r := range reqs {
		hdr := append([]string{RequestIDHeader, "acc-" + string(rune('a'+i))}, r.hdr...)
		resp, body := doRequest(t, r.method, ts.url+r.path, r.body, hdr...)
		if resp.StatusCode != r.status {
			t.Fatalf("%s %s: %d %s", r.method, r.path, resp.StatusCode, body)
		}
		bodies[resp.Header.Get(RequestIDHeader)] = len(body)
	}
	// A streamed answer is logged when its stream closes, after the client
	// has read it: wait for its line rather than for a time.
	var lines []map[string]any
	for {
		lines = lines[:0]
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		access := 0
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
			}
			if m["msg"] == "request" {
				access++
			}
			lines = append(lines, m)
		}
		if access >= len(reqs) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if raw := logs.String(); strings.Contains(raw, secret) {
		t.Fatalf("the log holds the token:\n%s", raw)
	}
	got := map[string]map[string]any{}
	for _, m := range lines {
		if m["msg"] != "request" {
			continue
		}
		for _, k := range []string{"method", "path", "status", "bytes", "duration_ms", "client", "db", "request_id"} {
			if _, ok := m[k]; !ok {
				t.Errorf("access log line without %s: %v", k, m)
			}
		}
		got[m["request_id"].(string)] = m
	}
	for i, r := range reqs {
		id := "acc-" + string(rune('a'+i))
		m := got[id]
		if m == nil {
			t.Errorf("%s %s: no access log line with request_id %s", r.method, r.path, id)
			continue
		}
		path, _, _ := strings.Cut(r.path, "?")
		if m["method"] != r.method || m["path"] != path || m["status"] != float64(r.status) || m["client"] != "127.0.0.1" ||
			m["bytes"] != float64(bodies[id]) {
			t.Errorf("%s %s: logged %v; want status %d, %d bytes", r.method, r.path, m, r.status, bodies[id])
		}
		if strings.Contains(r.path, "db=acc") && m["db"] != "acc" {
			t.Errorf("%s %s: logged db %v", r.method, r.path, m["db"])
		}
	}
	if bodies["acc-e"] == 0 {
		t.Error("the export answered nothing: the streamed case was not tested")
	}
}
