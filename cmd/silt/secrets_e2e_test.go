package main

import (
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeSecretsFromFileAndEnvNeverShown runs the binary with a token
// from each source (--auth-token, a tokens file, $SILT_AUTH_TOKENS), checks
// each works with its scope, and that no secret appears in the server's
// log (debug level, start to stop), in /metrics, in --help or in the
// errors of a bad token flag and an open tokens file; and that the flag
// token is warned about.
func TestServeSecretsFromFileAndEnvNeverShown(t *testing.T) {
	skipShort(t)
	const mark = "XwSek" // in every secret, in no other string
	t.Setenv("SILT_AUTH_TOKENS", "ops:Env-Admin-XwSek:admin; ci:Env-Write-XwSek:write")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "Aws-Env-XwSek")
	t.Setenv("SILT_CLUSTER_TOKEN", "Cluster-Env-XwSek")
	h := newHarness(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# Telegraf\ntg:File-Write-XwSek:write\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := h.spawn(filepath.Join(dir, "data"), "--log-level", "debug", "--auth-token-file", tokens,
		"--auth-token", "graf:Flag-Read-XwSek:read")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if code, _ := p.doAuth("GET", "/ready", "Bearer Env-Admin-XwSek", ""); code == 200 {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("silt did not become ready:\n%s", tailLines(p.log(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct {
		method, path, auth, body string
		want                     int
	}{
		{"POST", "/write?db=s", "Token File-Write-XwSek", "cpu v=1 1", 204},
		{"POST", "/write?db=s", "Token Env-Write-XwSek", "cpu v=2 2", 204},
		{"POST", "/write?db=s", "Token Flag-Read-XwSek", "cpu v=3 3", 403},
		{"GET", "/query?db=s&q=" + url.QueryEscape("SELECT v FROM cpu"), "Token Flag-Read-XwSek", "", 200},
		{"GET", "/query?db=s&q=" + url.QueryEscape("SELECT v FROM cpu"), "Token File-Write-XwSek", "", 403},
		{"GET", "/query?db=s&q=" + url.QueryEscape("SELECT v FROM cpu"), "Token Wrong-XwSek", "", 401},
		{"GET", "/query?db=s&q=" + url.QueryEscape("SELEC oops"), basicAuth("x", "Env-Admin-XwSek"), "", 400},
		{"GET", "/debug/pprof/cmdline", "Token Env-Admin-XwSek", "", 404},
	} {
		code, body := p.doAuth(c.method, c.path, c.auth, c.body)
		if code != c.want {
			t.Errorf("%s %s with %s: %d %s, want %d", c.method, c.path, c.auth, code, body, c.want)
		}
		if strings.Contains(body, mark) {
			t.Errorf("%s %s: the answer holds a secret: %s", c.method, c.path, body)
		}
	}
	code, metrics := p.doAuth("GET", "/metrics", "Token Flag-Read-XwSek", "")
	if code != 200 || !strings.Contains(metrics, "silt_http_inflight_body_bytes") {
		t.Fatalf("/metrics: %d %.300s", code, metrics)
	}
	if strings.Contains(metrics, mark) {
		t.Errorf("/metrics holds a secret")
	}
	if code := p.term(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, tailLines(p.log(), 40))
	}
	log := p.log()
	if strings.Contains(log, mark) {
		t.Errorf("the server log holds a secret:\n%s", log)
	}
	if !strings.Contains(log, "a secret is on the command line") || !strings.Contains(log, "flag=--auth-token") {
		t.Errorf("no warning for --auth-token:\n%s", tailLines(log, 40))
	}
	if strings.Count(log, "a secret is on the command line") != 1 {
		t.Errorf("warned for a secret that is not on the command line:\n%s", tailLines(log, 40))
	}

	// --help, with secrets in the environment, shows none.
	out, _ := exec.Command(siltBinary(t), "serve", "--help").CombinedOutput()
	if !strings.Contains(string(out), "-auth-tokens-file") || strings.Contains(string(out), mark) {
		t.Errorf("silt serve --help:\n%s", out)
	}
	// Refused settings: exit 2, the reason, and no secret.
	open := filepath.Join(dir, "open-tokens")
	if err := os.WriteFile(open, []byte("tg:File-Open-XwSek:write\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth-token", "graf:Flag-Bad-XwSek:sudo"}, "unknown scope"},
		{[]string{"--auth-token", "graf:Flag-Bad-XwSek"}, "graf:***"},
		{[]string{"--auth-tokens-file", open}, "chmod 600"},
		{[]string{"--cluster.token-file", open}, "chmod 600"},
	} {
		cmd := exec.Command(siltBinary(t), append([]string{"serve", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0"}, c.args...)...)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), c.want) || strings.Contains(string(out), mark) {
			t.Errorf("silt serve %v: %v, want exit 2 with %q and no secret:\n%s", c.args, err, c.want, out)
		}
	}
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
