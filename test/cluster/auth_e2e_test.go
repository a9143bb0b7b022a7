package cluster

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Secrets of the auth test's tokens.
const (
	opsSecret  = "ops-Secret-7fQ2"  // scope all: the operator's
	nodeSecret = "node-Secret-k9Vd" // scope cluster: the nodes'
)

// authGet sends GET base+path with secret as a Bearer token ("" sends
// none) and returns the status and body.
func authGet(t *testing.T, base, path, secret string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// startAuth spawns a node whose API needs a token and waits for /ready,
// asked with the operator's token.
func (c *cluster) startAuth(name string, args ...string) *proc {
	c.t.Helper()
	p := c.spawn(name, args...)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && !p.exited(); time.Sleep(20 * time.Millisecond) {
		if code, _ := authGet(c.t, p.base, "/ready", opsSecret); code == http.StatusOK {
			return p
		}
	}
	c.t.Fatalf("%s did not become ready; log:\n%s", name, tail(p.log(), 40))
	return nil
}

// countAuth runs SELECT count(*) FROM cpu on p with the operator's token.
func countAuth(t *testing.T, p *proc) (int, float64, string) {
	t.Helper()
	code, body := authGet(t, p.base, "/api/v1/sql?db=db&q="+url.QueryEscape("SELECT count(*) FROM cpu"), opsSecret)
	var res struct {
		Rows  [][]any
		Code  string
		Error string
	}
	_ = json.Unmarshal(body, &res)
	if code != http.StatusOK || len(res.Rows) != 1 {
		return code, 0, res.Code + ": " + res.Error
	}
	n, _ := res.Rows[0][0].(float64)
	return code, n, ""
}

// TestClusterInternalAuthE2E: with auth on, a writer's internal API
// refuses a call without a token (401), with a token that lacks the
// cluster scope (403, the operator's all included), in the public API's
// error shape; a query node presenting the cluster token from its tokens
// file answers over the writer's unflushed rows, and one given only the
// operator's token cannot read them (its log says why), and one given
// the cluster token in --cluster.token-file answers again.
func TestClusterInternalAuthE2E(t *testing.T) {
	c := newCluster(t)
	tokens := filepath.Join(c.dir, "tokens")
	if err := os.WriteFile(tokens, []byte("ops:"+opsSecret+":all\nnode:"+nodeSecret+":cluster\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opsOnly := filepath.Join(c.dir, "tokens-ops")
	if err := os.WriteFile(opsOnly, []byte("ops:"+opsSecret+":all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := c.startAuth("w1", "--role", "writer", "--node-id", "w1", "--auth-tokens-file", tokens)
	// Tomorrow's window is never tiered: every row stays with the writer,
	// so the query node can only have them over the internal API.
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	pts := streamSpan(0, 4, tomorrow.Add(2*time.Hour).UnixNano(), 2*time.Hour)
	var lines []string
	for _, p := range pts {
		lines = append(lines, p.line())
	}
	want := model{}
	want.add(pts)
	req, err := http.NewRequest(http.MethodPost, w.base+"/write?db=db", strings.NewReader(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+opsSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}

	m := regexp.MustCompile(`registered in the cluster.*internal_address=(\S+)`).FindStringSubmatch(w.log())
	if m == nil {
		t.Fatalf("the writer did not log its internal address:\n%s", tail(w.log(), 20))
	}
	internal := "http://" + m[1]
	rows := "/internal/v1/rows?db=db&table=cpu&min=0&max=" + url.QueryEscape("9223372036854775807")
	rollup := "/internal/v1/rollup?db=db&table=cpu&min=0&max=" + url.QueryEscape("9223372036854775807") + "&widths=60000000000&columns=usage"
	for _, tc := range []struct {
		path, secret string
		code         int
		errCode      string
	}{
		{rows, "", http.StatusUnauthorized, "unauthorized"},
		{"/internal/v1/schemas", "", http.StatusUnauthorized, "unauthorized"},
		{rows, "wrong-secret", http.StatusUnauthorized, "unauthorized"},
		{rows, opsSecret, http.StatusForbidden, "insufficient-scope"},
		{"/internal/v1/schemas", opsSecret, http.StatusForbidden, "insufficient-scope"},
		{rows, nodeSecret, http.StatusOK, ""},
		{rollup, "", http.StatusUnauthorized, "unauthorized"},
		{rollup, opsSecret, http.StatusForbidden, "insufficient-scope"},
		{rollup, nodeSecret, http.StatusOK, ""},
		{"/internal/v1/schemas", nodeSecret, http.StatusOK, ""},
	} {
		code, body := authGet(t, internal, tc.path, tc.secret)
		if code != tc.code {
			t.Fatalf("GET %s with %q: %d %s, want %d", tc.path, tc.secret, code, body, tc.code)
		}
		if tc.errCode == "" {
			continue
		}
		var e struct{ Error, Code string }
		if err := json.Unmarshal(body, &e); err != nil || e.Code != tc.errCode || e.Error == "" {
			t.Fatalf("GET %s with %q: body %s, want {\"error\", \"code\": %q}", tc.path, tc.secret, body, tc.errCode)
		}
		for _, s := range []string{opsSecret, nodeSecret} {
			if strings.Contains(string(body), s) {
				t.Fatalf("GET %s: the refusal quotes a secret: %s", tc.path, body)
			}
		}
	}
	// The node's token opens no endpoint of the public API.
	if code, body := authGet(t, w.base, "/api/v1/sql?db=db&q="+url.QueryEscape("SELECT count(*) FROM cpu"), nodeSecret); code != http.StatusForbidden {
		t.Fatalf("public SQL with the cluster-only token: %d %s, want 403", code, body)
	}

	q := c.startAuth("q1", "--role", "query", "--node-id", "q1", "--auth-tokens-file", tokens)
	var n float64
	var code int
	var msg string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, n, msg = countAuth(t, q); code == http.StatusOK && n >= float64(len(want)) {
			break
		}
	}
	if code != http.StatusOK || n != float64(len(want)) {
		t.Fatalf("query node with the cluster token: %d, count %v (%s), want %d", code, n, msg, len(want))
	}

	// A query node with only the operator's token: the writer refuses it.
	// The table exists only on the writer, whose catalog it cannot read
	// either: no answer, and its log says why at warn level.
	bad := c.startAuth("q2", "--role", "query", "--node-id", "q2", "--auth-tokens-file", opsOnly)
	if code, n, msg = countAuth(t, bad); code == http.StatusOK {
		t.Fatalf("query node without the cluster token answered: count %v", n)
	}
	if !regexp.MustCompile(`level=WARN.*needs a token with the cluster scope`).MatchString(bad.log()) {
		t.Fatalf("query node without the cluster token (%d %s): its log does not say why:\n%s", code, msg, tail(bad.log(), 20))
	}
	// Given the cluster token on its own (--cluster.token-file), the same
	// node answers.
	nodeFile := filepath.Join(c.dir, "node-token")
	if err := os.WriteFile(nodeFile, []byte(nodeSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := c.startAuth("q3", "--role", "query", "--node-id", "q3", "--auth-tokens-file", opsOnly, "--cluster.token-file", nodeFile)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, n, msg = countAuth(t, good); code == http.StatusOK && n >= float64(len(want)) {
			break
		}
	}
	if code != http.StatusOK || n != float64(len(want)) {
		t.Fatalf("query node with --cluster.token-file: %d, count %v (%s), want %d", code, n, msg, len(want))
	}
	for _, s := range []string{opsSecret, nodeSecret} {
		for _, p := range []*proc{w, q, bad, good} {
			if strings.Contains(p.log(), s) {
				t.Fatalf("%s logged a secret", p.name)
			}
		}
	}
}
