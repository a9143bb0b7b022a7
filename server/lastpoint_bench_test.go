package server

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/engine"
)

// BenchmarkLastpointHead times the latest-value InfluxQL queries — TSBS's
// lastpoint, last(*) per host, Grafana's stat panel by host and overall —
// and TSBS's single-groupby-1-1-1 over one TSBS day (100 hosts every
// 10 s, 864,000 rows, TSBS's integer fields) kept entirely in the
// unflushed head, as a live dashboard reads it (head/...), then over the
// same day flushed to segments (segments/...); the latest-value queries
// also over the day written as concurrent writers leave it, their batches
// overtaking each other (head-overtaken/...). Each query runs through the server's request handler in process
// (parse, plan, execute, encode the JSON answer) without a socket, so the
// figure is the server's own cost per query. Run with
//
//	go test ./server -run '^$' -bench LastpointHead -benchmem -count 5
//
// SILT_BENCH_HOURS shortens the day (default 24).
func BenchmarkLastpointHead(b *testing.B) {
	hours := 24
	if v, err := strconv.Atoi(os.Getenv("SILT_BENCH_HOURS")); err == nil && v > 0 {
		hours = v
	}
	base := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := startLastpointDay(b, base, hours, false)
	end := base.Add(time.Duration(hours) * time.Hour)
	last1h := fmt.Sprintf("time > %dms - 1h", end.UnixMilli())
	queries := []struct{ name, q string }{
		{"lastpoint", `SELECT * from cpu group by "hostname" order by time desc limit 1`},
		{"last-star", `SELECT last(*) FROM "cpu" GROUP BY "hostname"`},
		{"stat-by-host", `SELECT last("usage_user") FROM "cpu" WHERE ` + last1h + ` GROUP BY "hostname"`},
		{"stat", `SELECT last("usage_user") FROM "cpu" WHERE ` + last1h},
		{"stat-one-host", `SELECT last("usage_user") FROM "cpu" WHERE "hostname" = 'host_42' AND ` + last1h},
		// TSBS's single-groupby-1-1-1: one host's hour by minute, a
		// small answer whose cost is mostly the request's own.
		{"single-groupby-1-1-1", fmt.Sprintf(`SELECT max(usage_user) from cpu where (hostname = 'host_42') and time >= %dms - 1h and time < %dms group by time(1m)`,
			end.UnixMilli(), end.UnixMilli())},
	}
	handler := srv.srv.srv.Handler
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	for _, where := range []string{"head", "head-overtaken", "segments"} {
		if where == "head-overtaken" {
			// The same day loaded as concurrent writers load it (silt
			// bench load's workers, several Telegrafs): batches overtake
			// each other, so rows older than their series' newest point
			// arrive after it. The latest-value queries only.
			over := startLastpointDay(b, base, hours, true)
			for _, q := range queries[:2] {
				benchLastpointQuery(b, over, over.srv.srv.Handler, remote, where+"/"+q.name, q.q)
			}
			continue
		}
		if where == "segments" {
			// The same day flushed: the queries over Parquet segments.
			if err := srv.eng.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		for _, q := range queries {
			benchLastpointQuery(b, srv, handler, remote, where+"/"+q.name, q.q)
		}
	}
}

// startLastpointDay starts a server holding hours of a TSBS day of 100
// hosts (integer fields) in its head, written an hour a post, or with
// overtaken in posts of 5,000 rows, each pair in reverse order, as
// concurrent writers whose batches overtake each other leave a head: the
// newest rows of a series then arrive before older ones.
func startLastpointDay(b *testing.B, base time.Time, hours int, overtaken bool) *testServer {
	srv := startServerEngine(b, Config{}, engine.Config{MaxHeadBytes: 4 << 30})
	g := bench.NewCPU(100, base, 10*time.Second, 7)
	post(b, srv.url+"/query", "q=CREATE+DATABASE+bench")
	// An hour a post; overtaken posts are silt bench load's 5,000 rows.
	per := 360
	if overtaken {
		per = 50
	}
	var bodies []string
	for done := 0; done < hours*360; done += per {
		var buf []byte
		for i := 0; i < min(per, hours*360-done); i++ {
			buf = g.AppendInterval(buf)
		}
		bodies = append(bodies, string(integerFields(buf)))
	}
	if overtaken {
		// Pairs from the newest: the newest post arrives before the one
		// it follows.
		for i := len(bodies) - 1; i > 0; i -= 2 {
			bodies[i], bodies[i-1] = bodies[i-1], bodies[i]
		}
	}
	for _, body := range bodies {
		post(b, srv.url+"/write?db=bench", body)
	}
	return srv
}

// benchLastpointQuery times one query of BenchmarkLastpointHead.
func benchLastpointQuery(b *testing.B, srv *testServer, handler fasthttp.RequestHandler, remote net.Addr, name, text string) {
	uri := "/query?" + url.Values{"db": {"bench"}, "q": {text}}.Encode()
	b.Run(name, func(b *testing.B) {
		var req fasthttp.Request
		req.SetRequestURI(uri)
		// Go's HTTP client (silt bench query, TSBS, Grafana) asks for gzip.
		req.Header.Set("Accept-Encoding", "gzip")
		var ctx fasthttp.RequestCtx
		run := func() {
			// A server starts every request with an empty response; Init
			// keeps the last one's, and a handler that appends its answer
			// (the SQL endpoint's streaming writer) would add to it.
			ctx.Response.Reset()
			ctx.Init(&req, remote, nil)
			handler(&ctx)
			if code := ctx.Response.StatusCode(); code != fasthttp.StatusOK {
				b.Fatalf("%s: %d %s", text, code, ctx.Response.Body())
			}
		}
		run() // the answer must be one: no error, some series
		body, err := ctx.Response.BodyUncompressed()
		if err != nil || len(body) < 100 {
			b.Fatalf("%s: %s %v", text, body, err)
		}
		run() // the second time keeps the parse and the plans
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := processCPU()
		plans0 := srv.srv.plans.Stats()
		for i := 0; i < b.N; i++ {
			run()
		}
		b.StopTimer()
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		// The parse, its fields resolved and the SQL plan from the
		// plan cache: 3 a query.
		b.ReportMetric(float64(srv.srv.plans.Stats().Hits-plans0.Hits)/float64(b.N), "plan-hits/op")
		b.ReportMetric(float64(len(body)), "json-B")
	})
}
