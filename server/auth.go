package server

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/valyala/fasthttp"
)

// Token is one API token. With no tokens configured, auth is off.
type Token struct {
	Name   string
	Secret string
	Read   bool
	Write  bool
}

// ParseToken reads NAME:SECRET:SCOPES, SCOPES being read, write or
// read,write (also "rw" and "all").
func ParseToken(s string) (Token, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return Token{}, fmt.Errorf("bad token %q: want NAME:SECRET:read|write|read,write", redact(s))
	}
	t := Token{Name: parts[0], Secret: parts[1]}
	for _, sc := range strings.FieldsFunc(parts[2], func(r rune) bool { return r == ',' || r == '+' || r == ' ' }) {
		switch strings.ToLower(sc) {
		case "read":
			t.Read = true
		case "write":
			t.Write = true
		case "rw", "all", "read-write":
			t.Read, t.Write = true, true
		default:
			return Token{}, fmt.Errorf("token %s: unknown scope %q (want read, write or read,write)", t.Name, sc)
		}
	}
	if !t.Read && !t.Write {
		return Token{}, fmt.Errorf("token %s: no scope (want read, write or read,write)", t.Name)
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

// LoadTokens reads a tokens file: one NAME:SECRET:SCOPES a line; blank
// lines and lines starting with # are skipped.
func LoadTokens(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens file: %w", err)
	}
	defer f.Close()
	var out []Token
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, err := ParseToken(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

// scope is what an endpoint needs.
type scope uint8

const (
	scopeNone scope = iota // open: /health, /ping
	scopeAny               // any valid token; the handler checks more (/query)
	scopeRead
	scopeWrite
)

func pathScope(ctx *fasthttp.RequestCtx, path string) scope {
	switch path {
	case "/api/v1/databases":
		if ctx.IsPost() {
			return scopeWrite // creates a database, sets retention
		}
		return scopeRead
	case "/health", "/ping":
		return scopeNone
	case "/write", "/api/v2/write", "/api/v1/ingest":
		return scopeWrite
	case "/query":
		return scopeAny
	}
	// /query checks write statements itself (CREATE DATABASE).
	return scopeRead
}

// authenticate finds the request's token: Authorization Token/Bearer,
// Basic with the token as the password, or the u/p parameters of InfluxDB
// v1 clients (in the URL or a form body). It answers 401 and returns nil
// when auth is on and no configured token matches.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx) (*Token, bool) {
	if len(s.cfg.Tokens) == 0 {
		return nil, true
	}
	secret, how := credentials(ctx)
	if secret != "" {
		for i := range s.cfg.Tokens {
			t := &s.cfg.Tokens[i]
			if subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1 {
				return t, true
			}
		}
	}
	msg := "authentication required: send Authorization: Token <token> (or Bearer, or Basic with the token as password, or the u/p parameters)"
	if how != "" {
		msg = "invalid token (from " + how + ")"
	}
	ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="silt"`)
	s.writeError(ctx, fasthttp.StatusUnauthorized, "unauthorized", msg)
	return nil, false
}

func credentials(ctx *fasthttp.RequestCtx) (secret, how string) {
	h := ctx.Request.Header.Peek("Authorization")
	if len(h) > 0 {
		scheme, rest, _ := bytes.Cut(bytes.TrimSpace(h), []byte(" "))
		rest = bytes.TrimSpace(rest)
		switch strings.ToLower(string(scheme)) {
		case "token", "bearer":
			return string(rest), "the Authorization header"
		case "basic":
			raw, err := base64.StdEncoding.DecodeString(string(rest))
			if err != nil {
				return "", "the Authorization header (bad Basic encoding)"
			}
			_, pass, _ := bytes.Cut(raw, []byte(":"))
			return string(pass), "the Authorization header"
		}
		return "", "the Authorization header (unknown scheme)"
	}
	if p := ctx.QueryArgs().Peek("p"); len(p) > 0 {
		return string(p), "the p parameter"
	}
	if isForm(ctx) {
		if p := ctx.PostArgs().Peek("p"); len(p) > 0 {
			return string(p), "the p parameter"
		}
	}
	return "", ""
}

func isForm(ctx *fasthttp.RequestCtx) bool {
	return ctx.IsPost() && bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("application/x-www-form-urlencoded"))
}

// authorize answers 401/403 unless the request may use path; it returns
// the token (nil when auth is off) for endpoints that check more.
func (s *Server) authorize(ctx *fasthttp.RequestCtx, path string) (*Token, bool) {
	need := pathScope(ctx, path)
	if need == scopeNone || len(s.cfg.Tokens) == 0 {
		return nil, true
	}
	t, ok := s.authenticate(ctx)
	if !ok {
		return nil, false
	}
	if (need == scopeRead && !t.Read) || (need == scopeWrite && !t.Write) {
		what := "read"
		if need == scopeWrite {
			what = "write"
		}
		s.writeError(ctx, fasthttp.StatusForbidden, "insufficient-scope", "token "+t.Name+" lacks the "+what+" scope for "+path)
		return nil, false
	}
	return t, true
}
