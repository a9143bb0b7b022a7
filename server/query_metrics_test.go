package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
)

// queryCount is silt_query_duration_seconds_count of one front end.
func queryCount(t *testing.T, s *testServer, frontend string) float64 {
	t.Helper()
	return metricValue(t, s, "", `silt_query_duration_seconds_count{frontend="`+frontend+`"}`)
}

// TestQueryDurationPerFrontend sends queries to each HTTP front end and
// checks that each adds exactly one observation under its own label, and
// none under the others; that requests which are not queries add none;
// and that an answer streamed after its handler returns (larger than
// streamRows) is observed once, when its stream ends.
func TestQueryDurationPerFrontend(t *testing.T) {
	s := startServer(t, 0)
	var lp strings.Builder
	for i := 0; i < streamRows+100; i++ {
		fmt.Fprintf(&lp, "cpu,host=h%d usage=%d %d\n", i%7, i, 1700000000000000000+int64(i)*1e9)
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	fronts := []string{"sql", "influxql", "promql", "pgwire", "flight"}
	counts := func() map[string]float64 {
		m := map[string]float64{}
		for _, f := range fronts {
			m[f] = queryCount(t, s, f)
		}
		return m
	}
	before := counts()
	for _, f := range fronts {
		if before[f] != 0 {
			t.Fatalf("%s starts at %v observations", f, before[f])
		}
	}
	// The series are there at zero before any query, so a rate has a
	// first point.
	_, page := s.get(t, "/metrics")
	for _, f := range fronts {
		if !strings.Contains(string(page), `silt_query_duration_seconds_bucket{frontend="`+f+`",le="0.0005"} 0`) {
			t.Errorf("no zero bucket for %s before any query", f)
		}
	}

	steps := []struct {
		front string
		do    func() (int, []byte)
	}{
		{"sql", func() (int, []byte) {
			return s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape("SELECT count(*) FROM cpu"))
		}},
		// Streamed: more rows than streamRows.
		{"sql", func() (int, []byte) { return s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape("SELECT * FROM cpu")) }},
		{"sql", func() (int, []byte) { return s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape("SELEC nope")) }},
		{"influxql", func() (int, []byte) {
			return s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT count(usage) FROM cpu"))
		}},
		{"influxql", func() (int, []byte) { return s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT usage FROM cpu")) }},
		{"promql", func() (int, []byte) {
			return s.get(t, "/api/v1/query?db=d&query="+url.QueryEscape("count(cpu_usage)")+"&time=1700000100")
		}},
	}
	for i, st := range steps {
		code, b := st.do()
		if code >= 500 {
			t.Fatalf("step %d (%s): %d %.300s", i, st.front, code, b)
		}
		got := counts()
		before[st.front]++
		for _, f := range fronts {
			if got[f] != before[f] {
				t.Errorf("after step %d (%s, HTTP %d): %s has %v observations, want %v", i, st.front, code, f, got[f], before[f])
			}
		}
		before = got
	}
	// Not queries: the schema, the metrics page, a write.
	s.get(t, "/api/v1/databases")
	s.get(t, "/api/v1/tables?db=d")
	s.post(t, "/write?db=d", "cpu,host=x usage=1 1700000000000000000\n")
	after := counts()
	for _, f := range fronts {
		if after[f] != before[f] {
			t.Errorf("requests that are not queries changed %s: %v → %v", f, before[f], after[f])
		}
	}
	if sum := metricValue(t, s, "", `silt_query_duration_seconds_sum{frontend="sql"}`); sum <= 0 {
		t.Errorf("sql duration sum %v after three queries", sum)
	}
}

// TestFrontendTimesExecution: the listeners' view of the server observes
// each statement it runs under its own label.
func TestFrontendTimesExecution(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(eng, Config{Logger: log})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := eng.Close(); err != nil {
			t.Error(err)
		}
	})
	s := &testServer{url: "http://" + ln.Addr().String(), eng: eng}
	if code, _, b := s.post(t, "/write?db=d", "cpu,host=a usage=1 1700000000000000000\n"); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	pg, fl := srv.Frontend("pgwire"), srv.Frontend("flight")
	q, err := pg.CompileSQL("d", "SELECT sum(usage) FROM cpu", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.RunSQL(t.Context(), "d", q, false); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.RunInfluxQL(t.Context(), "d", "SELECT sum(usage) FROM cpu", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.RunSQL(t.Context(), "d", q, false); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]float64{"pgwire": 1, "flight": 2, "sql": 0, "influxql": 0} {
		if got := queryCount(t, s, f); got != want {
			t.Errorf("%s: %v observations, want %v", f, got, want)
		}
	}
}
