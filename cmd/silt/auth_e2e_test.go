package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// doAuth sends a request with an Authorization header.
func (p *siltProc) doAuth(method, path, auth string, body string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err.Error() // not listening yet, or gone
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// TestServeAuthTokensFromFlagsAndConfig runs the binary with one token from
// --auth-token and one from a tokens file named in the YAML config, and
// checks that both work with their scopes and that the rest is refused.
func TestServeAuthTokensFromFlagsAndConfig(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# Telegraf writes only\ntelegraf:tg-secret:write\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "silt.yaml")
	if err := os.WriteFile(cfg, []byte("auth-tokens-file: "+tokens+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := h.spawn(filepath.Join(dir, "data"), "--config", cfg, "--auth-token", "grafana:gf-secret:read")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if code, _ := p.doAuth("GET", "/ready", "Bearer gf-secret", ""); code == 200 {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("silt with tokens did not become ready:\n%s", tailLines(p.log(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := p.doAuth("GET", "/ready", "", ""); code != 401 || !strings.Contains(body, `"unauthorized"`) {
		t.Fatalf("/ready without a token: %d %s", code, body)
	}
	if code, _ := p.doAuth("GET", "/ping", "", ""); code != 204 {
		t.Fatalf("/ping without a token: %d", code)
	}
	if code, body := p.doAuth("POST", "/write?db=tg", "Token gf-secret", "cpu v=1 1"); code != 403 {
		t.Fatalf("write with the read token: %d %s", code, body)
	}
	if code, body := p.doAuth("POST", "/write?db=tg&u=telegraf&p=tg-secret", "", "cpu v=1 1"); code != 204 {
		t.Fatalf("write with the file token: %d %s", code, body)
	}
	q := "/query?db=tg&epoch=ns&q=" + url.QueryEscape("SELECT v FROM cpu")
	if code, body := p.doAuth("GET", q, "Token tg-secret", ""); code != 403 {
		t.Fatalf("select with the write token: %d %s", code, body)
	}
	if code, body := p.doAuth("GET", q, "Token gf-secret", ""); code != 200 || !strings.Contains(body, `"values":[[1,1]]`) {
		t.Fatalf("select with the read token: %d %s", code, body)
	}
	if code := p.term(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, tailLines(p.log(), 40))
	}
}

func TestServeRejectsBadTokens(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	for _, args := range [][]string{{"--auth-token", "grafana:secret"}, {"--auth-tokens-file", "/nonexistent/tokens"}} {
		p := h.spawn(t.TempDir(), args...)
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			t.Fatalf("silt serve %v kept running", args)
		}
		if p.state.ExitCode() != 2 {
			t.Errorf("silt serve %v: exit %d, want 2:\n%s", args, p.state.ExitCode(), p.log())
		}
	}
}
