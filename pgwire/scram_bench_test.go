package pgwire

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/siltdb/silt/server"
)

// BenchmarkLogin times a pgx connection's login with 8 tokens configured:
// SCRAM-SHA-256 on a plain connection (after the first login, whose
// PBKDF2 derivations are kept), against no authentication. Run with
//
//	go test ./pgwire -run '^$' -bench Login
func BenchmarkLogin(b *testing.B) {
	var tokens []server.Token
	for i := range 8 {
		tokens = append(tokens, server.Token{Name: fmt.Sprint("t", i), Secret: fmt.Sprint("secret-", i), Read: true, Write: true})
	}
	for _, bc := range []struct {
		name   string
		tokens []server.Token
		pw     string
	}{{"scram", tokens, "secret-7"}, {"no-auth", nil, ""}} {
		b.Run(bc.name, func(b *testing.B) {
			e := startEnv(b, server.Config{Tokens: bc.tokens}, nil)
			e.write(b, cpuLines(1, 1), bc.pw) // the database to connect to
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				conn, err := pgx.Connect(ctx, e.dsn(bc.pw))
				if err != nil {
					b.Fatal(err)
				}
				conn.Close(ctx)
			}
		})
	}
}
