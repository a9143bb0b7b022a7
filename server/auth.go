package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/internal/flagutil"
)

// Token is one API token. With no tokens configured, auth is off.
type Token struct {
	Name   string
	Secret string
	Read   bool
	Write  bool
	// Admin allows what destroys data or changes how long it is kept
	// (DROP DATABASE, DROP MEASUREMENT, DELETE, retention) and the
	// profiling endpoints; an admin token may also read and write.
	Admin bool
	// Cluster allows a query node's calls to a writer's internal API
	// (docs/scaling.md). No other scope grants it, admin and all
	// included: a node's credential is given to nodes, not people.
	Cluster bool
}

// ParseToken reads NAME:SECRET:SCOPES, SCOPES being a comma-separated list
// of read, write, admin and cluster ("rw" is read,write; "all" and "admin"
// are the first three).
func ParseToken(s string) (Token, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return Token{}, fmt.Errorf("bad token %q: want NAME:SECRET:SCOPES (read, write, admin, comma-separated)", redact(s))
	}
	t := Token{Name: parts[0], Secret: parts[1]}
	for _, sc := range strings.FieldsFunc(parts[2], func(r rune) bool { return r == ',' || r == '+' || r == ' ' }) {
		switch strings.ToLower(sc) {
		case "read":
			t.Read = true
		case "write":
			t.Write = true
		case "rw", "read-write":
			t.Read, t.Write = true, true
		case "admin", "all":
			t.Read, t.Write, t.Admin = true, true, true
		case "cluster":
			t.Cluster = true
		default:
			return Token{}, fmt.Errorf("token %s: unknown scope %q (want read, write, admin or cluster)", t.Name, sc)
		}
	}
	if !t.Read && !t.Write && !t.Cluster {
		return Token{}, fmt.Errorf("token %s: no scope (want read, write, admin or cluster)", t.Name)
	}
	return t, nil
}

// redact hides the secret of a NAME:SECRET:SCOPES string in errors.
func redact(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i] + ":***"
	}
	return "***"
}

// ClusterToken returns the first of tokens with the cluster scope, or nil:
// the credential a query node presents to writers when it is given none
// of its own (the nodes of a cluster usually share one tokens file).
func ClusterToken(tokens []Token) *Token {
	for i := range tokens {
		if tokens[i].Cluster {
			return &tokens[i]
		}
	}
	return nil
}

// LoadTokens reads a tokens file: one NAME:SECRET:SCOPES a line; blank
// lines and lines starting with # are skipped. The file must be private to
// its owner (flagutil.ReadSecretFile): a tokens file others can read is
// refused.
func LoadTokens(path string) ([]Token, error) {
	b, err := flagutil.ReadSecretFile(path)
	if err != nil {
		return nil, err
	}
	return parseTokens(path, string(b), false)
}

// ParseTokens reads tokens from the value of an environment variable: the
// tokens file's syntax, where a semicolon may also separate tokens (an
// environment variable is awkward to give on several lines).
func ParseTokens(name, value string) ([]Token, error) {
	return parseTokens(name, value, true)
}

// parseTokens reads NAME:SECRET:SCOPES lines of text from src (a file or
// a variable, named in errors with the line number), skipping blank lines
// and # comments; with semis, ';' also ends a token.
func parseTokens(src, text string, semis bool) ([]Token, error) {
	var out []Token
	for n, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		items := []string{line}
		if semis {
			items = strings.Split(line, ";")
		}
		for _, item := range items {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			t, err := ParseToken(item)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", src, n+1, err)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// scope is what an endpoint needs.
type scope uint8

const (
	scopeNone scope = iota // open: /health, /ping
	scopeAny               // any valid token; the handler checks more (/query)
	scopeRead
	scopeWrite
	scopeAdmin
)

func (sc scope) String() string {
	switch sc {
	case scopeRead:
		return "read"
	case scopeWrite:
		return "write"
	case scopeAdmin:
		return "admin"
	}
	// scopeAny: refused only to a token of the cluster scope alone.
	return "read or write"
}

// has reports whether t grants sc.
func (t *Token) has(sc scope) bool {
	switch sc {
	case scopeRead:
		return t.Read || t.Admin
	case scopeWrite:
		return t.Write || t.Admin
	case scopeAdmin:
		return t.Admin
	}
	// Any scope of the public API: a token with only the cluster scope
	// opens no endpoint here.
	return t.Read || t.Write || t.Admin
}

// pathScope is what a request for path with method needs, known from the
// request line alone so that it can be checked before the body is read.
func pathScope(method []byte, path string) scope {
	switch path {
	case "/api/v1/databases":
		switch string(method) {
		case fasthttp.MethodDelete:
			return scopeAdmin // drops a database or a table
		case fasthttp.MethodPost:
			return scopeWrite // creates a database; setting retention needs admin (handleCreateDatabase)
		}
		return scopeRead
	case "/api/v2/buckets", "/api/v3/configure/database":
		switch string(method) {
		case fasthttp.MethodDelete:
			return scopeAdmin // drops a database
		case fasthttp.MethodPost:
			return scopeWrite // creates a database; setting retention needs admin (handleBuckets)
		}
		return scopeRead
	case "/api/v3/write_lp":
		return scopeWrite
	case "/api/v2/query", "/api/v2/orgs":
		return scopeAny // Flux's refusal; organizations, which hold nothing
	case "/health", "/ping":
		return scopeNone
	case "/write", "/api/v2/write", "/api/v1/ingest", "/api/v1/write", "/api/v1/import/csv":
		return scopeWrite
	case "/query":
		return scopeAny // each statement is checked by its kind (handleQuery)
	}
	if path == backupPath || path == backupFilePath {
		return scopeAdmin // a snapshot holds every database's data
	}
	if strings.HasPrefix(path, "/debug/pprof") {
		return scopeAdmin
	}
	return scopeRead
}

// findToken returns the configured token whose secret is secret, or nil.
func (s *Server) findToken(secret []byte) *Token {
	if len(secret) == 0 {
		return nil
	}
	for i := range s.cfg.Tokens {
		t := &s.cfg.Tokens[i]
		if subtle.ConstantTimeCompare([]byte(t.Secret), secret) == 1 {
			return t
		}
	}
	return nil
}

// denial is why a request may not go on: a status, a stable code and a
// message. The zero denial lets it go on.
type denial struct {
	status    int
	code, msg string
}

const msgAuthRequired = "authentication required: send Authorization: Token <token> (or Bearer, or Basic with the token as password, or the u/p parameters)"

// check decides from a request's credentials whether it may use path.
func (s *Server) check(need scope, path string, secret []byte, how string) (*Token, denial) {
	if need == scopeNone || len(s.cfg.Tokens) == 0 {
		return nil, denial{}
	}
	t := s.findToken(secret)
	if t == nil {
		msg := msgAuthRequired
		if how != "" {
			msg = "invalid token (from " + how + ")"
		}
		return nil, denial{fasthttp.StatusUnauthorized, "unauthorized", msg}
	}
	if !t.has(need) {
		return nil, denial{fasthttp.StatusForbidden, "insufficient-scope", "token " + t.Name + " lacks the " + need.String() + " scope for " + path}
	}
	return t, denial{}
}

func (s *Server) deny(ctx *fasthttp.RequestCtx, d denial) {
	switch d.status {
	case fasthttp.StatusUnauthorized:
		// A script in a browser (the console) marks its calls: a Basic
		// challenge would make the browser open its own password dialog
		// over the page's login, and block the call until it is closed.
		if string(ctx.Request.Header.Peek("X-Requested-With")) == "XMLHttpRequest" {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="silt"`)
		} else {
			ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="silt"`)
		}
	case fasthttp.StatusTooManyRequests, fasthttp.StatusServiceUnavailable:
		// Load refusals (budget.go) pass within a request's time.
		ctx.Response.Header.Set("Retry-After", "1")
	}
	s.writeError(ctx, d.status, d.code, d.msg)
}

// headerCheck decides from the request line and headers alone, before any
// of the body is read, whether the request may go on. Credentials sent in
// a form body (InfluxDB v1 clients' p parameter) are not seen here: such a
// request is let through to the handler with a small body budget.
func (s *Server) headerCheck(h *fasthttp.RequestHeader) (*Token, denial) {
	if len(s.cfg.Tokens) == 0 {
		return nil, denial{}
	}
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if err := u.Parse(nil, h.RequestURI()); err != nil {
		return nil, denial{fasthttp.StatusBadRequest, "bad-request", "the request URI does not parse"}
	}
	secret, how := credentials(h.Peek("Authorization"), u.QueryArgs(), nil)
	return s.check(pathScope(h.Method(), string(u.Path())), string(u.Path()), secret, how)
}

// formAuthBodyBytes is the body a request may send before its credentials
// are known when they may be in the body itself (a form's p parameter).
const formAuthBodyBytes = 1 << 20

// headerReceived runs after the headers are read and before the body is:
// a request that may not go on gets a body budget of one byte, so that
// fasthttp refuses its body without buffering it and transportError
// answers 401/403 instead of 413.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	tok, d := s.headerCheck(h)
	limit := s.cfg.MaxBodyBytes
	if d.status == fasthttp.StatusUnauthorized && isFormType(h) {
		// The credentials may be in the body: a small budget for it.
		limit = min(formAuthBodyBytes, s.cfg.MaxBodyBytes)
		d = denial{}
	}
	if d.status != 0 && s.budget.on() {
		// Refused for its credentials: nothing of an earlier request on
		// this connection (one fasthttp dropped) may stay held.
		s.budget.release(h)
	}
	if d.status == 0 && s.budget.on() {
		client := ""
		if tok != nil {
			client = tokenClient(tok)
		}
		// Refused for the server's load: the body is refused unread, and
		// transportError (or the handler, for a body of a byte or none)
		// answers the refusal.
		d = s.budget.admitHeaders(h, client, bodyReserve(h, limit))
	}
	switch {
	case d.status != 0:
		return fasthttp.RequestConfig{MaxRequestBodySize: 1}
	case limit != s.cfg.MaxBodyBytes:
		return fasthttp.RequestConfig{MaxRequestBodySize: limit}
	}
	return fasthttp.RequestConfig{}
}

// expect answers Expect: 100-continue requests that may not go on without
// asking for their body. A refusal is answered as the handlers answer it
// (deny: the error body, Retry-After on 503/429, the auth challenge), not
// with fasthttp's bare status: a client retrying on backpressure reads
// Retry-After from it. fasthttp writes the response as set here after
// setting the status we return (and closes the connection, since the
// client may already be sending its body).
func (s *Server) expect(ctx *fasthttp.RequestCtx) int {
	h := &ctx.Request.Header
	if d := s.budget.refusal(h); d.status != 0 {
		s.budget.release(h) // no handler runs to give it back
		s.deny(ctx, d)
		return d.status
	}
	_, d := s.headerCheck(h)
	if d.status == 0 || (d.status == fasthttp.StatusUnauthorized && isFormType(h)) {
		s.budget.watchConn(h, ctx.Conn())
		return fasthttp.StatusContinue
	}
	s.budget.release(h)
	s.deny(ctx, d)
	return d.status
}

// authorize answers 401/403 unless the request may use path; it returns
// the token (nil when auth is off) for endpoints that check more.
func (s *Server) authorize(ctx *fasthttp.RequestCtx, path string) (*Token, bool) {
	need := pathScope(ctx.Method(), path)
	if need == scopeNone || len(s.cfg.Tokens) == 0 {
		return nil, true
	}
	var form *fasthttp.Args
	if isForm(ctx) {
		form = ctx.PostArgs()
	}
	secret, how := credentials(ctx.Request.Header.Peek("Authorization"), ctx.QueryArgs(), form)
	t, d := s.check(need, path, secret, how)
	if d.status != 0 {
		s.deny(ctx, d)
		return nil, false
	}
	return t, true
}

// credentials finds a request's secret: Authorization Token/Bearer, Basic
// with the token as the password, or the p parameter of InfluxDB v1
// clients (in the URL, or in form, a form body's parameters).
func credentials(authz []byte, query, form *fasthttp.Args) (secret []byte, how string) {
	if len(authz) > 0 {
		scheme, rest, _ := bytes.Cut(bytes.TrimSpace(authz), []byte(" "))
		rest = bytes.TrimSpace(rest)
		switch strings.ToLower(string(scheme)) {
		case "token", "bearer":
			return rest, "the Authorization header"
		case "basic":
			raw, err := base64.StdEncoding.DecodeString(string(rest))
			if err != nil {
				return nil, "the Authorization header (bad Basic encoding)"
			}
			_, pass, _ := bytes.Cut(raw, []byte(":"))
			return pass, "the Authorization header"
		}
		return nil, "the Authorization header (unknown scheme)"
	}
	if p := query.Peek("p"); len(p) > 0 {
		return p, "the p parameter"
	}
	if form != nil {
		if p := form.Peek("p"); len(p) > 0 {
			return p, "the p parameter"
		}
	}
	return nil, ""
}

func isForm(ctx *fasthttp.RequestCtx) bool {
	return ctx.IsPost() && isFormType(&ctx.Request.Header)
}

func isFormType(h *fasthttp.RequestHeader) bool {
	return h.IsPost() && bytes.HasPrefix(h.ContentType(), []byte("application/x-www-form-urlencoded"))
}
