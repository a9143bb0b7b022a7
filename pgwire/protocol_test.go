package pgwire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/siltdb/silt/server"
)

// rawClient speaks the protocol message by message, to send what no
// driver sends.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	fe *pgproto3.Frontend
}

func dialRaw(t *testing.T, e *testEnv, login bool) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", e.pg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &rawClient{t: t, nc: nc, fe: pgproto3.NewFrontend(nc, nc)}
	if login {
		c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
			Parameters: map[string]string{"user": "raw", "database": testDB}})
		c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok })
	}
	return c
}

func (c *rawClient) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	for _, m := range msgs {
		c.fe.Send(m)
	}
	if err := c.fe.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// until reads messages until stop says so and returns them.
func (c *rawClient) until(stop func(pgproto3.BackendMessage) bool) []pgproto3.BackendMessage {
	c.t.Helper()
	var out []pgproto3.BackendMessage
	for {
		m, err := c.fe.Receive()
		if err != nil {
			c.t.Fatalf("receive after %d messages: %v", len(out), err)
		}
		out = append(out, copyMsg(m))
		if stop(m) {
			return out
		}
	}
}

// copyMsg keeps what the tests look at of a message pgproto3 reuses.
func copyMsg(m pgproto3.BackendMessage) pgproto3.BackendMessage {
	if e, ok := m.(*pgproto3.ErrorResponse); ok {
		cp := *e
		return &cp
	}
	return m
}

// expectError reads up to an ErrorResponse and returns its code.
func (c *rawClient) expectError() string {
	c.t.Helper()
	msgs := c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ErrorResponse); return ok })
	return msgs[len(msgs)-1].(*pgproto3.ErrorResponse).Code
}

// expectClosed checks the server closed the connection.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	for {
		_, err := c.fe.Receive()
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
			c.t.Fatalf("want the connection closed, got %v", err)
		}
		return
	}
}

// TestBadInput sends malformed and oversized messages: each gets a
// protocol error (08P01) or a closed connection, never a crash, and the
// listener goes on serving.
func TestBadInput(t *testing.T) {
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	raw := func(b ...[]byte) *rawClient {
		c := dialRaw(t, e, true)
		for _, x := range b {
			if _, err := c.nc.Write(x); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	msg := func(typ byte, body []byte) []byte {
		out := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(out[1:], uint32(len(body)+4))
		return append(out, body...)
	}
	cases := []struct {
		name string
		in   []byte
	}{
		{"unknown type", msg('Z', nil)},
		{"length below 4", []byte{'Q', 0, 0, 0, 2}},
		{"negative length", []byte{'Q', 0xff, 0xff, 0xff, 0xff}},
		{"too large", []byte{'Q', 0x7f, 0xff, 0xff, 0xff}},
		{"query without NUL", msg('Q', []byte("SELECT 1"))},
		{"truncated bind", msg('B', []byte{0, 0, 0, 5})},
		{"bind with a huge count", msg('B', []byte{0, 0, 0xff, 0xff})},
		{"describe of nothing", msg('D', nil)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := raw(c.in)
			if code := cl.expectError(); code != "08P01" {
				t.Errorf("SQLSTATE %s, want 08P01", code)
			}
			cl.expectClosed()
		})
	}
	// A message over the limit is refused from its header, before its
	// body is read.
	t.Run("limit", func(t *testing.T) {
		// Only the header of a Query one byte over the limit: the
		// refusal must come from it alone. (Sending the body too raced
		// with the close that follows the refusal: the client's write
		// then failed with a reset.)
		hdr := []byte{'Q', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hdr[1:], uint32(e.l.cfg.MaxMessageBytes+5)) // the length counts its own 4 bytes
		cl := raw(hdr)
		if code := cl.expectError(); code != "08P01" {
			t.Errorf("SQLSTATE %s, want 08P01", code)
		}
	})
	// Startup packets.
	for name, pkt := range map[string][]byte{
		"short startup":        {0, 0, 0, 5, 0},
		"huge startup":         {0, 0x10, 0, 0, 0, 3, 0, 0},
		"protocol 2":           {0, 0, 0, 8, 0, 2, 0, 0},
		"startup without user": {0, 0, 0, 9, 0, 3, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			cl := dialRaw(t, e, false)
			if _, err := cl.nc.Write(pkt); err != nil {
				t.Fatal(err)
			}
			cl.expectClosed()
		})
	}
	// After all that, the listener answers.
	cl := dialRaw(t, e, true)
	cl.send(&pgproto3.Query{String: "SELECT count(*) FROM cpu"})
	msgs := cl.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok })
	if len(msgs) != 4 {
		t.Errorf("count after bad input: %d messages", len(msgs))
	}
}

// TestExtendedErrorsSkipToSync: after an error in the extended protocol
// the messages up to Sync are skipped, and the connection is usable
// after it.
func TestExtendedErrorsSkipToSync(t *testing.T) {
	e := startEnv(t, server.Config{}, nil)
	loadCPU(t, e, "")
	cl := dialRaw(t, e, true)
	cl.send(&pgproto3.Parse{Query: "SELECT count(*) FROM cpu WHERE hostname = $1"},
		&pgproto3.Bind{Parameters: [][]byte{[]byte("a"), []byte("b")}}, // one too many
		&pgproto3.Execute{}, &pgproto3.Sync{})
	msgs := cl.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok })
	var kinds []string
	for _, m := range msgs {
		kinds = append(kinds, strings.TrimPrefix(typeName(m), "*pgproto3."))
	}
	if strings.Join(kinds, ",") != "ParseComplete,ErrorResponse,ReadyForQuery" {
		t.Errorf("messages %v", kinds)
	}
	cl.send(&pgproto3.Bind{Parameters: [][]byte{[]byte("host_1")}}, &pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{}, &pgproto3.Sync{})
	msgs = cl.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok })
	kinds = kinds[:0]
	for _, m := range msgs {
		kinds = append(kinds, typeName(m))
	}
	if strings.Join(kinds, ",") != "*pgproto3.BindComplete,*pgproto3.RowDescription,*pgproto3.DataRow,*pgproto3.CommandComplete,*pgproto3.ReadyForQuery" {
		t.Errorf("messages %v", kinds)
	}
	// Execute with a row limit suspends the portal.
	cl.send(&pgproto3.Parse{Name: "all", Query: "SELECT hostname FROM cpu LIMIT 3"}, &pgproto3.Bind{PreparedStatement: "all"},
		&pgproto3.Execute{MaxRows: 2}, &pgproto3.Execute{MaxRows: 2}, &pgproto3.Sync{})
	msgs = cl.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok })
	kinds = kinds[:0]
	for _, m := range msgs {
		kinds = append(kinds, typeName(m))
	}
	if strings.Join(kinds, ",") != "*pgproto3.ParseComplete,*pgproto3.BindComplete,*pgproto3.DataRow,*pgproto3.DataRow,*pgproto3.PortalSuspended,*pgproto3.DataRow,*pgproto3.CommandComplete,*pgproto3.ReadyForQuery" {
		t.Errorf("messages %v", kinds)
	}
	// Terminate closes.
	cl.send(&pgproto3.Terminate{})
	cl.expectClosed()
}

func typeName(m any) string { return fmt.Sprintf("%T", m) }

// TestClientGoneCancelsQuery: a client that sends a query and
// disconnects has its query canceled.
func TestClientGoneCancelsQuery(t *testing.T) {
	d := &delayBackend{hold: 20 * time.Second, started: make(chan struct{}, 1), ended: make(chan error, 1)}
	e := startEnv(t, server.Config{}, func(b Backend) Backend { d.Backend = b; return d })
	loadCPU(t, e, "")
	cl := dialRaw(t, e, true)
	cl.send(&pgproto3.Query{String: "SELECT count(*) FROM cpu"})
	<-d.started
	_ = cl.nc.Close()
	select {
	case cause := <-d.ended:
		if !errors.Is(cause, errClientGone) {
			t.Errorf("query ended with cause %v, want the client gone", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the query was not canceled when its client left")
	}
}

// TestMaxConnections: past --pg-max-connections a session is refused
// with 53300 (after its SSL request, which libpq sends first); when one
// closes, the next is let in.
func TestMaxConnections(t *testing.T) {
	e := startEnvPG(t, server.Config{}, Config{MaxConnections: 2}, nil)
	e.write(t, cpuLines(1, 2), "")
	ctx := context.Background()
	dsn := e.dsn("")
	var open []*pgx.Conn
	for i := 0; i < 2; i++ {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	_, err := pgx.Connect(ctx, dsn)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" {
		t.Fatalf("third session: %v, want SQLSTATE 53300", err)
	}
	// As libpq sends it: an SSL request first, answered 'N', then the
	// startup, answered with the refusal.
	cl := dialRaw(t, e, false)
	if _, err := cl.nc.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(cl.nc, b[:]); err != nil || b[0] != 'N' {
		t.Fatalf("SSL request answered %q %v", b[0], err)
	}
	cl.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u", "database": testDB}})
	if code := cl.expectError(); code != "53300" {
		t.Errorf("after the SSL request: SQLSTATE %s, want 53300", code)
	}
	open[0].Close(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			c.Close(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a session after one closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the server notices the close
	}
	open[1].Close(ctx)
}
