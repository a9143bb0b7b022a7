package server

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A database name that is not UTF-8 used to panic the process in the
// Prometheus client after the write's WAL fsync. Whatever the name's fate,
// the server must answer without 5xx and stay up, and /metrics must label
// status codes by number.
func TestHostileNamesDoNotCrashMetrics(t *testing.T) {
	s := startServer(t, 0)
	for _, path := range []string{"/write?db=%FF%FE", "/api/v2/write?bucket=%FF%FE", "/api/v1/ingest?db=%C3%28"} {
		body := "m v=1 1\n"
		if strings.HasPrefix(path, "/api/v1/ingest") {
			body = `{"table":"m","time":1,"v":1}` + "\n"
		}
		if code, _, b := s.post(t, path, body); code >= 500 {
			t.Errorf("%s: %d %s", path, code, b)
		}
	}
	if code, _, b := s.post(t, "/write?db=ok", "m v=1 1\n"); code != 204 {
		t.Fatalf("write after hostile names: %d %s", code, b)
	}
	code, m := s.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, m)
	}
	if !bytes.Contains(m, []byte(`silt_http_requests_total{code="204",path="/write"}`)) || bytes.Contains(m, []byte("No Content")) {
		t.Errorf("/metrics does not label codes by number:\n%s", grepLines(m, "silt_http_requests_total"))
	}
}

func grepLines(b []byte, sub string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestPprofOffByDefault(t *testing.T) {
	s := startServer(t, 0)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		if code, b := s.get(t, p); code != 404 {
			t.Errorf("%s with --debug.pprof off: %d %s", p, code, b)
		}
	}
}

func TestPprofNeedsAdminAndNeverShowsTheCommandLine(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens, DebugPprof: true})
	as := func(path, secret string) (int, []byte) {
		h := map[string]string{}
		if secret != "" {
			h["Authorization"] = "Token " + secret
		}
		return s.do(t, authReq{method: "GET", path: path, header: h})
	}
	for _, c := range []struct {
		path, secret string
		code         int
	}{
		{"/debug/pprof/heap?debug=1", "", 401},
		{"/debug/pprof/heap?debug=1", "r-secret", 403},
		{"/debug/pprof/heap?debug=1", "rw-secret", 403},
		{"/debug/pprof/heap?debug=1", "a-secret", 200},
		{"/debug/pprof/goroutine?debug=1", "a-secret", 200},
		{"/debug/pprof/", "a-secret", 200},
		{"/debug/pprof/cmdline", "a-secret", 404},
		{"/debug/pprof/profile?seconds=abc", "a-secret", 400},
	} {
		code, b := as(c.path, c.secret)
		if code != c.code {
			t.Errorf("%s as %q: %d %.200s, want %d", c.path, c.secret, code, b, c.code)
		}
		for _, tok := range testTokens {
			if bytes.Contains(b, []byte(tok.Secret)) {
				t.Errorf("%s shows the secret of %s", c.path, tok.Name)
			}
		}
	}
}

// rawRequest sends head and then part of a body over a fresh connection,
// leaving the rest unsent, and returns the status line the server answers
// within the deadline.
func rawRequest(t *testing.T, s *testServer, head string, partBody []byte) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(append([]byte(head), partBody...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was complete: %v", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b.String())
}

// With auth on, credentials and scopes are checked from the headers: a
// client that announces a 60 MB body and sends 4 KB of it gets 401 (no
// token) or 403 (a read token writing) at once, without the server
// waiting for, or buffering, the rest.
func TestAuthBeforeBody(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens})
	part := bytes.Repeat([]byte("m v=1 1\n"), 512)
	for _, c := range []struct{ name, head, want string }{
		{"no token", "POST /write?db=d HTTP/1.1\r\nHost: x\r\nContent-Length: 60000000\r\n\r\n", "401"},
		{"bad token", "POST /write?db=d HTTP/1.1\r\nHost: x\r\nAuthorization: Token nope\r\nContent-Length: 60000000\r\n\r\n", "401"},
		{"read token", "POST /write?db=d HTTP/1.1\r\nHost: x\r\nAuthorization: Token r-secret\r\nContent-Length: 60000000\r\n\r\n", "403"},
		{"chunked", "POST /write?db=d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3938000\r\n", "401"},
		{"expect 100-continue", "POST /api/v2/write?bucket=d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 60000000\r\n\r\n", "401"},
		{"form without p", "POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000000\r\n\r\n", "401"},
	} {
		body := part
		if strings.Contains(c.name, "expect") {
			body = nil // the client waits for 100 Continue
		}
		got := rawRequest(t, s, c.head, body)
		// fasthttp answers a refused Expect with the status alone.
		if !strings.HasPrefix(got, c.want+" ") || (body != nil && !strings.Contains(got, `"code"`)) {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// An authorized client still writes big bodies.
	big := strings.Repeat("m v=1 1\n", 100_000)
	if code, _, b := s.post(t, "/write?db=d", big, "Authorization", "Token w-secret"); code != 204 {
		t.Fatalf("authorized write: %d %s", code, b)
	}
	// And u/p in a form body still authenticate.
	code, b := s.do(t, authReq{method: "POST", path: "/query", ctype: "application/x-www-form-urlencoded",
		body: url.Values{"q": {"SHOW DATABASES"}, "u": {"x"}, "p": {"r-secret"}}.Encode()})
	if code != 200 {
		t.Fatalf("form credentials: %d %s", code, b)
	}
}

// GET /query runs only SELECT and SHOW, so that a link or an <img> cannot
// drop data; state-changing requests from another site's page are
// refused; CORS is off unless configured.
func TestBrowserSafety(t *testing.T) {
	s := startServer(t, 0)
	if code, _, b := s.post(t, "/write?db=d", "m v=1 1\n"); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	for _, q := range []string{`DROP DATABASE d`, `DROP MEASUREMENT m`, `DELETE FROM m`, `CREATE DATABASE x`,
		`ALTER RETENTION POLICY autogen ON d DURATION 1h`, `SELECT v INTO n FROM m`, `SHOW DATABASES; DROP DATABASE d`} {
		code, b := s.get(t, "/query?db=d&q="+url.QueryEscape(q))
		if code != 405 || !bytes.Contains(b, []byte(`"get-changes-state"`)) {
			t.Errorf("GET %s: %d %s", q, code, b)
		}
	}
	if code, b := s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT count(v) FROM m")); code != 200 || !bytes.Contains(b, []byte(`",1]]`)) {
		t.Fatalf("the data is gone after refused GETs: %d %s", code, b)
	}
	host := strings.TrimPrefix(s.url, "http://")
	for _, c := range []struct {
		name string
		hdr  []string
		code int
	}{
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site fetch", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"foreign Origin", []string{"Origin", "http://evil.example"}, 403},
		{"null Origin", []string{"Origin", "null"}, 403},
		{"same origin", []string{"Origin", "http://" + host, "Sec-Fetch-Site", "same-origin"}, 204},
		{"same Origin, old browser", []string{"Origin", "http://" + host}, 204},
		{"no browser", nil, 204},
	} {
		code, h, b := s.post(t, "/write?db=d", "m v=2 2\n", c.hdr...)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, b, c.code)
		}
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS answered with none configured", c.name)
		}
	}
	code, _, b := s.post(t, "/query?db=d", "q="+url.QueryEscape("DROP DATABASE d"), "Content-Type", "application/x-www-form-urlencoded", "Origin", "http://evil.example")
	if code != 403 || !bytes.Contains(b, []byte("cross-site-request")) {
		t.Fatalf("cross-site POST DROP: %d %s", code, b)
	}

	s2 := startServerWith(t, Config{AllowedOrigins: []string{"https://grafana.example"}})
	req, _ := http.NewRequest("OPTIONS", s2.url+"/write?db=d", nil)
	req.Header.Set("Origin", "https://grafana.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://grafana.example" {
		t.Fatalf("preflight from an allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	if code, h, b := s2.post(t, "/write?db=d", "m v=1 1\n", "Origin", "https://grafana.example", "Sec-Fetch-Site", "cross-site"); code != 204 || h.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("write from an allowed origin: %d %s", code, b)
	}
	if code, _, b := s2.post(t, "/write?db=d", "m v=1 1\n", "Origin", "https://other.example"); code != 403 {
		t.Fatalf("write from another origin: %d %s", code, b)
	}
}

// Errors say what is wrong in Silt's shape, and never echo the request.
func TestErrorsDoNotLeakOrMislead(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens})
	const secret = "a-secret"
	get := func(path string, hdr ...string) (int, []byte) {
		h := map[string]string{"Authorization": "Token " + secret}
		for i := 0; i+1 < len(hdr); i += 2 {
			h[hdr[i]] = hdr[i+1]
		}
		return s.do(t, authReq{method: "GET", path: path, header: h})
	}
	if code, _, b := s.post(t, "/write?db=d", "m,host=a v=1 1\nm,host=b v=0 2\n", "Authorization", "Token "+secret); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	// Grafana's GET mode: a long InfluxQL query in the URL is answered.
	long := "SELECT v FROM m WHERE " + strings.Repeat(`host = 'a' OR `, 600) + `host = 'a'`
	if code, b := get("/query?db=d&q=" + url.QueryEscape(long)); code != 200 {
		t.Fatalf("%d-byte URL: %d %.300s", len(long), code, b)
	}
	// Beyond the header budget: 431 in Silt's shape, without the headers.
	code, b := get("/query?db=d&q="+strings.Repeat("x", 70<<10), "X-Probe", "probe-value")
	if code != 431 || !bytes.Contains(b, []byte(`"request-too-large"`)) || bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("probe-value")) {
		t.Fatalf("oversized request: %d %.300s", code, b)
	}
	// A malformed request is not echoed either.
	got := rawRequest(t, &testServer{url: s.url}, "GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Token "+secret+"\r\nContent-Length: nope\r\n\r\n", nil)
	if !strings.HasPrefix(got, "400 ") || strings.Contains(got, secret) {
		t.Fatalf("malformed request: %s", got)
	}
	for _, enc := range []string{"br", "deflate", "zstd"} {
		code, _, b := s.post(t, "/write?db=d", "m,host=c v=1 3\n", "Authorization", "Token "+secret, "Content-Encoding", enc)
		if code != 415 || !bytes.Contains(b, []byte(`"unsupported-encoding"`)) {
			t.Errorf("Content-Encoding %s: %d %s", enc, code, b)
		}
	}
	if n := countRows(t, s, "d", "m"); n != 2 {
		t.Fatalf("rows after refused encodings: %v, want 2", n)
	}
	if code, b := get("/api/v1/export"); code != 400 || !bytes.Contains(b, []byte("missing db")) {
		t.Fatalf("export without db: %d %s", code, b)
	}
	for _, q := range []string{"SELECT v / 0 FROM m", "SELECT 1 / 0 FROM m", "SELECT 1 / v FROM m"} {
		code, b := get("/api/v1/sql?db=d&q=" + url.QueryEscape(q))
		if code != 400 || !bytes.Contains(b, []byte(`"division_by_zero"`)) {
			t.Errorf("%s: %d %s", q, code, b)
		}
	}
}

// An answer to HEAD carries no body, also the 413 that fasthttp's error
// path gives a HEAD announcing a body above the limit.
func TestHeadErrorHasNoBody(t *testing.T) {
	s := startServer(t, 1<<20)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "HEAD /write?db=a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 2<<20); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	_, _ = got.ReadFrom(conn) // the server closes after the answer
	head, body, ok := strings.Cut(got.String(), "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.1 413") {
		t.Fatalf("answer %q, want a 413 status and headers", got.String())
	}
	if body != "" {
		t.Fatalf("HEAD answer has a body: %q", body)
	}
}
