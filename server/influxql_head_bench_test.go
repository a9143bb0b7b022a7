package server

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkInfluxQLHeadTSBS times TSBS's InfluxQL query types, and the
// same questions in SQL, over one TSBS day (100 hosts every 10 s, 864,000
// rows, TSBS's integer fields) kept entirely in the unflushed head, each
// through the server's request handler in process (parse, plan, execute,
// encode and gzip the answer) without a socket or a client, so cpu-ms/op
// and allocs/op are the server's own per query. Run with
//
//	go test ./server -run '^$' -bench InfluxQLHeadTSBS -benchmem -benchtime 400x
//
// SILT_BENCH_HOURS shortens the day (default 24); SILT_BENCH_CPUPROFILE=dir
// writes a CPU profile of each query type's timed loop alone (the load
// left out) into dir, SILT_BENCH_MEMPROFILE=dir allocation profiles from
// before and after it.
func BenchmarkInfluxQLHeadTSBS(b *testing.B) {
	hours := 24
	if v, err := strconv.Atoi(os.Getenv("SILT_BENCH_HOURS")); err == nil && v > 0 {
		hours = v
	}
	base := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := startLastpointDay(b, base, hours, false)
	ns := func(d time.Duration) int64 { return base.Add(d).UnixNano() }
	span := func(from, to time.Duration) string {
		return fmt.Sprintf("time >= %d AND time < %d", ns(from), ns(min(to, time.Duration(hours)*time.Hour)))
	}
	var hosts8 []string
	for h := 0; h < 8; h++ {
		hosts8 = append(hosts8, fmt.Sprintf("hostname = 'host_%d'", h*11))
	}
	or8 := "(" + strings.Join(hosts8, " or ") + ")"
	one := "(hostname = 'host_42')"
	hour := span(2*time.Hour, 3*time.Hour)
	twelve := span(0, 12*time.Hour)
	half := span(4*time.Hour, 16*time.Hour)
	max5 := `max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait)`
	maxAll := max5 + `,max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice)`
	meanAll := strings.ReplaceAll(maxAll, "max(", "mean(")
	avgAll := strings.ReplaceAll(maxAll, "max(", "avg(")
	bin := func(d string) string { return `date_bin(INTERVAL '` + d + `', time, TIMESTAMP '1970-01-01') AS t` }
	queries := []struct{ name, path, q string }{
		{"single-groupby-1-1-1", "influxql", `SELECT max(usage_user) FROM cpu WHERE ` + one + ` AND ` + hour + ` GROUP BY time(1m)`},
		{"single-groupby-1-1-12", "influxql", `SELECT max(usage_user) FROM cpu WHERE ` + one + ` AND ` + twelve + ` GROUP BY time(1m)`},
		{"single-groupby-1-8-1", "influxql", `SELECT max(usage_user) FROM cpu WHERE ` + or8 + ` AND ` + hour + ` GROUP BY time(1m)`},
		{"single-groupby-5-1-1", "influxql", `SELECT ` + max5 + ` FROM cpu WHERE ` + one + ` AND ` + hour + ` GROUP BY time(1m)`},
		{"single-groupby-5-1-12", "influxql", `SELECT ` + max5 + ` FROM cpu WHERE ` + one + ` AND ` + twelve + ` GROUP BY time(1m)`},
		{"single-groupby-5-8-1", "influxql", `SELECT ` + max5 + ` FROM cpu WHERE ` + or8 + ` AND ` + hour + ` GROUP BY time(1m)`},
		{"cpu-max-all-1", "influxql", `SELECT ` + maxAll + ` FROM cpu WHERE ` + one + ` AND ` + span(0, 8*time.Hour) + ` GROUP BY time(1h)`},
		{"cpu-max-all-8", "influxql", `SELECT ` + maxAll + ` FROM cpu WHERE ` + or8 + ` AND ` + span(0, 8*time.Hour) + ` GROUP BY time(1h)`},
		{"double-groupby-1", "influxql", `SELECT mean(usage_user) FROM cpu WHERE ` + half + ` GROUP BY time(1h),hostname`},
		{"double-groupby-5", "influxql", `SELECT ` + strings.ReplaceAll(max5, "max(", "mean(") + ` FROM cpu WHERE ` + half + ` GROUP BY time(1h),hostname`},
		{"double-groupby-all", "influxql", `SELECT ` + meanAll + ` FROM cpu WHERE ` + half + ` GROUP BY time(1h),hostname`},
		// TSBS's threshold is 90; this generator's usage_user rarely gets
		// there, and an empty answer would time only the scan.
		{"high-cpu-1", "influxql", `SELECT * FROM cpu WHERE usage_user > 70 AND ` + one + ` AND ` + half},
		{"lastpoint", "influxql", `SELECT * FROM cpu GROUP BY "hostname" ORDER BY time DESC LIMIT 1`},
		// Grafana's forms of it: a stat panel's latest value of one host,
		// and a table panel's latest values of every series.
		{"last-stat", "influxql", `SELECT last(usage_user) FROM cpu WHERE hostname = 'host_42'`},
		{"last-all-series", "influxql", `SELECT last(*) FROM cpu GROUP BY *`},
		{"single-groupby-1-1-1", "sql", `SELECT ` + bin("1 minute") + `, max(usage_user) FROM cpu WHERE ` + one + ` AND ` + hour + ` GROUP BY t ORDER BY t`},
		{"single-groupby-1-1-12", "sql", `SELECT ` + bin("1 minute") + `, max(usage_user) FROM cpu WHERE ` + one + ` AND ` + twelve + ` GROUP BY t ORDER BY t`},
		{"single-groupby-5-1-12", "sql", `SELECT ` + bin("1 minute") + `, ` + max5 + ` FROM cpu WHERE ` + one + ` AND ` + twelve + ` GROUP BY t ORDER BY t`},
		{"cpu-max-all-8", "sql", `SELECT ` + bin("1 hour") + `, ` + maxAll + ` FROM cpu WHERE ` + or8 + ` AND ` + span(0, 8*time.Hour) + ` GROUP BY t ORDER BY t`},
		{"double-groupby-all", "sql", `SELECT ` + bin("1 hour") + `, hostname, ` + avgAll + ` FROM cpu WHERE ` + half + ` GROUP BY t, hostname ORDER BY hostname, t`},
	}
	handler := srv.srv.srv.Handler
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	profiles := os.Getenv("SILT_BENCH_CPUPROFILE")
	heaps := os.Getenv("SILT_BENCH_MEMPROFILE")
	endNS := regexp.MustCompile(`time < ([0-9]+)`)
	for _, q := range queries {
		uri := func(text string) string {
			if q.path == "sql" {
				return "/api/v1/sql?" + url.Values{"db": {"bench"}, "q": {text}}.Encode()
			}
			return "/query?" + url.Values{"db": {"bench"}, "epoch": {"ns"}, "q": {text}}.Encode()
		}
		// cold: every request a text not seen before (its end a
		// nanosecond later each time), as TSBS's random hosts and
		// windows and Grafana's $timeFilter make them: nothing from the
		// plan cache.
		for _, cold := range []bool{false, true} {
			name := q.name + "/" + q.path
			var uris func(i int) string
			if cold {
				if !endNS.MatchString(q.q) {
					continue
				}
				name += "-cold"
				uris = func(i int) string {
					return uri(endNS.ReplaceAllStringFunc(q.q, func(m string) string {
						n, _ := strconv.ParseInt(endNS.FindStringSubmatch(m)[1], 10, 64)
						return "time < " + strconv.FormatInt(n+1+int64(i), 10)
					}))
				}
			}
			b.Run(name, func(b *testing.B) {
				benchHandler(b, handler, remote, uri(q.q), uris, func(run func()) {
					if heaps != "" {
						// Before and after the loop: read them with
						// pprof -sample_index=alloc_space -base.
						heap := func(suffix string) {
							f, err := os.Create(filepath.Join(heaps, strings.ReplaceAll(name, "/", "-")+suffix+".pprof"))
							if err != nil {
								b.Fatal(err)
							}
							defer f.Close()
							runtime.GC() // the profile is as of the last collection
							if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
								b.Fatal(err)
							}
						}
						heap("-before")
						defer heap("-after")
					}
					if profiles == "" {
						run()
						return
					}
					f, err := os.Create(filepath.Join(profiles, strings.ReplaceAll(name, "/", "-")+".pprof"))
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					if err := pprof.StartCPUProfile(f); err != nil {
						b.Fatal(err)
					}
					run()
					pprof.StopCPUProfile()
				})
			})
		}
	}
}

// benchHandler times one request through handler: it runs it twice
// first (the answer must be a 200 with a body; the second run finds the
// parse and plans cached, as a dashboard's refresh does), then b.N times
// inside wrap, reporting the process's CPU per request.
// uris, when not nil, gives the timed loop's i-th request instead of uri.
func benchHandler(b *testing.B, handler fasthttp.RequestHandler, remote net.Addr, uri string, uris func(i int) string, wrap func(run func())) {
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
			b.Fatalf("%s: %d %s", uri, code, ctx.Response.Body())
		}
	}
	run()
	body, err := ctx.Response.BodyUncompressed()
	if err != nil || len(body) < 50 {
		b.Fatalf("%s: %s %v", uri, body, err)
	}
	run()
	var texts []string
	if uris != nil {
		texts = make([]string, b.N)
		for i := range texts {
			texts[i] = uris(i)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	wrap(func() {
		for i := 0; i < b.N; i++ {
			if texts != nil {
				req.SetRequestURI(texts[i])
			}
			run()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(len(body)), "json-B")
}
