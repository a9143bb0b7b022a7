package flightsql

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/server"
)

// testEnv is a Silt server started in-process with the Flight SQL
// listener on a free port, serving the HTTP API on that port too.
type testEnv struct {
	addr string // the Flight (and HTTP) port: 127.0.0.1:port
	http string // http://127.0.0.1:port of that port
	eng  *engine.Engine
	srv  *server.Server
	l    *Listener
}

const testDB = "flight"

// testData has every field type, NULLs (n is missing from a row) and two
// tables.
const testData = `cpu,host=a,region=eu usage=1.5,n=1i,ok=true,note="x" 1700000000000000000
cpu,host=b,region=us usage=2.5,n=2i,ok=false,note="y" 1700000001000000000
cpu,host=a,region=eu usage=3.5,ok=true 1700000002000000000
mem,host=a free=10i,used=5u 1700000000000000000
`

func startEnv(t testing.TB, scfg server.Config, fcfg Config) *testEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	scfg.Logger = log
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(eng, scfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fcfg.Logger = log
	l := New(srv, fcfg, srv.Serve)
	go func() { _ = l.Serve(ln) }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		_ = srv.Shutdown()
		if err := eng.Close(); err != nil {
			t.Error(err)
		}
	})
	return &testEnv{addr: ln.Addr().String(), http: "http://" + ln.Addr().String(), eng: eng, srv: srv, l: l}
}

// write sends line protocol over HTTP to the Flight port.
func (e *testEnv) write(t testing.TB, db, lp string, hdr ...string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.http+"/api/v3/write_lp?db="+db, strings.NewReader(lp))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 204 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("write: %d %s", resp.StatusCode, b)
	}
}

// sqlRows runs q over /api/v1/sql, the answer Flight's is compared to:
// column names and rows of values as text.
func (e *testEnv) sqlRows(t testing.TB, db, q string, hdr ...string) ([]string, [][]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.http+"/api/v1/sql?db="+db+"&q="+url.QueryEscape(q), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/api/v1/sql %q: %d %s", q, resp.StatusCode, body)
	}
	var res struct {
		Columns []struct{ Name string }
		Rows    [][]any
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range res.Columns {
		cols = append(cols, c.Name)
	}
	rows := make([][]string, len(res.Rows))
	for i, r := range res.Rows {
		for _, v := range r {
			s := "NULL"
			if v != nil {
				s = fmt.Sprint(v)
			}
			rows[i] = append(rows[i], s)
		}
	}
	return cols, rows
}

// flightClient is arrow-go's Flight SQL client on the env's port; ctx
// carries the database (and token) metadata of every call.
func (e *testEnv) flightClient(t testing.TB) *flightsql.Client {
	t.Helper()
	c, err := flightsql.NewClient(e.addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func withDB(ctx context.Context, db string, kv ...string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, append([]string{"database", db}, kv...)...)
}

// readAll reads a Flight stream's records as column names and rows of
// values as text (as sqlRows gives them).
func readAll(t testing.TB, r *flight.Reader) ([]string, [][]string) {
	t.Helper()
	defer r.Release()
	var cols []string
	for _, f := range r.Schema().Fields() {
		cols = append(cols, f.Name)
	}
	var rows [][]string
	for r.Next() {
		rec := r.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for j := range row {
				row[j] = cellText(rec.Column(j), i)
			}
			rows = append(rows, row)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return cols, rows
}

func cellText(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch x := a.(type) {
	case *array.Timestamp:
		return x.Value(i).ToTime(arrow.Nanosecond).UTC().Format(time.RFC3339Nano)
	case *array.Float64:
		return fmt.Sprint(x.Value(i))
	case *array.Int64:
		return fmt.Sprint(x.Value(i))
	case *array.Uint64:
		return fmt.Sprint(x.Value(i))
	case *array.Boolean:
		return fmt.Sprint(x.Value(i))
	case *array.String:
		return x.Value(i)
	}
	return a.ValueStr(i)
}

// runQuery runs q with arrow-go's Flight SQL client: GetFlightInfo with a
// CommandStatementQuery, then DoGet of its ticket.
func runQuery(t testing.TB, ctx context.Context, c *flightsql.Client, q string) ([]string, [][]string, error) {
	t.Helper()
	info, err := c.Execute(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		return nil, nil, err
	}
	cols, rows := readAll(t, r)
	return cols, rows, nil
}
