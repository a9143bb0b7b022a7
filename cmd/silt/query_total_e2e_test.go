package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/siltdb/silt/bench"
)

// TestQueriesShareMemoryTotal runs many big queries at once against a
// real server, over SQL (HTTP), PromQL and Flight SQL, with a
// --query-max-memory-total that holds one of their answers but not two.
// Every query is answered whole or refused with the documented error
// (422 query-memory-limit; over Flight ResourceExhausted with the same
// message), the refusals name the total, the server's peak RSS rises by
// no more than docs/memory.md's bound for the total, everything reserved
// is given back, and the server stays up, writable and flushing.
//
// An answer stays reserved until it is sent: the clients read no answer
// until every query has answered its headers (its first record batch
// over Flight), so the answers that succeed are all held at once, which
// the total allows only one of.
func TestQueriesShareMemoryTotal(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	dir := filepath.Join(h.dir, "data")
	// Each query alone fits its own limit (128 MiB): a SELECT * of 200k
	// rows charges about 14 MB of columns and 51 MB of answer rows, the
	// PromQL range query about 56 MB of samples. Two answers pass the
	// total.
	const total = 96 << 20
	flags := []string{"--query-max-memory", "128MiB", "--query-max-memory-total", "96MiB",
		"--max-head-bytes", "32MiB", "--compaction.disabled", "--query-cache-bytes", "0", "--flush-interval", "200ms"}
	p := h.start(dir, flags...)
	const rows = 200_000
	writeRows(t, p, "db", rows)
	writeMetric(t, p, "db", 100, 2000)
	if code := p.term(); code != 0 { // flushes: the queries read segments
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	const bound = total*7/2 + 80<<20 // docs/memory.md
	sqlPath := "/api/v1/sql?db=db&q=" + url.QueryEscape("SELECT * FROM cpu")
	promPath := "/api/v1/query_range?db=db&query=m&start=1767225600&end=1767227599&step=0.1818"
	const concurrent = 8

	// serve starts a fresh server for one subtest (a server that answered
	// earlier queries keeps their freed heap, which would hide the next
	// ones' peak) and returns it with its Flight address.
	serve := func(t *testing.T) (*siltProc, string) {
		flAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		p := h.start(dir, append(flags, "--flight-addr", flAddr)...)
		time.Sleep(500 * time.Millisecond) // let startup's garbage go
		bench.ResetPeakRSSOf(p.cmd.Process.Pid)
		return p, flAddr
	}
	// finish checks what every subtest ends with: the peak RSS rise,
	// nothing left reserved, and a server that takes and flushes writes.
	finish := func(t *testing.T, p *siltProc, before int64) {
		rise := bench.PeakRSSOf(p.cmd.Process.Pid) - before
		t.Logf("peak RSS rose %d MiB (bound %d MiB)", rise>>20, bound>>20)
		if rise > bound {
			t.Errorf("peak RSS rose %d MiB, more than %d MiB", rise>>20, bound>>20)
		}
		waitMetric(t, p, "silt_query_memory_reserved_bytes", func(v float64) bool { return v == 0 })
		flushes := metricOf(t, p, "silt_flush_seconds_count")
		if code, body, _, err := p.write("other", []byte("after,k=v x=1i 1767225600000000000\n")); err != nil || code != 204 {
			t.Fatalf("write after the queries: %d %s %v", code, body, err)
		}
		waitMetric(t, p, "silt_flush_seconds_count", func(v float64) bool { return v > flushes })
		if code := p.term(); code != 0 {
			t.Fatalf("exit code %d after SIGTERM", code)
		}
	}

	t.Run("sql", func(t *testing.T) {
		p, _ := serve(t)
		before := mustRSS(t, p)
		resps := make([]*http.Response, concurrent)
		var wg sync.WaitGroup
		for i := range resps {
			wg.Go(func() { resps[i] = openGet(t, p.base+sqlPath) })
		}
		wg.Wait()
		ok, refused := 0, 0
		for _, r := range resps {
			body, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				t.Fatalf("read answer: %v", err)
			}
			switch checkRefusal(t, r.StatusCode, body) {
			case true:
				refused++
			default:
				var res struct{ Rows [][]any }
				if err := json.Unmarshal(body, &res); err != nil || len(res.Rows) != rows {
					t.Fatalf("answer of %d rows (%v), want %d", len(res.Rows), err, rows)
				}
				ok++
			}
		}
		t.Logf("%d answered, %d refused", ok, refused)
		if refused == 0 {
			t.Errorf("all %d answers held at once, past --query-max-memory-total", concurrent)
		}
		finish(t, p, before)
	})

	t.Run("promql", func(t *testing.T) {
		p, _ := serve(t)
		before := mustRSS(t, p)
		// A SQL answer held unread leaves less of the total than one
		// PromQL answer needs: every PromQL query is refused for it.
		held := openGet(t, p.base+sqlPath)
		if held.StatusCode != 200 {
			t.Fatalf("the held SQL answer: %d", held.StatusCode)
		}
		codes := make([]int, concurrent)
		bodies := make([][]byte, concurrent)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() {
				var err error
				codes[i], bodies[i], err = p.get(promPath)
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i := range codes {
			if !checkRefusal(t, codes[i], bodies[i]) {
				t.Fatalf("PromQL answered %d with the total taken: %.200s", codes[i], bodies[i])
			}
		}
		if _, err := io.Copy(io.Discard, held.Body); err != nil {
			t.Fatal(err)
		}
		held.Body.Close()
		waitMetric(t, p, "silt_query_memory_reserved_bytes", func(v float64) bool { return v == 0 })
		// Then all at once: each answered or refused.
		ok := 0
		for i := range codes {
			wg.Go(func() {
				var err error
				codes[i], bodies[i], err = p.get(promPath)
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i := range codes {
			if !checkRefusal(t, codes[i], bodies[i]) {
				var r struct {
					Status string
					Data   struct{ Result []struct{ Values [][2]any } }
				}
				if err := json.Unmarshal(bodies[i], &r); err != nil || r.Status != "success" || len(r.Data.Result) != 100 || len(r.Data.Result[0].Values) < 10000 {
					t.Fatalf("PromQL answer %d: %v %.200s", codes[i], err, bodies[i])
				}
				ok++
			}
		}
		t.Logf("all at once: %d answered, %d refused", ok, concurrent-ok)
		finish(t, p, before)
	})

	t.Run("flight", func(t *testing.T) {
		p, flAddr := serve(t)
		before := mustRSS(t, p)
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "database", "db"), requestTimeout)
		defer cancel()
		// One client (connection) per query, each with a fixed small
		// window: an answer not read stays on the server, reserved.
		clients := make([]*flightsql.Client, concurrent)
		for i := range clients {
			c, err := flightsql.NewClient(flAddr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			clients[i] = c
		}
		// The first record batch of each (or its refusal), then the rest.
		readers := make([]*flight.Reader, concurrent)
		errs := make([]error, concurrent)
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Go(func() {
				info, err := c.Execute(ctx, "SELECT * FROM cpu")
				if err == nil {
					readers[i], err = c.DoGet(ctx, info.Endpoint[0].Ticket)
				}
				if err == nil && !readers[i].Next() {
					err = readers[i].Err()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		ok, refused := 0, 0
		for i, r := range readers {
			n := 0
			if errs[i] == nil {
				n = int(r.RecordBatch().NumRows())
				for r.Next() {
					n += int(r.RecordBatch().NumRows())
				}
				errs[i] = r.Err()
			}
			if r != nil {
				r.Release()
			}
			switch {
			case errs[i] == nil && n == rows:
				ok++
			case errs[i] == nil:
				t.Fatalf("Flight answer of %d rows, want %d", n, rows)
			default:
				checkFlightRefusal(t, errs[i])
				refused++
			}
		}
		t.Logf("%d answered, %d refused", ok, refused)
		if refused == 0 {
			t.Errorf("all %d Flight answers held at once, past --query-max-memory-total", concurrent)
		}
		// With a SQL answer held over HTTP, a Flight query is refused;
		// alone it is answered.
		held := openGet(t, p.base+sqlPath)
		if held.StatusCode != 200 {
			t.Fatalf("the held SQL answer: %d", held.StatusCode)
		}
		n, err := flightRows(ctx, clients[0], "SELECT * FROM cpu")
		if err == nil {
			t.Fatalf("Flight answered %d rows with the total taken", n)
		}
		checkFlightRefusal(t, err)
		if _, err := io.Copy(io.Discard, held.Body); err != nil {
			t.Fatal(err)
		}
		held.Body.Close()
		waitMetric(t, p, "silt_query_memory_reserved_bytes", func(v float64) bool { return v == 0 })
		if n, err := flightRows(ctx, clients[0], "SELECT * FROM cpu"); err != nil || n != rows {
			t.Fatalf("Flight alone: %d rows, %v", n, err)
		}
		finish(t, p, before)
	})
}

// writeMetric writes series × points samples of a PromQL metric m (a
// table with a value field), one a second from 2026-01-01.
func writeMetric(t *testing.T, p *siltProc, db string, series, points int) {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var b strings.Builder
	for i := range points {
		for s := range series {
			fmt.Fprintf(&b, "m,host=h%d value=%d %d\n", s, i*s, base+int64(i)*int64(time.Second))
		}
		if b.Len() > 1<<20 || i == points-1 {
			for try := 0; ; try++ {
				code, body, _, err := p.write(db, []byte(b.String()))
				if err != nil {
					t.Fatal(err)
				}
				if code == 204 {
					break
				}
				if code != 429 || try > 600 {
					t.Fatalf("write: %d %s", code, body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			b.Reset()
		}
	}
}

// openGet sends a GET and returns once its answer's headers are in,
// leaving the body unread.
func openGet(t *testing.T, u string) *http.Response {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Error(err)
		return nil
	}
	r, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	return r
}

// checkRefusal reports whether an HTTP answer is the documented refusal
// for the shared memory total (failing the test on any other error).
func checkRefusal(t *testing.T, code int, body []byte) bool {
	t.Helper()
	if code == 200 {
		return false
	}
	var e struct{ Error, Code string }
	_ = json.Unmarshal(body, &e)
	if code != 422 || e.Code != "query-memory-limit" || !strings.Contains(e.Error, "--query-max-memory-total") {
		t.Fatalf("got %d %.300s, want 200 or 422 query-memory-limit naming --query-max-memory-total", code, body)
	}
	return true
}

// checkFlightRefusal fails the test unless err is the Flight refusal for
// the shared memory total.
func checkFlightRefusal(t *testing.T, err error) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "--query-max-memory-total") {
		t.Fatalf("Flight error %v, want ResourceExhausted naming --query-max-memory-total", err)
	}
}

// flightRows runs query over Flight SQL and counts its answer's rows.
func flightRows(ctx context.Context, c *flightsql.Client, query string) (int, error) {
	info, err := c.Execute(ctx, query)
	if err != nil {
		return 0, err
	}
	r, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		return 0, err
	}
	defer r.Release()
	n := 0
	for r.Next() {
		n += int(r.RecordBatch().NumRows())
	}
	return n, r.Err()
}

func mustRSS(t *testing.T, p *siltProc) int64 {
	t.Helper()
	v, err := rssBytes(p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// metricOf reads an unlabelled sample of /metrics.
func metricOf(t *testing.T, p *siltProc, name string) float64 {
	t.Helper()
	v, err := metricValue(p, name) // compaction_crash_test.go
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitMetric polls /metrics until name's value satisfies ok. The deadline
// only guards against a hang.
func waitMetric(t *testing.T, p *siltProc, name string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(requestTimeout)
	for {
		v := metricOf(t, p, name)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %v", name, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
