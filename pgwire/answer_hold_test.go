package pgwire

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/siltdb/silt/server"
)

// sqlStatus runs q on /api/v1/sql and returns its status and body.
func (e *testEnv) sqlStatus(t *testing.T, q string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(e.http + "/api/v1/sql?db=" + testDB + "&q=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// waitFree waits until no query holds anything of the shared budget.
func waitFree(t *testing.T, e *testEnv, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.srv.QueryBudget().Used() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d bytes still reserved of --query-max-memory-total", what, e.srv.QueryBudget().Used())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An answer's rows stay reserved of --query-max-memory-total until they
// are sent: while a portal is suspended between Executes, and while a
// client reads a simple query's answer slowly; they are given back once
// sent, or when the client leaves.
func TestAnswerHeldUntilSent(t *testing.T) {
	// Room for one answer of these 100,000 rows (27 MB as charged), not two.
	e := startEnv(t, server.Config{QueryMaxMemoryTotal: 40 << 20}, nil)
	e.write(t, cpuLines(40, 2500), "") // 100,000 rows
	const q = "SELECT * FROM cpu"

	// A portal suspended after 10 rows holds the rest.
	c := dialRaw(t, e, true)
	c.send(&pgproto3.Parse{Query: q}, &pgproto3.Bind{}, &pgproto3.Execute{MaxRows: 10}, &pgproto3.Flush{})
	c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.PortalSuspended); return ok })
	held := e.srv.QueryBudget().Used()
	if held < 10<<20 {
		t.Fatalf("a suspended portal of 100,000 rows holds %d bytes reserved, want its rows'", held)
	}
	c.send(&pgproto3.Execute{}, &pgproto3.Flush{})
	c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.CommandComplete); return ok })
	if got := e.srv.QueryBudget().Used(); got != 0 {
		t.Fatalf("once the portal's rows are sent %d bytes are reserved, want 0", got)
	}
	// Suspended again, then dropped by Sync unsent.
	c.send(&pgproto3.Bind{}, &pgproto3.Execute{MaxRows: 10}, &pgproto3.Flush{})
	c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.PortalSuspended); return ok })
	c.send(&pgproto3.Sync{})
	c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok })
	if got := e.srv.QueryBudget().Used(); got != 0 {
		t.Fatalf("after Sync dropped a suspended portal %d bytes are reserved, want 0", got)
	}

	// A simple query read slowly: a small receive buffer, so that the
	// server's writes block soon.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	nc, err := d.Dial("tcp", e.pg)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	slow := &rawClient{t: t, nc: nc, fe: pgproto3.NewFrontend(nc, nc)}
	slow.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "slow", "database": testDB}})
	slow.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok })
	slow.send(&pgproto3.Query{String: q})
	slow.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.DataRow); return ok })
	if got := e.srv.QueryBudget().Used(); got < 10<<20 {
		t.Fatalf("while a slow client reads 100,000 rows %d bytes are reserved, want its rows'", got)
	}
	// Another client's same query over HTTP does not fit beside them.
	code, body := e.sqlStatus(t, q)
	if code != 422 || !strings.Contains(string(body), `"code":"query-memory-limit"`) || !strings.Contains(string(body), "--query-max-memory-total") {
		t.Fatalf("a second query while the first answer is sent: %d %.300s, want 422 query-memory-limit", code, body)
	}
	nc.Close()
	waitFree(t, e, "after the slow client left")
	if code, body := e.sqlStatus(t, q); code != 200 {
		t.Fatalf("the same query once the slow client has left: %d %.300s", code, body)
	}
	waitFree(t, e, "after the last query")
}
