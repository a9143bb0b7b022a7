package pgwire

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/siltdb/silt/server"
)

// panicLog records error lines that report a recovered panic.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		p.mu.Lock()
		p.panics = append(p.panics, r.Message)
		r.Attrs(func(a slog.Attr) bool { p.panics = append(p.panics, a.String()); return true })
		p.mu.Unlock()
	}
	return nil
}
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicLog) WithGroup(string) slog.Handler      { return p }

// FuzzSession sends a logged-in session arbitrary messages (the fuzz
// input, framed as typed messages after the startup) against a real
// server with data, and fails on any panic the connection recovered from
// or any connection that hangs. go test runs the seeds; go test -fuzz
// FuzzSession explores.
func FuzzSession(f *testing.F) {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var out []byte
		for _, m := range msgs {
			var err error
			if out, err = m.Encode(out); err != nil {
				f.Fatal(err)
			}
		}
		return out
	}
	f.Add(enc(&pgproto3.Query{String: "SELECT * FROM cpu LIMIT 3; SHOW TimeZone; BEGIN; COMMIT"}))
	f.Add(enc(&pgproto3.Parse{Query: "SELECT count(*) FROM cpu WHERE hostname = $1 AND time > $2"},
		&pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{},
		&pgproto3.Bind{Parameters: [][]byte{[]byte("host_1"), []byte("2024-03-01")}, ResultFormatCodes: []int16{1}},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{MaxRows: 1}, &pgproto3.Execute{}, &pgproto3.Sync{}))
	f.Add(enc(&pgproto3.Parse{Name: "a", Query: "SELECT $1"}, &pgproto3.Parse{Name: "a", Query: "x"},
		&pgproto3.Bind{PreparedStatement: "a", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{1, 2}}}, &pgproto3.Sync{},
		&pgproto3.Close{ObjectType: 'S', Name: "a"}, &pgproto3.Execute{Portal: "none"}, &pgproto3.Sync{}))
	f.Add(enc(&pgproto3.Query{String: `COPY (SELECT * FROM cpu LIMIT 2) TO STDOUT WITH (FORMAT csv, HEADER)`},
		&pgproto3.Query{String: `\d cpu`}, &pgproto3.Query{String: "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = '16384'"},
		&pgproto3.FunctionCall{}, &pgproto3.CopyDone{}, &pgproto3.Flush{}))
	f.Add(enc(&pgproto3.Query{String: "SELECT quote_ident(column_name) FROM information_schema.columns WHERE table_name IN ('cpu') ORDER BY 1 DESC"}))

	logs := &panicLog{}
	e := startEnvPG(f, server.Config{}, Config{Logger: slog.New(logs), MaxMessageBytes: 1 << 16}, nil)
	e.write(f, cpuLines(2, 6), "")
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.Dial("tcp", e.pg)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		start, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
			Parameters: map[string]string{"user": "fuzz", "database": testDB}}).Encode(nil)
		in := append(append(start, data...), enc(&pgproto3.Sync{}, &pgproto3.Query{String: "SELECT 1"}, &pgproto3.Terminate{})...)
		if _, err := nc.Write(in); err != nil {
			t.Fatal(err)
		}
		// A message the input declares longer than it is takes the rest
		// as its body and waits for more, as PostgreSQL waits: the end
		// of the stream ends it.
		_ = nc.(*net.TCPConn).CloseWrite()
		// The server answers and closes: at the Terminate, or earlier on
		// a protocol violation or the end of the stream. A read that
		// times out is a hang.
		if _, err := io.Copy(io.Discard, nc); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("session did not end: %v (input % x)", err, bytes.TrimSpace(data))
		}
		logs.mu.Lock()
		defer logs.mu.Unlock()
		if len(logs.panics) > 0 {
			t.Fatalf("a connection panicked: %v", logs.panics)
		}
	})
}
