package pgwire

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/server"
)

// testEnv is a Silt server started in-process, as the server tests start
// it, with the PostgreSQL listener beside it on a free port.
type testEnv struct {
	http string // http://127.0.0.1:port
	pg   string // 127.0.0.1:port
	srv  *server.Server
	eng  *engine.Engine
	l    *Listener
}

// testDB is the database the tests write and query.
const testDB = "bench"

func startEnv(t testing.TB, scfg server.Config, wrap func(Backend) Backend) *testEnv {
	t.Helper()
	return startEnvPG(t, scfg, Config{}, wrap)
}

// startEnvPG is startEnv with listener settings (TLS).
func startEnvPG(t testing.TB, scfg server.Config, pcfg Config, wrap func(Backend) Backend) *testEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	scfg.Logger = log
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(eng, scfg)
	go func() { _ = srv.Serve(hln) }()
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var be Backend = srv
	if wrap != nil {
		be = wrap(srv)
	}
	if pcfg.Logger == nil {
		pcfg.Logger = log
	}
	if pcfg.MaxMessageBytes == 0 {
		pcfg.MaxMessageBytes = 1 << 20
	}
	l, err := New(be, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = l.Serve(pln) }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		_ = srv.Shutdown()
		if err := eng.Close(); err != nil {
			t.Error(err)
		}
	})
	return &testEnv{http: "http://" + hln.Addr().String(), pg: pln.Addr().String(), srv: srv, eng: eng, l: l}
}

// dsn is a connection string for pgx and psycopg2.
func (e *testEnv) dsn(password string) string {
	host, port, _ := net.SplitHostPort(e.pg)
	s := fmt.Sprintf("host=%s port=%s dbname=%s user=tester sslmode=disable", host, port, testDB)
	if password != "" {
		s += " password=" + password
	}
	return s
}

// write posts line protocol to the HTTP API.
func (e *testEnv) write(t testing.TB, lines string, token string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.http+"/write?db="+testDB, strings.NewReader(lines))
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("write: %d %s", resp.StatusCode, b)
	}
}

// apiResult is /api/v1/sql's answer, values decoded exactly.
type apiResult struct {
	Columns []query.Column
	Rows    [][]any
	Stats   query.Stats
}

// sqlAPI runs q on /api/v1/sql: the answers the listener must match.
func (e *testEnv) sqlAPI(t testing.TB, q, token string) apiResult {
	t.Helper()
	req, _ := http.NewRequest("GET", e.http+"/api/v1/sql?db="+testDB+"&q="+url.QueryEscape(q), nil)
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
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
	var raw struct {
		Columns []query.Column
		Rows    [][]json.RawMessage
		Stats   query.Stats
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	out := apiResult{Columns: raw.Columns, Stats: raw.Stats}
	for _, r := range raw.Rows {
		row := make([]any, len(r))
		for i, v := range r {
			row[i] = apiValue(t, raw.Columns[i].Type, v)
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// apiValue decodes one JSON value of /api/v1/sql into the Go type of the
// executor's results.
func apiValue(t testing.TB, typ string, v json.RawMessage) any {
	t.Helper()
	if string(v) == "null" {
		return nil
	}
	var err error
	var out any
	switch typ {
	case query.TypeTimestamp:
		var s string
		if err = json.Unmarshal(v, &s); err == nil {
			out, err = time.Parse(time.RFC3339Nano, s)
		}
	case query.TypeFloat:
		var s string
		if json.Unmarshal(v, &s) == nil { // "NaN", "Infinity"
			switch s {
			case "NaN":
				return math.NaN()
			case "Infinity":
				return math.Inf(1)
			case "-Infinity":
				return math.Inf(-1)
			}
		}
		var f float64
		err = json.Unmarshal(v, &f)
		out = f
	case query.TypeInteger:
		var i int64
		err = json.Unmarshal(v, &i)
		out = i
	case query.TypeUnsigned:
		var u uint64
		err = json.Unmarshal(v, &u)
		out = u
	case query.TypeBoolean:
		var b bool
		err = json.Unmarshal(v, &b)
		out = b
	default:
		var s string
		err = json.Unmarshal(v, &s)
		out = s
	}
	if err != nil {
		t.Fatalf("decode %s value %s: %v", typ, v, err)
	}
	return out
}

// cpuLines makes a TSBS-shaped cpu table: hosts in regions, float and
// integer fields, a sparse field, a string field, a bool and an unsigned
// field, at whole-microsecond timestamps (binary timestamptz carries
// microseconds).
func cpuLines(hosts, points int) string {
	var b strings.Builder
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for h := 0; h < hosts; h++ {
		for i := 0; i < points; i++ {
			ts := base.Add(time.Duration(i)*10*time.Second + time.Duration(h)*time.Microsecond)
			fmt.Fprintf(&b, "cpu,hostname=host_%d,region=%s usage_user=%g,usage_system=%di,ok=%t,cores=%du,state=\"%s\"",
				h, []string{"eu-west", "us-east", "ap-south"}[h%3], float64((h*37+i*11)%1000)/10.0+0.125, (h*7+i*3)%100,
				i%3 == 0, 4+h%4, []string{"idle", "busy", `it's \"quoted\"`}[i%3])
			if i%4 == 0 {
				fmt.Fprintf(&b, ",usage_iowait=%g", float64(i%17)/3)
			}
			fmt.Fprintf(&b, " %d\n", ts.UnixNano())
		}
	}
	return b.String()
}

// delayBackend holds each query until it is canceled (or hold passes)
// and then runs it on the real executor, so that a test can cancel a
// query that is surely running. It records why the last one ended.
type delayBackend struct {
	Backend
	hold    time.Duration
	started chan struct{}
	ended   chan error
}

func (d *delayBackend) RunSQL(ctx context.Context, db string, q *sql.Query, raw bool) (*query.Result, error) {
	select {
	case d.started <- struct{}{}:
	default:
	}
	select {
	case <-ctx.Done():
	case <-time.After(d.hold):
	}
	res, err := d.Backend.RunSQL(ctx, db, q, raw)
	select {
	case d.ended <- context.Cause(ctx):
	default:
	}
	return res, err
}
