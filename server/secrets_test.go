package server

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// envOf is a getenv over a fixed environment.
func envOf(kv ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1]
			}
		}
		return ""
	}
}

// Tokens from a file (comments, blank lines) and from $SILT_AUTH_TOKENS
// (newlines and semicolons) authorize real requests with their scopes.
func TestTokensFromFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	file := "# Telegraf writes only\n\n  telegraf:file-w-secret:write  \n# Grafana\ngrafana:file-r-secret:read\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{TokensFile: path}
	env := envOf(TokensEnv, "ops:env-a-secret:admin; dash:env-r-secret:read\n# comment\nci:env-w-secret:write")
	if err := cfg.LoadSecrets(env); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tokens) != 5 {
		t.Fatalf("loaded %d tokens: %+v", len(cfg.Tokens), cfg.Tokens)
	}
	s := startServerWith(t, cfg)
	auth := func(secret string) map[string]string { return map[string]string{"Authorization": "Token " + secret} }
	q := "/query?db=d&q=" + url.QueryEscape("SELECT v FROM m")
	for _, c := range []struct {
		name string
		r    authReq
		want int
	}{
		{"file write token writes", authReq{method: "POST", path: "/write?db=d", body: "m v=1 1", header: auth("file-w-secret")}, 204},
		{"env write token writes", authReq{method: "POST", path: "/write?db=d", body: "m v=2 2", header: auth("env-w-secret")}, 204},
		{"file read token reads", authReq{method: "GET", path: q, header: auth("file-r-secret")}, 200},
		{"env read token reads", authReq{method: "GET", path: "/api/v1/tables?db=d", header: auth("env-r-secret")}, 200},
		{"file write token cannot read", authReq{method: "GET", path: q, header: auth("file-w-secret")}, 403},
		{"env read token cannot write", authReq{method: "POST", path: "/write?db=d", body: "m v=3 3", header: auth("env-r-secret")}, 403},
		{"file read token cannot drop", authReq{method: "POST", path: "/query", ctype: "application/x-www-form-urlencoded",
			body: "q=DROP+DATABASE+d", header: auth("file-r-secret")}, 403},
		{"no token", authReq{method: "GET", path: q}, 401},
		{"env admin token drops", authReq{method: "DELETE", path: "/api/v1/databases?db=d", header: auth("env-a-secret")}, 200},
	} {
		if code, b := s.do(t, c.r); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, b, c.want)
		}
	}
}

// A tokens file others may read or write is refused, like ssh refuses an
// open private key, with an error that names the fix and not the secrets;
// so are a bad line, a directory and a missing file.
func TestTokensFileRefused(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"world-readable", "grafana:open-secret:read\n", 0o644, "chmod 600"},
		{"group-readable", "grafana:open-secret:read\n", 0o640, "chmod 600"},
		{"group-writable", "grafana:open-secret:read\n", 0o620, "too open"},
		{"bad scope", "# ok\ngrafana:open-secret:root\n", 0o600, ":2:"},
		{"no scope", "grafana:open-secret\n", 0o400, "grafana:***"},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		cfg := Config{TokensFile: path}
		err := cfg.LoadSecrets(envOf())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "open-secret") {
			t.Errorf("%s: %v, want an error with %q and without the secret", c.name, err, c.want)
		}
		if len(cfg.Tokens) != 0 {
			t.Errorf("%s: tokens loaded from a refused file: %d", c.name, len(cfg.Tokens))
		}
	}
	for _, path := range []string{dir, filepath.Join(dir, "missing")} {
		cfg := Config{TokensFile: path}
		if err := cfg.LoadSecrets(envOf()); err == nil {
			t.Errorf("%s: accepted", path)
		}
	}
	cfg := Config{}
	if err := cfg.LoadSecrets(envOf(TokensEnv, "a:env-secret:read;b:env-secret2:sudo")); err == nil ||
		!strings.Contains(err.Error(), "$"+TokensEnv) || strings.Contains(err.Error(), "env-secret") {
		t.Errorf("bad token in the environment: %v", err)
	}
}

// A bad --auth-token is a Validate error without its secret: the flag
// package, which quotes a refused value, never sees the error.
func TestBadTokenFlagNotEchoed(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--auth-token", "grafana:flag-secret:sudo", "--auth-token", "ok:ok-secret:read"}); err != nil {
		t.Fatalf("parse: %v (%s)", err, out.String())
	}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "--auth-token") || strings.Contains(err.Error(), "flag-secret") || out.Len() != 0 {
		t.Fatalf("Validate: %v; flag output %q", err, out.String())
	}
	// --help shows no secret default, whatever was set.
	out.Reset()
	fs.PrintDefaults()
	if strings.Contains(out.String(), "secret-") || !strings.Contains(out.String(), "-auth-tokens-file") {
		t.Fatalf("defaults:\n%s", out.String())
	}
}

// syncBuffer is a log sink for a server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// No secret reaches the server's log (debug level) or /metrics, whatever
// requests come: bad tokens, tokens as Basic passwords and p parameters,
// unreadable requests quoting Authorization, denied scopes.
func TestSecretsNotInLogsOrMetrics(t *testing.T) {
	var logs syncBuffer
	cfg := Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxRequestsPerClient: 4, MaxInflightBodyBytes: 64 << 20}
	if err := cfg.LoadSecrets(envOf(TokensEnv, "ops:Zq-admin-QzSek:admin;graf:Zq-read-QzSek:read")); err != nil {
		t.Fatal(err)
	}
	s := startServerWith(t, cfg)
	reqs := []authReq{
		{method: "POST", path: "/write?db=d", body: "m v=1 1", header: map[string]string{"Authorization": "Token Zq-admin-QzSek"}},
		{method: "POST", path: "/write?db=d", body: "m v=1 1", header: map[string]string{"Authorization": "Token Zq-read-QzSek"}},
		{method: "GET", path: "/query?db=d&u=x&p=Zq-read-QzSek&q=" + url.QueryEscape("SELECT * FROM nope")},
		{method: "GET", path: "/query?db=d&q=" + url.QueryEscape("SELEC broken"), header: map[string]string{"Authorization": basic("x", "Zq-admin-QzSek")}},
		{method: "GET", path: "/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT nope FROM m"), header: map[string]string{"Authorization": "Bearer Zq-read-QzSek"}},
		{method: "GET", path: "/api/v1/export?db=nope", header: map[string]string{"Authorization": "Token Zq-read-QzSekx"}},
		{method: "GET", path: "/debug/pprof/cmdline", header: map[string]string{"Authorization": "Token Zq-admin-QzSek"}},
		{method: "GET", path: "/query?q=" + strings.Repeat("x", 70<<10), header: map[string]string{"Authorization": "Token Zq-admin-QzSek"}},
	}
	for _, r := range reqs {
		req, err := http.NewRequest(r.method, s.url+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(b, []byte("QzSek")) {
				t.Errorf("%s %.60s: the answer holds a secret: %s", r.method, r.path, b)
			}
		}
	}
	// Requests fasthttp cannot parse, whose errors would quote the bytes
	// read, Authorization included.
	for _, raw := range []string{
		"GET /query HTTP/1.1\r\nHost: x\r\nAuthorization: Token Zq-admin-QzSek\r\nno colon here\r\n\r\n",
		"GET /query HTTP/1.1\r\nHost: x\r\nAuthorization: Token Zq-admin-QzSek\r\nContent-Length: -5\r\n\r\n",
		"POST /write?db=d HTTP/1.1\r\nHost: x\r\nAuthorization: Token Zq-admin-QzSek\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nQzSek\r\n",
		"GET /query HTTP/1.1\r\nHost: x\r\nAuthorization: Token Zq-admin-QzSek\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 70) + "\r\n",
		"GET /query?p=Zq-admin-QzSek HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write([]byte(raw))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(conn)
		conn.Close()
		if bytes.Contains(b, []byte("QzSek")) {
			t.Errorf("answer to %.60q holds a secret: %s", raw, b)
		}
	}
	code, metrics := s.doGet(t, "/metrics", "Token Zq-read-QzSek")
	if code != 200 || !bytes.Contains(metrics, []byte("silt_http_requests_total")) {
		t.Fatalf("/metrics: %d %.200s", code, metrics)
	}
	if bytes.Contains(metrics, []byte("QzSek")) {
		t.Errorf("/metrics holds a secret: %s", grepLines(metrics, "QzSek"))
	}
	if l := logs.String(); strings.Contains(l, "QzSek") {
		t.Errorf("the log holds a secret: %s", grepLines([]byte(l), "QzSek"))
	} else if !strings.Contains(l, "level=") {
		t.Logf("the server logged nothing; the check is of its error paths only")
	}
}

// doGet is a GET with an Authorization header.
func (s *testServer) doGet(t *testing.T, path, authz string) (int, []byte) {
	t.Helper()
	return s.do(t, authReq{method: "GET", path: path, header: map[string]string{"Authorization": authz}})
}
