package server

import (
	"context"
	"errors"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
)

// What the other listeners (the PostgreSQL wire protocol) use of the
// server, so that they run queries on the same executor, under the same
// limits and with the same tokens as the HTTP API. CompileSQL and RunSQL
// are in sql.go.

// Databases lists the databases.
func (s *Server) Databases() []string { return s.eng.Databases() }

// Tables returns db's table schemas; false when db does not exist.
func (s *Server) Tables(db string) (map[string]*columnar.TableSchema, bool) {
	return s.eng.Tables(db)
}

// QueryBudget is the memory all running queries share
// (--query-max-memory-total).
func (s *Server) QueryBudget() *exec.Budget { return s.queryMem }

// HoldAnswer returns ctx under which a query run (RunSQL, RunInfluxQL)
// keeps its answer reserved of QueryBudget in the returned hold, for a
// listener that sends the answer after the run: it charges what it
// builds from the answer to the hold too, and releases it once sent.
func (s *Server) HoldAnswer(ctx context.Context) (context.Context, query.Hold) {
	r := s.queryMem.Reserve()
	return exec.HoldAnswer(ctx, r), r
}

// Ready reports whether the engine has replayed its WAL and answers
// queries.
func (s *Server) Ready() bool { return s.eng.Ready() }

// AuthRequired reports whether tokens are configured.
func (s *Server) AuthRequired() bool { return len(s.cfg.Tokens) > 0 }

// ErrBadToken is Authenticate's answer to a secret that is no token.
var ErrBadToken = errors.New("invalid token")

// Authenticate checks secret as a token with the read scope, the scope
// SQL queries need, and returns the token's name. With auth off any secret
// passes. Its errors never hold the secret.
func (s *Server) Authenticate(secret string) (string, error) {
	if !s.AuthRequired() {
		return "", nil
	}
	t := s.findToken([]byte(secret))
	if t == nil {
		return "", ErrBadToken
	}
	if !t.has(scopeRead) {
		return t.Name, errors.New("token " + t.Name + " lacks the read scope")
	}
	return t.Name, nil
}

// AuthenticateMatch is Authenticate for a challenge-response login
// (SCRAM), where the secret never crosses the wire: match is asked of each
// token's secret until it answers true, and that token is checked for the
// read scope. With no token matching it returns ErrBadToken.
func (s *Server) AuthenticateMatch(match func(secret string) bool) (string, error) {
	if !s.AuthRequired() {
		return "", nil
	}
	for i := range s.cfg.Tokens {
		t := &s.cfg.Tokens[i]
		if t.Secret == "" || !match(t.Secret) {
			continue
		}
		if !t.has(scopeRead) {
			return t.Name, errors.New("token " + t.Name + " lacks the read scope")
		}
		return t.Name, nil
	}
	return "", ErrBadToken
}
