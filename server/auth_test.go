package server

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testTokens = []Token{
	{Name: "reader", Secret: "r-secret", Read: true},
	{Name: "writer", Secret: "w-secret", Write: true},
	{Name: "admin", Secret: "a-secret", Read: true, Write: true, Admin: true},
	{Name: "rw", Secret: "rw-secret", Read: true, Write: true},
}

// authReq is one request with credentials in one of the accepted forms.
type authReq struct {
	method, path, body, ctype string
	header                    map[string]string
}

func (s *testServer) do(t *testing.T, r authReq) (int, []byte) {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, s.url+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// countRows asks Silt (as admin) how many rows db.m has.
func countRows(t *testing.T, s *testServer, db, m string) float64 {
	t.Helper()
	code, b := s.do(t, authReq{method: "GET", path: "/query?db=" + db + "&epoch=ns&q=" + url.QueryEscape("SELECT count(v) FROM "+m),
		header: map[string]string{"Authorization": "Token a-secret"}})
	if code != 200 {
		t.Fatalf("count: %d %s", code, b)
	}
	var r struct {
		Results []struct {
			Series []struct{ Values [][]float64 }
		}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("count: %v: %s", err, b)
	}
	if len(r.Results) != 1 || len(r.Results[0].Series) == 0 {
		return 0
	}
	return r.Results[0].Series[0].Values[0][1]
}

func TestAuthOffWithoutTokens(t *testing.T) {
	s := startServer(t, 0)
	if code, _, b := s.post(t, "/write?db=d", "m v=1 1"); code != 204 {
		t.Fatalf("write without auth configured: %d %s", code, b)
	}
	if code, b := s.get(t, "/query?db=d&q=SELECT+v+FROM+m"); code != 200 || !strings.Contains(string(b), `"values":[["1970-01-01T00:00:00.000000001Z",1]]`) {
		t.Fatalf("query without auth configured: %d %s", code, b)
	}
}

func TestAuthEveryCredentialForm(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens})
	q := url.QueryEscape("SELECT v FROM m")
	// Writes with every form that carries the writer's token.
	writes := map[string]authReq{
		"Token header":  {header: map[string]string{"Authorization": "Token w-secret"}},
		"Bearer header": {header: map[string]string{"Authorization": "Bearer w-secret"}},
		"Basic":         {header: map[string]string{"Authorization": basic("telegraf", "w-secret")}},
		"u/p params":    {path: "&u=telegraf&p=w-secret"},
	}
	n := 0
	for name, r := range writes {
		n++
		r.method, r.path = "POST", "/write?db=d"+r.path
		r.body = "m,form=" + strings.ReplaceAll(strings.ReplaceAll(name, " ", "_"), "/", "_") + " v=1 " + string(rune('0'+n))
		if code, b := s.do(t, r); code != 204 {
			t.Errorf("write with %s: %d %s", name, code, b)
		}
	}
	if got := countRows(t, s, "d", "m"); got != 4 {
		t.Fatalf("rows after 4 authorized writes: %v", got)
	}
	// Reads with every form that carries the reader's token, GET and POST.
	reads := map[string]authReq{
		"Token header":     {method: "GET", path: "/query?db=d&q=" + q, header: map[string]string{"Authorization": "Token r-secret"}},
		"Bearer header":    {method: "GET", path: "/query?db=d&q=" + q, header: map[string]string{"Authorization": "Bearer r-secret"}},
		"Basic":            {method: "GET", path: "/query?db=d&q=" + q, header: map[string]string{"Authorization": basic("grafana", "r-secret")}},
		"u/p params":       {method: "GET", path: "/query?db=d&u=grafana&p=r-secret&q=" + q},
		"p in form body":   {method: "POST", path: "/query?db=d", body: "u=grafana&p=r-secret&q=" + q, ctype: "application/x-www-form-urlencoded"},
		"Basic, POST form": {method: "POST", path: "/query?db=d&epoch=ms", body: "q=" + q, ctype: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": basic("", "r-secret")}},
	}
	for name, r := range reads {
		code, b := s.do(t, r)
		if code != 200 || strings.Count(string(b), `,1]`) != 4 {
			t.Errorf("read with %s: %d %s", name, code, b)
		}
	}
	// SQL and the schema endpoints take the same credentials.
	if code, b := s.do(t, authReq{method: "GET", path: "/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT count(*) FROM m"),
		header: map[string]string{"Authorization": "Bearer r-secret"}}); code != 200 || !strings.Contains(string(b), "[4]") {
		t.Errorf("sql with a read token: %d %s", code, b)
	}
}

func TestAuthRejectsWithoutLeakingOrWriting(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens})
	if code, _, b := s.post(t, "/write?db=d", "m v=1 1", "Authorization", "Token a-secret"); code != 204 {
		t.Fatalf("admin write: %d %s", code, b)
	}
	q := url.QueryEscape("SELECT v FROM m")
	bad := map[string]authReq{
		"no credentials":      {},
		"wrong Token":         {header: map[string]string{"Authorization": "Token nope"}},
		"wrong Bearer":        {header: map[string]string{"Authorization": "Bearer r-secre"}},
		"wrong Basic":         {header: map[string]string{"Authorization": basic("reader", "nope")}},
		"token as Basic user": {header: map[string]string{"Authorization": basic("r-secret", "")}},
		"bad Basic encoding":  {header: map[string]string{"Authorization": "Basic !!!"}},
		"unknown scheme":      {header: map[string]string{"Authorization": "Digest r-secret"}},
		"wrong p":             {path: "&u=reader&p=nope"},
		"u without p":         {path: "&u=r-secret"},
	}
	for name, r := range bad {
		for _, ep := range []struct{ method, path, body string }{
			{"GET", "/query?db=d&q=" + q, ""},
			{"POST", "/write?db=d", "m v=2 2"},
			{"GET", "/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT * FROM m"), ""},
			{"GET", "/api/v1/databases", ""},
			{"GET", "/metrics", ""},
			{"GET", "/api/v1/export?db=d&table=m", ""},
		} {
			rr := r
			rr.method, rr.path, rr.body = ep.method, ep.path+r.path, ep.body
			code, b := s.do(t, rr)
			var e ErrorBody
			if code != http.StatusUnauthorized || json.Unmarshal(b, &e) != nil || e.Code != "unauthorized" {
				t.Errorf("%s %s with %s: %d %s (want 401 unauthorized)", ep.method, ep.path, name, code, b)
			}
			if strings.Contains(string(b), `"values"`) || strings.Contains(string(b), "m,") {
				t.Errorf("%s with %s leaked data: %s", ep.path, name, b)
			}
		}
	}
	// Scopes: a read token cannot write, a write token cannot read, and
	// CREATE DATABASE needs write.
	scoped := []struct {
		name string
		r    authReq
		code int
	}{
		{"reader writes", authReq{method: "POST", path: "/write?db=d", body: "m v=3 3", header: map[string]string{"Authorization": "Token r-secret"}}, 403},
		{"reader ingests", authReq{method: "POST", path: "/api/v1/ingest?db=d&table=m", body: `{"time":4,"v":4}`, header: map[string]string{"Authorization": "Token r-secret"}}, 403},
		{"writer selects", authReq{method: "GET", path: "/query?db=d&q=" + q, header: map[string]string{"Authorization": "Token w-secret"}}, 403},
		{"writer uses sql", authReq{method: "GET", path: "/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT * FROM m"), header: map[string]string{"Authorization": "Token w-secret"}}, 403},
		{"reader creates a db", authReq{method: "POST", path: "/query", body: "q=" + url.QueryEscape(`CREATE DATABASE "x"`), ctype: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": "Token r-secret"}}, 403},
		{"reader selects then creates", authReq{method: "POST", path: "/query?db=d&q=" + url.QueryEscape(`SELECT v FROM m; CREATE DATABASE "x"`), header: map[string]string{"Authorization": "Token r-secret"}}, 403},
		{"admin creates over GET", authReq{method: "GET", path: "/query?db=d&q=" + url.QueryEscape(`SELECT v FROM m; CREATE DATABASE "x"`), header: map[string]string{"Authorization": "Token a-secret"}}, 405},
		{"read-write token sets a retention", authReq{method: "POST", path: "/api/v1/databases", body: `{"name":"y","retention":"1d"}`, header: map[string]string{"Authorization": "Token rw-secret"}}, 403},
		{"read-write token drops", authReq{method: "POST", path: "/query?db=d", body: "q=" + url.QueryEscape(`DROP MEASUREMENT m`), ctype: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": "Token rw-secret"}}, 403},
		{"reader creates a db via the API", authReq{method: "POST", path: "/api/v1/databases", body: `{"name":"y","retention":"1d"}`, header: map[string]string{"Authorization": "Token r-secret"}}, 403},
		{"reader sets a retention", authReq{method: "POST", path: "/query?db=d", body: "q=" + url.QueryEscape(`ALTER RETENTION POLICY "autogen" ON "d" DURATION 1d`), ctype: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": "Token r-secret"}}, 403},
		{"writer lists databases", authReq{method: "GET", path: "/api/v1/databases", header: map[string]string{"Authorization": "Token w-secret"}}, 403},
		{"writer creates a db", authReq{method: "POST", path: "/query", body: "q=" + url.QueryEscape(`CREATE DATABASE "telegraf"`), ctype: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": basic("telegraf", "w-secret")}}, 200},
	}
	for _, c := range scoped {
		code, b := s.do(t, c.r)
		if code != c.code {
			t.Errorf("%s: %d %s (want %d)", c.name, code, b, c.code)
		}
		if code == 403 && strings.Contains(string(b), `"values"`) {
			t.Errorf("%s leaked data: %s", c.name, b)
		}
	}
	if got := countRows(t, s, "d", "m"); got != 1 {
		t.Fatalf("rows after rejected writes: %v, want 1", got)
	}
	code, b := s.do(t, authReq{method: "GET", path: "/query?q=SHOW+DATABASES", header: map[string]string{"Authorization": "Token a-secret"}})
	if code != 200 || strings.Contains(string(b), `"x"`) || strings.Contains(string(b), `"y"`) || !strings.Contains(string(b), `"telegraf"`) {
		t.Fatalf("databases after scoped CREATE DATABASE: %d %s", code, b)
	}
	// /health and /ping stay open.
	if code, _ := s.get(t, "/health"); code != 200 {
		t.Fatalf("/health with auth on: %d", code)
	}
	if code, _ := s.get(t, "/ping"); code != 204 {
		t.Fatalf("/ping with auth on: %d", code)
	}
}

func TestParseAndLoadTokens(t *testing.T) {
	for _, bad := range []string{"", "name", "name:secret", ":s:read", "n::read", "n:s:", "n:s:root"} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "secret") && bad != "name:secret" && strings.Contains(bad, "secret") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	tok, err := ParseToken("grafana:s3cr:et:read")
	if err != nil || tok.Name != "grafana" || tok.Secret != "s3cr" {
		// The secret may not contain ':' — the third part is the scopes.
		if err == nil {
			t.Errorf("ParseToken with a colon in the secret: %+v", tok)
		}
	}
	tok, err = ParseToken("telegraf:abc:read,write")
	if err != nil || !tok.Read || !tok.Write || tok.Secret != "abc" {
		t.Fatalf("ParseToken: %+v %v", tok, err)
	}
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("# tokens\n\ngrafana:g1:read\ntelegraf:t1:write\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	toks, err := LoadTokens(path)
	if err != nil || len(toks) != 2 || toks[0].Name != "grafana" || !toks[1].Write || toks[1].Read {
		t.Fatalf("LoadTokens: %+v %v", toks, err)
	}
	if err := os.WriteFile(path, []byte("grafana:g1:sudo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTokens(path); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("LoadTokens with a bad line: %v", err)
	}
}
