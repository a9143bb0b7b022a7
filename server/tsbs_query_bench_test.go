package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
)

// BenchmarkTSBSQueries times the TSBS cpu-only query shapes that stress
// predicate pushdown and the series-aware operators, through /query
// (InfluxQL, Grafana's path) and /api/v1/sql, on one TSBS day: 100 hosts
// every 10 s (864,000 rows) with TSBS's integer fields, flushed into
// segments. It reports, besides time and allocations, the peak RSS of the
// process while the query ran (peak-RSS-MB; Linux only) and, for SQL, the
// rows the query scanned. Run with
//
//	go test ./server -run '^$' -bench TSBSQueries -benchmem -benchtime 20x
//
// SILT_BENCH_HOURS shortens the day (default 24); SILT_BENCH_HEAD=1 keeps
// the last hour in the unflushed head, SILT_BENCH_HEAD=all the whole day
// (what a live dashboard reads).
func BenchmarkTSBSQueries(b *testing.B) {
	hours := 24
	if v, err := strconv.Atoi(os.Getenv("SILT_BENCH_HOURS")); err == nil && v > 0 {
		hours = v
	}
	srv := startServer(b, 0)
	base := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	g := bench.NewCPU(100, base, 10*time.Second, 7)
	post(b, srv.url+"/query", "q=CREATE+DATABASE+bench")
	steps := hours * 360
	head := os.Getenv("SILT_BENCH_HEAD") == "1"
	allHead := os.Getenv("SILT_BENCH_HEAD") == "all"
	for done := 0; done < steps; done += 360 {
		if head && done == steps-360 {
			if err := srv.eng.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		var buf []byte
		for i := 0; i < 360; i++ {
			buf = g.AppendInterval(buf)
		}
		post(b, srv.url+"/write?db=bench", string(integerFields(buf)))
	}
	if !head && !allHead {
		if err := srv.eng.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	ns := func(d time.Duration) int64 { return base.Add(d).UnixNano() }
	var hosts8, in8 []string
	for h := 0; h < 8; h++ {
		hosts8 = append(hosts8, fmt.Sprintf("hostname = 'host_%d'", h*11))
		in8 = append(in8, fmt.Sprintf("'host_%d'", h*11))
	}
	or8 := "(" + strings.Join(hosts8, " or ") + ")"
	hour := fmt.Sprintf("time >= %d AND time < %d", ns(2*time.Hour), ns(3*time.Hour))
	eight := fmt.Sprintf("time >= %d AND time < %d", ns(0), ns(time.Duration(min(hours, 8))*time.Hour))
	half := fmt.Sprintf("time >= %d AND time < %d", ns(4*time.Hour), ns(time.Duration(min(hours, 16))*time.Hour))
	twelve := fmt.Sprintf("time >= %d AND time < %d", ns(0), ns(time.Duration(min(hours, 12))*time.Hour))
	end := time.Duration(hours) * time.Hour
	last15 := fmt.Sprintf("time >= %d AND time <= %d", ns(end-15*time.Minute), ns(end))
	max5 := `max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait)`
	one := "(hostname = 'host_42')"
	// cpu-max-all-1's eight hours start on a minute, not an hour, as
	// TSBS's random windows do: its first and last hours are ragged.
	ragged8 := fmt.Sprintf("time >= %d AND time < %d", ns(97*time.Minute), ns(97*time.Minute+time.Duration(min(hours-2, 8))*time.Hour))
	maxAll := `max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice)`
	influx := []struct{ name, q string }{
		{"single-groupby-1-1-1/influxql", `SELECT max(usage_user) FROM cpu WHERE ` + one + ` AND ` + hour + ` GROUP BY time(1m)`},
		{"single-groupby-1-1-12/influxql", `SELECT max(usage_user) FROM cpu WHERE ` + one + ` AND ` + twelve + ` GROUP BY time(1m)`},
		{"single-groupby-5-1-1/influxql", `SELECT ` + max5 + ` FROM cpu WHERE ` + one + ` AND ` + hour + ` GROUP BY time(1m)`},
		{"single-groupby-1-8-1/influxql", `SELECT max(usage_user) FROM cpu WHERE ` + or8 + ` AND ` + hour + ` GROUP BY time(1m)`},
		{"single-groupby-5-8-1/influxql", `SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait) FROM cpu WHERE ` + or8 + ` AND ` + hour + ` GROUP BY time(1m)`},
		{"cpu-max-all-8/influxql", `SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice) FROM cpu WHERE ` + or8 + ` AND ` + eight + ` GROUP BY time(1h)`},
		{"single-groupby-5-1-12/influxql", `SELECT ` + max5 + ` FROM cpu WHERE ` + one + ` AND ` + twelve + ` GROUP BY time(1m)`},
		{"cpu-max-all-1/influxql", `SELECT ` + maxAll + ` FROM cpu WHERE ` + one + ` AND ` + ragged8 + ` GROUP BY time(1h)`},
		{"high-cpu-1/influxql", `SELECT * FROM cpu WHERE usage_user > 90 AND ` + one + ` AND ` + half},
		{"high-cpu-all/influxql", `SELECT * FROM cpu WHERE usage_user > 90 AND ` + half},
		{"double-groupby-1/influxql", `SELECT mean(usage_user) FROM cpu WHERE ` + half + ` GROUP BY time(1h),hostname`},
		{"double-groupby-all/influxql", `SELECT mean(usage_user),mean(usage_system),mean(usage_idle),mean(usage_nice),mean(usage_iowait),mean(usage_irq),mean(usage_softirq),mean(usage_steal),mean(usage_guest),mean(usage_guest_nice) FROM cpu WHERE ` + half + ` GROUP BY time(1h),hostname`},
		{"lastpoint/influxql", `SELECT * FROM cpu GROUP BY "hostname" ORDER BY time DESC LIMIT 1`},
		{"last-star/influxql", `SELECT last(*) FROM cpu GROUP BY "hostname"`},
		// Grafana's stat and table panels over the last 15 minutes of data
		// (the panels say now() - 15m; the data ends at base + hours).
		{"grafana-stat/influxql", `SELECT last("usage_user") FROM "cpu" WHERE ("hostname" = 'host_97') AND ` + last15},
		{"grafana-table/influxql", `SELECT last("usage_user") AS "user", last("usage_system") AS "system", last("usage_idle") AS "idle" FROM "cpu" WHERE ` + last15 + ` GROUP BY "hostname"`},
	}
	cols := strings.Join(append([]string{"time"}, append(bench.CPUTags, bench.CPUFields...)...), ", ")
	sqls := []struct{ name, q string }{
		{"single-groupby-1-1-1/sql", `SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user) FROM cpu WHERE ` + one + ` AND ` + hour + ` GROUP BY minute ORDER BY minute ASC`},
		{"single-groupby-1-1-12/sql", `SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user) FROM cpu WHERE ` + one + ` AND ` + twelve + ` GROUP BY minute ORDER BY minute ASC`},
		{"single-groupby-5-1-1/sql", `SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, ` + max5 + ` FROM cpu WHERE ` + one + ` AND ` + hour + ` GROUP BY minute ORDER BY minute ASC`},
		{"single-groupby-1-8-1/sql-or", `SELECT date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS m, max(usage_user) FROM cpu WHERE ` + or8 + ` AND ` + hour + ` GROUP BY m ORDER BY m`},
		{"single-groupby-1-8-1/sql-in", `SELECT date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS m, max(usage_user) FROM cpu WHERE hostname IN (` + strings.Join(in8, ",") + `) AND ` + hour + ` GROUP BY m ORDER BY m`},
		{"single-groupby-5-1-12/sql", `SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, ` + max5 + ` FROM cpu WHERE ` + one + ` AND ` + twelve + ` GROUP BY minute ORDER BY minute ASC`},
		{"cpu-max-all-1/sql", `SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS hour, ` + maxAll + ` FROM cpu WHERE ` + one + ` AND ` + ragged8 + ` GROUP BY hour ORDER BY hour`},
		{"high-cpu-all/sql", `SELECT ` + cols + ` FROM cpu WHERE usage_user > 90 AND ` + half},
	}
	run := func(b *testing.B, u string, scanned bool) {
		var rows float64
		var cpu time.Duration
		peak := measurePeak(b, func() {
			cpu0 := processCPU()
			defer func() { cpu = processCPU() - cpu0 }()
			for i := 0; i < b.N; i++ {
				body := get(b, u)
				if scanned && i == 0 {
					var r struct {
						Stats struct {
							RowsScanned float64 `json:"rows_scanned"`
						} `json:"stats"`
					}
					if err := json.Unmarshal(body, &r); err != nil {
						b.Fatalf("%s: %v", body, err)
					}
					rows = r.Stats.RowsScanned
				}
			}
		})
		if scanned {
			b.ReportMetric(rows, "rows-scanned")
		}
		b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		if peak > 0 {
			b.ReportMetric(peak, "peak-RSS-MB")
		}
	}
	for _, q := range influx {
		b.Run(q.name, func(b *testing.B) {
			run(b, srv.url+"/query?"+url.Values{"db": {"bench"}, "epoch": {"ns"}, "q": {q.q}}.Encode(), false)
		})
	}
	for _, q := range sqls {
		b.Run(q.name, func(b *testing.B) {
			run(b, srv.url+"/api/v1/sql?"+url.Values{"db": {"bench"}, "q": {q.q}}.Encode(), true)
		})
	}
}

// integerFields rewrites line protocol's float field values as integers
// (truncated), as TSBS's influx format writes the cpu fields.
func integerFields(lp []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(lp, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		parts := bytes.SplitN(line, []byte{' '}, 3)
		out = append(out, parts[0]...)
		out = append(out, ' ')
		for i, kv := range bytes.Split(parts[1], []byte{','}) {
			k, v, _ := bytes.Cut(kv, []byte{'='})
			v = bytes.TrimSuffix(v, []byte{'i'}) // already an integer
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				panic(err)
			}
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, k...)
			out = append(out, '=')
			out = strconv.AppendInt(out, int64(f), 10)
			out = append(out, 'i')
		}
		out = append(out, ' ')
		out = append(out, parts[2]...)
		out = append(out, '\n')
	}
	return out
}

func post(b *testing.B, u, body string) {
	b.Helper()
	ct := "text/plain"
	if strings.HasSuffix(u, "/query") {
		ct = "application/x-www-form-urlencoded"
	}
	resp, err := http.Post(u, ct, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Fatalf("post %s: %s %s", u, resp.Status, msg)
	}
}

func get(b *testing.B, u string) []byte {
	b.Helper()
	resp, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %s %s", u, resp.Status, body)
	}
	return body
}

// measurePeak runs fn and returns the process's peak RSS in MB while it
// ran (0 where /proc cannot tell): memory is returned to the OS first and
// the kernel's high-water mark reset.
func measurePeak(b *testing.B, fn func()) float64 {
	runtime.GC()
	debug.FreeOSMemory()
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	b.ResetTimer()
	fn()
	b.StopTimer()
	if !reset {
		return 0
	}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
