package cluster

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRequireToken(t *testing.T) {
	check := func(secret string) (string, bool, bool) {
		switch secret {
		case "node-s":
			return "node", true, true
		case "ops-s":
			return "ops", true, false
		}
		return "", false, false
	}
	h := RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }), check)
	for _, tc := range []struct {
		authz string
		code  int
		ecode string
	}{
		{"", http.StatusUnauthorized, "unauthorized"},
		{"Basic bm9kZS1z", http.StatusUnauthorized, "unauthorized"},
		{"Bearer nope", http.StatusUnauthorized, "unauthorized"},
		{"Bearer ops-s", http.StatusForbidden, "insufficient-scope"},
		{"Bearer node-s", http.StatusTeapot, ""},
		{"Token node-s", http.StatusTeapot, ""},
	} {
		req := httptest.NewRequest(http.MethodGet, RowsPath, nil)
		if tc.authz != "" {
			req.Header.Set("Authorization", tc.authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Fatalf("%q: %d %s, want %d", tc.authz, rec.Code, rec.Body, tc.code)
		}
		if tc.ecode == "" {
			continue
		}
		var e struct{ Error, Code string }
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != tc.ecode || e.Error == "" || strings.Contains(e.Error, "-s") {
			t.Fatalf("%q: body %s", tc.authz, rec.Body)
		}
	}
}

func TestConfigLoadSecrets(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == TokenEnv {
				return v
			}
			return ""
		}
	}
	var c Config
	if err := c.LoadSecrets(env(" from-env\n")); err != nil || c.Token != "from-env" {
		t.Fatalf("from the environment: %q %v", c.Token, err)
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = Config{TokenFile: path}
	if err := c.LoadSecrets(env("from-env")); err != nil || c.Token != "from-file" {
		t.Fatalf("from the file: %q %v", c.Token, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c = Config{TokenFile: path}
	if err := c.LoadSecrets(env("")); err == nil || strings.Contains(err.Error(), "from-file") {
		t.Fatalf("a token file others can read: %v", err)
	}
}
