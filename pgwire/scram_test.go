package pgwire

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/siltdb/silt/server"
)

// TestSCRAM: without TLS the password is asked by SCRAM-SHA-256; pgx logs
// in with a read token (and checks the server's signature), and a wrong
// token, a token without the read scope and an empty password are
// refused with SQLSTATE 28P01. Malformed SCRAM messages are protocol
// errors.
func TestSCRAM(t *testing.T) {
	e := startEnv(t, server.Config{Tokens: []server.Token{
		{Name: "reader", Secret: "r-secret", Read: true}, {Name: "writer", Secret: "w-secret", Write: true}}}, nil)
	e.write(t, cpuLines(1, 3), "w-secret")
	want := e.sqlAPI(t, "SELECT count(*) FROM cpu", "r-secret").Rows[0][0]

	// The server offers SCRAM-SHA-256 alone.
	c := dialRaw(t, e, false)
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "raw", "database": testDB}})
	m, err := c.fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	if sasl, ok := m.(*pgproto3.AuthenticationSASL); !ok || !slices.Equal(sasl.AuthMechanisms, []string{"SCRAM-SHA-256"}) {
		t.Fatalf("want AuthenticationSASL [SCRAM-SHA-256], got %#v", m)
	}

	ctx := context.Background()
	for i := 0; i < 2; i++ { // the second login uses the cached keys
		conn, err := pgx.Connect(ctx, e.dsn("r-secret"))
		if err != nil {
			t.Fatalf("login %d with the read token: %v", i, err)
		}
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM cpu").Scan(&n); err != nil || n != want {
			t.Errorf("count %d %v, /api/v1/sql %v", n, err, want)
		}
		conn.Close(ctx)
	}
	for _, pw := range []string{"wrong", "w-secret", "r-secre", ""} {
		cfg, err := pgx.ParseConfig(e.dsn(""))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password = pw
		conn, err := pgx.ConnectConfig(ctx, cfg)
		var pe *pgconn.PgError
		if err == nil {
			conn.Close(ctx)
			t.Errorf("password %q: logged in", pw)
		} else if !errors.As(err, &pe) || pe.Code != "28P01" {
			t.Errorf("password %q: want SQLSTATE 28P01, got %v", pw, err)
		}
	}

	// Malformed exchanges: a protocol violation, then a closed connection.
	for _, tc := range []struct {
		name  string
		mech  string
		first string
	}{
		{"other mechanism", "SCRAM-SHA-1", "n,,n=,r=abc"},
		{"channel binding", "SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abc"},
		{"no nonce", "SCRAM-SHA-256", "n,,n="},
		{"bad header", "SCRAM-SHA-256", "x,,n=,r=abc"},
	} {
		c := dialRaw(t, e, false)
		c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
			Parameters: map[string]string{"user": "raw", "database": testDB}})
		c.send(&pgproto3.SASLInitialResponse{AuthMechanism: tc.mech, Data: []byte(tc.first)})
		if code := c.expectError(); code != "08P01" {
			t.Errorf("%s: SQLSTATE %s, want 08P01", tc.name, code)
		}
		c.expectClosed()
	}
	// A final message whose nonce is not the server's.
	c = dialRaw(t, e, false)
	c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "raw", "database": testDB}})
	c.send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=clientnonce")})
	c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.AuthenticationSASLContinue); return ok })
	c.send(&pgproto3.SASLResponse{Data: []byte("c=biws,r=clientnonceXXXX,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")})
	if code := c.expectError(); code != "08P01" {
		t.Errorf("foreign nonce: SQLSTATE %s, want 08P01", code)
	}
}

// TestCleartextUnderTLS: over TLS the password is asked in cleartext (the
// channel protects it), and pgx logs in with it.
func TestCleartextUnderTLS(t *testing.T) {
	cert, key := selfSigned(t, t.TempDir())
	e := startEnvPG(t, server.Config{Tokens: []server.Token{{Name: "r", Secret: "tls-secret", Read: true}}},
		Config{TLSCertFile: cert, TLSKeyFile: key}, nil)
	nc, err := net.Dial("tcp", e.pg)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	fe := pgproto3.NewFrontend(nc, nc)
	fe.Send(&pgproto3.SSLRequest{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := nc.Read(b[:]); err != nil || b[0] != 'S' {
		t.Fatalf("SSLRequest answered %q %v", b[0], err)
	}
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true}) // the test's own self-signed certificate
	fe = pgproto3.NewFrontend(tc, tc)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "raw", "database": testDB}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	m, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Fatalf("under TLS want AuthenticationCleartextPassword, got %#v", m)
	}
	fe.Send(&pgproto3.PasswordMessage{Password: "wrong"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	m, err = fe.Receive()
	if er, ok := m.(*pgproto3.ErrorResponse); err != nil || !ok || er.Code != "28P01" {
		t.Fatalf("wrong password under TLS: %#v %v", m, err)
	}
}
