package server

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/siltdb/silt/docs"
)

// The kinds of body the API sends that kin-openapi has no decoder for:
// checked for their content type, their bytes taken as they are.
func init() {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/vnd.apache.arrow.stream", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/css", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("image/svg+xml", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/jsonl", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/x-protobuf", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/vnd.apache.parquet", openapi3filter.FileBodyDecoder)
}

// loadSpec parses and validates docs/openapi.yaml (as embedded in the
// binary) with its server set to base.
func loadSpec(t testing.TB, base string) (*openapi3.T, routers.Router) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatalf("parse docs/openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("route docs/openapi.yaml: %v", err)
	}
	return doc, router
}

// contractCheck is an http.RoundTripper that validates each request and
// its answer against the OpenAPI description and records the operations
// it saw, so a test set can prove it covered them all.
type contractCheck struct {
	t      *testing.T
	router routers.Router
	next   http.RoundTripper

	mu   sync.Mutex
	seen map[string]bool // "GET /api/v1/sql"

	// Set per request by do: the request breaks the contract on purpose
	// (a missing required parameter), to check the error answer.
	expectBadRequest bool
}

func (c *contractCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
	}
	reset := func() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	reset()
	what := req.Method + " " + req.URL.RequestURI()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s: not described by docs/openapi.yaml: %v", what, err)
		return c.next.RoundTrip(req)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case c.expectBadRequest && err == nil:
		c.t.Errorf("%s: the description accepts a request the test sends as breaking it", what)
	case !c.expectBadRequest && err != nil:
		c.t.Errorf("%s: request does not match docs/openapi.yaml: %v", what, err)
	}
	reset()
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Errorf("%s: answer %d does not match docs/openapi.yaml: %v\nbody: %.300s", what, resp.StatusCode, err, raw)
	}
	if resp.Header.Get(RequestIDHeader) == "" {
		c.t.Errorf("%s: answer has no %s", what, RequestIDHeader)
	}
	c.mu.Lock()
	c.seen[req.Method+" "+route.Path] = true
	c.mu.Unlock()
	return resp, nil
}

// apiCall is one request of the contract test and the status it must get.
type apiCall struct {
	method, path string
	body         string
	hdr          []string // name, value pairs
	status       int
	badRequest   bool // breaks the contract on purpose
}

// TestOpenAPIContract sends requests to every endpoint, successes and
// errors, through a client that validates each request and answer against
// docs/openapi.yaml, and fails when an operation of the description was
// not exercised.
func TestOpenAPIContract(t *testing.T) {
	ts := startServerWith(t, Config{DebugPprof: true})
	doc, router := loadSpec(t, ts.url)
	check := &contractCheck{t: t, router: router, next: http.DefaultTransport, seen: map[string]bool{}}
	client := &http.Client{Transport: check}

	const text, form, jsonType, ndjson, octet = "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "application/json", "application/x-ndjson", "application/octet-stream"
	q := url.QueryEscape
	calls := []apiCall{
		// Writes.
		{method: "POST", path: "/write?db=oa&precision=ns", body: lpSample, hdr: []string{"Content-Type", text}, status: 204},
		{method: "POST", path: "/write?db=oa", body: "cpu,hostname=host_9 usage_user=1\ncpu,hostname=host_9 usage_user=12x\n", hdr: []string{"Content-Type", text}, status: 400},
		{method: "POST", path: "/write?db=oa", body: gz(t, lpSample), hdr: []string{"Content-Type", octet, "Content-Encoding", "gzip"}, status: 204},
		{method: "POST", path: "/write?db=oa", body: lpSample, hdr: []string{"Content-Type", text, "Content-Encoding", "br"}, status: 415},
		{method: "POST", path: "/write", body: lpSample, hdr: []string{"Content-Type", text}, status: 400, badRequest: true},
		{method: "POST", path: "/api/v2/write?bucket=oa&org=o&precision=s", body: "mem,host=a used=1 1700000000\n", hdr: []string{"Content-Type", text}, status: 204},
		{method: "POST", path: "/api/v1/ingest?db=oa&table=cpu", body: ndjsonSample, hdr: []string{"Content-Type", ndjson}, status: 204},
		{method: "POST", path: "/api/v1/ingest?db=oa&table=disk&tags=host", body: `{"time":"2023-11-14T22:13:20Z","host":"a","path":"/","free":1}`, hdr: []string{"Content-Type", jsonType}, status: 204},
		{method: "POST", path: "/api/v1/ingest?db=oa&table=cpu", body: "{\"usage_user\":\n", hdr: []string{"Content-Type", ndjson}, status: 400},

		// InfluxQL.
		{method: "GET", path: "/query?db=oa&q=" + q("SELECT * FROM cpu; SHOW MEASUREMENTS"), status: 200},
		{method: "GET", path: "/query?db=oa&epoch=ms&pretty=true&q=" + q("SELECT mean(usage_user) FROM cpu WHERE time > 0 GROUP BY time(1h), hostname"), status: 200},
		{method: "GET", path: "/query?db=oa&q=" + q("SELECT * FROM cpu"), hdr: []string{"Accept", "application/csv"}, status: 200},
		{method: "GET", path: "/query?db=nope&q=" + q("SELECT * FROM cpu"), status: 200}, // the statement's error, in its result
		{method: "GET", path: "/query?q=SELEKT", status: 400},
		{method: "GET", path: "/query?db=oa&q=" + q("DROP MEASUREMENT mem"), status: 405},
		{method: "GET", path: "/query?q=SELEKT", hdr: []string{"Accept", "application/csv"}, status: 400},
		{method: "GET", path: "/query", status: 400, badRequest: true},
		{method: "POST", path: "/query", body: "q=" + q("CREATE DATABASE oa2") + "&db=oa", hdr: []string{"Content-Type", form}, status: 200},
		{method: "POST", path: "/query?db=oa", body: "SHOW TAG KEYS FROM cpu", hdr: []string{"Content-Type", text}, status: 200},

		// SQL.
		{method: "GET", path: "/api/v1/sql?db=oa&q=" + q("SELECT hostname, avg(usage_user) AS u FROM cpu GROUP BY hostname ORDER BY hostname"), status: 200},
		{method: "GET", path: "/api/v1/sql?db=oa&format=csv&resolution=raw&q=" + q("SELECT * FROM cpu"), status: 200},
		{method: "GET", path: "/api/v1/sql?db=oa&format=arrow&q=" + q("SELECT time, usage_user FROM cpu"), status: 200},
		{method: "GET", path: "/api/v1/sql?db=oa&q=" + q("SELEC 1"), status: 400},
		{method: "GET", path: "/api/v1/sql?db=nope&q=" + q("SELECT 1"), status: 404},
		{method: "GET", path: "/api/v1/sql?db=oa&format=xml&q=" + q("SELECT 1"), status: 400, badRequest: true},
		{method: "GET", path: "/api/v1/sql?q=" + q("SELECT 1"), status: 400, badRequest: true},
		{method: "POST", path: "/api/v1/sql?db=oa", body: "SELECT count(*) FROM cpu", hdr: []string{"Content-Type", text}, status: 200},
		{method: "POST", path: "/api/v1/sql", body: `{"db": "oa", "sql": "SELECT max(usage_user) FROM cpu"}`, hdr: []string{"Content-Type", jsonType}, status: 200},
		{method: "POST", path: "/api/v1/sql", body: "db=oa&format=csv&q=" + q("SELECT count(*) FROM mem"), hdr: []string{"Content-Type", form}, status: 200},

		// Schema.
		{method: "GET", path: "/api/v1/databases", status: 200},
		{method: "POST", path: "/api/v1/databases", body: `{"name": "oa3", "retention": "30d"}`, hdr: []string{"Content-Type", jsonType}, status: 200},
		{method: "POST", path: "/api/v1/databases?name=oa4", status: 200},
		{method: "POST", path: "/api/v1/databases?name=oa5&retention=soon", status: 400},
		{method: "GET", path: "/api/v1/tables?db=oa", status: 200},
		{method: "GET", path: "/api/v1/tables?db=nope", status: 404},
		{method: "GET", path: "/api/v1/export?db=oa", status: 200},
		{method: "GET", path: "/api/v1/export?db=oa&table=mem", status: 200},
		{method: "GET", path: "/api/v1/export?db=oa&table=nope", status: 404},
		{method: "DELETE", path: "/api/v1/databases?db=oa&table=mem", status: 200},
		{method: "DELETE", path: "/api/v1/databases?db=oa4", status: 200},
		{method: "DELETE", path: "/api/v1/databases?db=nope", status: 404},

		// Operations.
		{method: "GET", path: "/ping", status: 204},
		{method: "HEAD", path: "/ping", status: 204},
		{method: "GET", path: "/health", status: 200},
		{method: "GET", path: "/ready", status: 200},
		{method: "GET", path: "/metrics", status: 200},
		{method: "GET", path: "/api/openapi.yaml", status: 200},
		{method: "GET", path: "/debug/pprof/heap?debug=1", status: 200},
		{method: "GET", path: "/debug/pprof/goroutine", status: 200},
		{method: "GET", path: "/debug/pprof/cmdline", status: 404},
	}
	calls = append(calls, promContractCalls(t)...)  // openapi_calls_test.go
	calls = append(calls, influxContractCalls()...) // openapi_calls_test.go

	// The console's export and upload (openapi_calls_test.go).
	calls = append(calls, consoleContractCalls()...)
	do := func(c apiCall) []byte {
		t.Helper()
		check.expectBadRequest = c.badRequest
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, err := http.NewRequest(c.method, ts.url+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(c.hdr); i += 2 {
			req.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d: %.300s", c.method, c.path, resp.StatusCode, c.status, raw)
		}
		return raw
	}
	for _, c := range calls {
		do(c)
	}
	backupContractCalls(t, do) // openapi_calls_test.go

	// Every operation the description promises was exercised.
	var missed []string
	for _, path := range doc.Paths.InMatchingOrder() {
		for method := range doc.Paths.Value(path).Operations() {
			if !check.seen[method+" "+path] {
				missed = append(missed, method+" "+path)
			}
		}
	}
	sort.Strings(missed)
	if len(missed) > 0 {
		t.Errorf("operations of docs/openapi.yaml no request of this test exercised: %v", missed)
	}
}

// TestOpenAPIServed checks that /api/openapi.yaml is the description
// built into the binary.
func TestOpenAPIServed(t *testing.T) {
	ts := startServer(t, 0)
	code, body := ts.get(t, "/api/openapi.yaml")
	if code != 200 || !bytes.Equal(body, docs.OpenAPI) {
		t.Fatalf("GET /api/openapi.yaml: %d, %d bytes; want 200 and docs/openapi.yaml (%d bytes)", code, len(body), len(docs.OpenAPI))
	}
}

// TestOpenAPIDescribesEveryRoute reads the server's routes from its source
// (the path cases of route and knownPath, and the prefixes route matches
// with strings.HasPrefix) and fails for any that docs/openapi.yaml does not
// describe: an endpoint added to the server needs its entry in the
// description.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, _ := loadSpec(t, "http://127.0.0.1")
	exact, prefixes := serverRoutes(t)
	if len(exact) < 10 {
		t.Fatalf("found only %d routes in the server's source (%v): has the route switch moved?", len(exact), exact)
	}
	specPaths := doc.Paths.InMatchingOrder()
	for _, r := range exact {
		if !slices.ContainsFunc(specPaths, func(p string) bool { return templateMatches(p, r) }) {
			t.Errorf("the server routes %s, which docs/openapi.yaml does not describe", r)
		}
	}
	for _, p := range prefixes {
		if !slices.ContainsFunc(specPaths, func(s string) bool { return strings.HasPrefix(s, p) }) {
			t.Errorf("the server routes paths under %s, which docs/openapi.yaml does not describe", p)
		}
	}
}

// serverRoutes lists the string literals starting with "/" of the case
// clauses in the server's route and knownPath functions (exact paths),
// and the first arguments of strings.HasPrefix(path, "/...") in route
// (path prefixes).
func serverRoutes(t *testing.T) (exact, prefixes []string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || (fn.Name.Name != "route" && fn.Name.Name != "knownPath") {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CaseClause:
					for _, e := range n.List {
						if s, ok := pathLiteral(e); ok && !seen[s] {
							seen[s] = true
							exact = append(exact, s)
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "HasPrefix" && len(n.Args) == 2 {
						if s, ok := pathLiteral(n.Args[1]); ok {
							prefixes = append(prefixes, s)
						}
					}
				}
				return true
			})
		}
	}
	return exact, prefixes
}

func pathLiteral(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil || !strings.HasPrefix(s, "/") {
		return "", false
	}
	return s, true
}

// templateMatches says whether the OpenAPI path template tmpl ("/a/{b}")
// matches the path p.
func templateMatches(tmpl, p string) bool {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(p, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}") {
			continue
		}
		if ts[i] != ps[i] {
			return false
		}
	}
	return true
}
