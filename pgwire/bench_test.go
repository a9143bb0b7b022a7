package pgwire

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/server"
)

// BenchmarkTSBSQueries times TSBS cpu-only query shapes through the
// PostgreSQL listener (pgx, simple protocol with text results and
// extended protocol with binary results, every row read) against
// /api/v1/sql (JSON, the body read whole), on the same in-process server
// (ns/op is the three together; the metrics give each path's median):
// 100 hosts every 10 s for SILT_BENCH_HOURS hours (default 4, at least 2), flushed
// into segments. Run with
//
//	go test ./pgwire -run '^$' -bench TSBSQueries -benchtime 200x
func BenchmarkTSBSQueries(b *testing.B) {
	hours := 4
	if v, err := strconv.Atoi(os.Getenv("SILT_BENCH_HOURS")); err == nil && v >= 2 { // the hour-long queries read the second hour
		hours = v
	}
	e := startEnv(b, server.Config{}, nil)
	base := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	g := bench.NewCPU(100, base, 10*time.Second, 7)
	for done := 0; done < hours*360; done += 360 {
		var buf []byte
		for i := 0; i < 360; i++ {
			buf = g.AppendInterval(buf)
		}
		e.write(b, string(buf), "")
	}
	if err := e.eng.Flush(); err != nil {
		b.Fatal(err)
	}
	ts := func(d time.Duration) string { return "'" + base.Add(d).Format(time.RFC3339) + "'" }
	var in8 []string
	for h := 0; h < 8; h++ {
		in8 = append(in8, fmt.Sprintf("'host_%d'", h*11))
	}
	hosts := "hostname IN (" + strings.Join(in8, ",") + ")"
	hour := "time >= " + ts(time.Hour) + " AND time < " + ts(2*time.Hour)
	all := "time >= " + ts(0) + " AND time < " + ts(time.Duration(hours)*time.Hour)
	minute := "date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '1970-01-01 00:00:00+00')"
	queries := []struct{ name, q string }{
		{"single-groupby-1-8-1", `SELECT ` + minute + ` AS m, max(usage_user) FROM cpu WHERE ` + hosts + ` AND ` + hour + ` GROUP BY m ORDER BY m`},
		{"single-groupby-5-8-1", `SELECT ` + minute + ` AS m, max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu WHERE ` + hosts + ` AND ` + hour + ` GROUP BY m ORDER BY m`},
		{"cpu-max-all-8", `SELECT date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS h, max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait), max(usage_irq), max(usage_softirq), max(usage_steal), max(usage_guest), max(usage_guest_nice) FROM cpu WHERE ` + hosts + ` AND ` + all + ` GROUP BY h ORDER BY h`},
		{"double-groupby-1", `SELECT date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS h, hostname, avg(usage_user) FROM cpu WHERE ` + all + ` GROUP BY h, hostname ORDER BY h, hostname`},
		{"high-cpu-1", `SELECT * FROM cpu WHERE usage_user > 90 AND hostname = 'host_7' AND ` + all},
		{"high-cpu-all", `SELECT * FROM cpu WHERE usage_user > 90 AND ` + all},
		{"lastpoint", `SELECT hostname, last(usage_user, time) FROM cpu GROUP BY hostname ORDER BY hostname`},
		{"groupby-orderby-limit", `SELECT ` + minute + ` AS m, max(usage_user) FROM cpu WHERE time < ` + ts(time.Duration(hours)*time.Hour) + ` GROUP BY m ORDER BY m DESC LIMIT 5`},
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dsn(""))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	client := &http.Client{}
	httpJSON := func(u string) {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %s", u, resp.Status)
		}
	}
	pgRows := func(q string, mode pgx.QueryExecMode) {
		rows, err := conn.Query(ctx, q, mode)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n += len(rows.RawValues())
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatalf("%s: no rows", q)
		}
	}
	// The three paths run in turn within each iteration, so that the
	// machine's load drifts over all three alike; each reports its median
	// (ms/op) and pgwire's medians relative to HTTP's.
	for _, q := range queries {
		u := e.http + "/api/v1/sql?" + url.Values{"db": {testDB}, "q": {q.q}}.Encode()
		b.Run(q.name, func(b *testing.B) {
			var h, s, x []float64
			timeIt := func(dst *[]float64, fn func()) {
				start := time.Now()
				fn()
				*dst = append(*dst, float64(time.Since(start).Nanoseconds())/1e6)
			}
			for i := 0; i < b.N; i++ {
				timeIt(&h, func() { httpJSON(u) })
				timeIt(&s, func() { pgRows(q.q, pgx.QueryExecModeSimpleProtocol) })
				timeIt(&x, func() { pgRows(q.q, pgx.QueryExecModeCacheStatement) })
			}
			mh, ms, mx := median(h), median(s), median(x)
			b.ReportMetric(mh, "http-json-ms")
			b.ReportMetric(ms, "pg-simple-text-ms")
			b.ReportMetric(mx, "pg-ext-binary-ms")
			b.ReportMetric(ms/mh, "simple/http")
			b.ReportMetric(mx/mh, "ext/http")
		})
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
