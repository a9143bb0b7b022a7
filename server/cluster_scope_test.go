package server

import (
	"net/url"
	"strings"
	"testing"
)

// The cluster scope is granted only by name and opens no endpoint of the
// public API: it is the credential query nodes present to writers'
// internal API, not a user's.
func TestClusterScope(t *testing.T) {
	tok, err := ParseToken("node:n-secret:cluster")
	if err != nil || !tok.Cluster || tok.Read || tok.Write || tok.Admin {
		t.Fatalf("ParseToken(cluster): %+v %v", tok, err)
	}
	for _, s := range []string{"ops:o:all", "ops:o:admin", "ops:o:rw"} {
		if tok, err := ParseToken(s); err != nil || tok.Cluster {
			t.Fatalf("ParseToken(%s) grants the cluster scope: %+v %v", s, tok, err)
		}
	}
	both, err := ParseToken("ops:o:read,cluster")
	if err != nil || !both.Read || !both.Cluster {
		t.Fatalf("ParseToken(read,cluster): %+v %v", both, err)
	}
	toks := append([]Token{}, testTokens...)
	if ClusterToken(toks) != nil {
		t.Fatal("ClusterToken found one among tokens without the scope")
	}
	toks = append(toks, tok)
	if got := ClusterToken(toks); got == nil || got.Name != "node" {
		t.Fatalf("ClusterToken: %+v", got)
	}

	s := startServerWith(t, Config{Tokens: toks})
	auth := map[string]string{"Authorization": "Bearer n-secret"}
	for _, r := range []authReq{
		{method: "GET", path: "/query?db=d&q=" + url.QueryEscape("SHOW DATABASES"), header: auth},
		{method: "GET", path: "/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT 1"), header: auth},
		{method: "GET", path: "/metrics", header: auth},
		{method: "POST", path: "/write?db=d", body: "m v=1 1", header: auth},
	} {
		if code, b := s.do(t, r); code != 403 || !strings.Contains(string(b), `"insufficient-scope"`) {
			t.Errorf("%s %s with a cluster-only token: %d %s, want 403 insufficient-scope", r.method, r.path, code, b)
		}
	}
}
