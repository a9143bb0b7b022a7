package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/siltdb/silt/bench"
)

const benchDashboardUsage = `Usage: silt bench dashboard --url URL [flags]

The real-time dashboard benchmark. --loaders goroutines write TSBS cpu rows
(--scale hosts, each loader its own hosts) through the InfluxDB v1 /write
endpoint as fast as the server acknowledges them, every row stamped with the
wall clock (one timestamp per round of a loader's hosts, strictly increasing
per series). A 429 answer is waited out (Retry-After) and counted.

  1. backfill: --backfill of history, one row per host every --interval,
     so the 6-hour panels have data (not timed)
  2. warmup: ingest alone for --warmup (not timed), so the phases measure a
     server that flushes: a head filling from empty writes no segment
  3. ingest alone for --duration: rows/s
  4. ingest for --duration while --panels Grafana-like panels refresh every
     --refresh: rows/s, and per panel p50/p99/max latency, errors, misses
  5. with --recheck, ingest alone again: the rate alone is then both alone
     phases together, so a rate that drifts as the data grows (the head
     fills, flushes start) is not blamed on the panels
  With --rounds N (N > 1), phases 3 and 4 alternate N times and end alone
  (alone, panels, alone, ..., panels, alone). Each panel phase is compared
  with the alone phases either side of it, and the figures are the medians
  over the rounds, so one phase disturbed by another process on a shared
  machine does not decide the result.

Each phase prints the flushes the server finished in it (Silt's /metrics)
and, for a server on this machine, its CPU seconds per million rows; with
--rounds or --recheck also the server's CPU per panel refresh (the panel
phase's CPU less its rows' cost at the rate of the phases around it), the
figure that stays comparable when the machine is busy.

The panels are InfluxQL GETs on /query?db=DB&q=...&epoch=ms as Grafana's
InfluxDB data source sends them: graphs of one host, a few hosts, every
host by host and the whole fleet over the last 15 minutes, hour and 6 hours,
GROUP BY time(10s|30s|1m) fill(null), a stat panel (last value) and a
table of every host's last values. They refresh on the same ticks; a panel
whose previous refresh is still running misses the tick, as in Grafana.
--print lists them. When the server listens on this machine its peak RSS
in each phase is reported too.

The figure of merit: panel latency under ingest, and the ingest rate with
panels as a share of the rate alone (goal: at least 90%).

Example:
  silt serve --data-dir /tmp/dash &
  silt bench dashboard --url http://127.0.0.1:8086 --duration 30s

Flags:
`

// dashboardFile is what --json writes.
type dashboardFile struct {
	URL        string                `json:"url"`
	DB         string                `json:"db"`
	Hosts      int                   `json:"hosts"`
	Loaders    int                   `json:"loaders"`
	BatchSize  int                   `json:"batch_size"`
	Refresh    time.Duration         `json:"refresh_ns"`
	Duration   time.Duration         `json:"duration_ns"`
	Backfill   time.Duration         `json:"backfill_ns"`
	TimeFilter string                `json:"time_filter"`
	Result     bench.DashboardResult `json:"result"`
	RowsPerS   [2]float64            `json:"rows_per_s"` // alone (both phases with --recheck), with panels
	Ratio      float64               `json:"ratio"`
	Rounds     int                   `json:"rounds,omitempty"`
	TotalRows  int64                 `json:"total_rows"`
	ServerPID  int                   `json:"server_pid,omitempty"`
}

func runBenchDashboard(args []string) int {
	fs := flag.NewFlagSet("bench dashboard", flag.ContinueOnError)
	u := fs.String("url", "http://127.0.0.1:8086", "server base URL")
	db := fs.String("db", "dashboard", "database (its own: the rows carry today's times)")
	scale := fs.Int("scale", 100, "number of hosts")
	loaders := fs.Int("loaders", 4, "concurrent writers, each with its own hosts")
	batch := fs.Int("batch-size", 5000, "rows per /write request")
	panels := fs.Int("panels", 10, "dashboard panels (past 10 the set repeats on other hosts)")
	refresh := fs.Duration("refresh", time.Second, "panel refresh interval")
	dur := fs.Duration("duration", 60*time.Second, "length of each phase")
	backfill := fs.Duration("backfill", 6*time.Hour, "history written before the phases (0: none)")
	interval := fs.Duration("interval", 10*time.Second, "time between two backfill rows of a host")
	seed := fs.Uint64("seed", 123, "random seed (hosts' tags, values, the panels' hosts)")
	filter := fs.String("time-filter", "ms", "how $timeFilter is expanded: ms (Grafana 8+: time >= <from>ms and time <= <to>ms) or now (time >= now() - 15m and time <= now())")
	pid := fs.Int("server-pid", 0, "the server's process id, for its peak RSS (default: found from --url when local)")
	printOnly := fs.Bool("print", false, "print the panels' queries and run nothing")
	warmup := fs.Duration("warmup", 30*time.Second, "ingest alone before the phases, not timed (0: none)")
	recheck := fs.Bool("recheck", false, "after the panels, ingest alone again and compare with both alone phases")
	rounds := fs.Int("rounds", 1, "alternate ingest alone and with the panels this many times, ending alone, and report the medians (above 1: implies --recheck)")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file")
	if code, ok := parseFlags(fs, benchDashboardUsage, args); !ok {
		return code
	}
	cfg := bench.DashboardConfig{URL: *u, DB: *db, Hosts: *scale, Loaders: *loaders, BatchSize: *batch,
		Panels: bench.DashboardPanels(*panels, *scale, *seed), Refresh: *refresh, Duration: *dur,
		Backfill: *backfill, Interval: *interval, Seed: *seed, Filter: bench.TimeFilter(*filter), Recheck: *recheck,
		Warmup: *warmup, Rounds: *rounds}
	err := cfg.Validate()
	if err == nil && *panels < 0 {
		err = fmt.Errorf("need --panels >= 0")
	}
	if err == nil && *rounds < 1 {
		err = fmt.Errorf("need --rounds >= 1")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench dashboard:", err)
		return 2
	}
	if *printOnly {
		now := time.Now()
		for i, p := range cfg.Panels {
			fmt.Printf("-- panel %d: %s (%s, last %s)\n%s\n", i+1, p.Title, p.Kind, bench.InfluxDuration(p.Range), p.Text(now, cfg.Filter))
		}
		return 0
	}
	cfg.ServerPID = *pid
	if cfg.ServerPID == 0 {
		cfg.ServerPID = localServerPID(*u)
	}
	cfg.Log = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.RunDashboard(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench dashboard:", err)
		return 1
	}
	printDashboard(os.Stdout, cfg, res)
	if *jsonOut != "" {
		f := dashboardFile{URL: *u, DB: *db, Hosts: *scale, Loaders: *loaders, BatchSize: *batch, Refresh: *refresh,
			Duration: *dur, Backfill: *backfill, TimeFilter: *filter, Result: res,
			RowsPerS: [2]float64{res.AloneRowsPerSec(), res.PanelRowsPerSec()}, Ratio: res.Ratio(),
			TotalRows: res.TotalRows(), ServerPID: cfg.ServerPID, Rounds: *rounds}
		if err := writeJSON(*jsonOut, f); err != nil {
			fmt.Fprintln(os.Stderr, "silt bench dashboard:", err)
			return 1
		}
	}
	for _, p := range res.Panels {
		if p.Errors > 0 {
			return 1
		}
	}
	return 0
}

// localServerPID finds the process listening on rawURL's port when its host
// is this machine's loopback; 0 otherwise.
func localServerPID(rawURL string) int {
	pu, err := url.Parse(rawURL)
	if err != nil {
		return 0
	}
	host, port := pu.Hostname(), pu.Port()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	if port == "" {
		port = "80"
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	return bench.ListeningPID(p)
}

func printDashboard(w io.Writer, cfg bench.DashboardConfig, res bench.DashboardResult) {
	fmt.Fprintf(w, "dashboard benchmark: %d hosts, %d loaders x %d rows a request, %d panels every %s, %s per phase\n",
		cfg.Hosts, cfg.Loaders, cfg.BatchSize, len(cfg.Panels), cfg.Refresh, cfg.Duration)
	if cfg.Backfill > 0 {
		fmt.Fprintf(w, "backfill: %s of history, %d rows in %.1fs\n\n", cfg.Backfill, res.BackfillRows, res.BackfillElapsed.Seconds())
	}
	phase := func(name string, r bench.PhaseResult) {
		fmt.Fprintf(w, "%-22s %10.0f rows/s  %10d rows in %5.1fs, %d requests, %d answered 429 (%.1fs waited",
			name, r.RowsPerSec(), r.Rows, r.Elapsed.Seconds(), r.Requests, r.Backpressure, r.BackpressureWait.Seconds())
		if r.Dropped > 0 {
			fmt.Fprintf(w, ", %d rows dropped at the end", r.Dropped)
		}
		fmt.Fprintf(w, "); this client used %.1f CPU-s\n", r.ClientCPU.Seconds())
		fmt.Fprintf(w, "%-22s %10s  %d flushes (%.1fs)", "", "", r.Flushes, r.FlushSeconds)
		if r.ServerCPU > 0 {
			fmt.Fprintf(w, "; the server used %.1f CPU-s, %.2f CPU-s per million rows", r.ServerCPU.Seconds(), r.ServerCPUPerMRow())
		}
		fmt.Fprintln(w)
	}
	if len(res.PanelRuns) > 0 {
		for i, a := range res.AloneRuns {
			phase(fmt.Sprintf("round %d alone", i+1), a)
			if i < len(res.PanelRuns) {
				phase(fmt.Sprintf("round %d + panels", i+1), res.PanelRuns[i])
			}
		}
	} else {
		phase("ingest alone", res.Alone)
		phase("ingest + panels", res.WithPanels)
		if a := res.AloneAfter; a != nil {
			phase("ingest alone again", *a)
		}
	}
	if rs := res.Rounds(); len(rs) > 0 {
		fmt.Fprintf(w, "\nper round: panel phase against the alone phases before and after it\n")
		fmt.Fprintf(w, "%-6s %12s %12s %8s %16s %16s %14s\n", "round", "alone rows/s", "panels", "ratio", "CPU-s/M alone", "CPU-s/M panels", "CPU ms/refresh")
		for i, r := range rs {
			fmt.Fprintf(w, "%-6d %12.0f %12.0f %7.1f%% %16s %16s %14s\n", i+1, r.AloneRowsPerSec(), r.Panels.RowsPerSec(),
				100*r.Ratio(), cpuFig(r.AloneCPUPerMRow()), cpuFig(r.Panels.ServerCPUPerMRow()), ms(r.PanelCPUPerRefresh()))
		}
		med := func(f func(bench.Round) float64) float64 { return bench.MedianOf(rs, f) }
		fmt.Fprintf(w, "%-6s %12.0f %12.0f %7.1f%% %16s %16s %14s\n\n", "median", res.AloneRowsPerSec(), res.PanelRowsPerSec(), 100*res.Ratio(),
			cpuFig(med(bench.Round.AloneCPUPerMRow)), cpuFig(med(func(r bench.Round) float64 { return r.Panels.ServerCPUPerMRow() })),
			ms(med(bench.Round.PanelCPUPerRefresh)))
	}
	if res.AloneAfter != nil {
		fmt.Fprintf(w, "%-22s %10.0f rows/s  (both alone phases)\n", "alone", res.AloneRowsPerSec())
	}
	verdict := "below the 90% goal"
	if res.Ratio() >= 0.9 {
		verdict = "meets the 90% goal"
	}
	if n := len(res.PanelRuns); n > 0 {
		verdict = fmt.Sprintf("median of %d rounds, %s", n, verdict)
	}
	fmt.Fprintf(w, "%-22s %10.1f%%  (%s)\n", "with panels / alone", 100*res.Ratio(), verdict)
	if cfg.ServerPID != 0 {
		alone, panels := res.Alone.ServerPeakRSS, res.WithPanels.ServerPeakRSS
		for _, a := range res.AloneRuns {
			alone = max(alone, a.ServerPeakRSS)
		}
		for _, p := range res.PanelRuns {
			panels = max(panels, p.ServerPeakRSS)
		}
		fmt.Fprintf(w, "%-22s %10s  alone, %s with panels", "server peak RSS", mb(alone), mb(panels))
		if a := res.AloneAfter; a != nil {
			fmt.Fprintf(w, ", %s alone again", mb(a.ServerPeakRSS))
		}
		fmt.Fprintf(w, " (pid %d)\n", cfg.ServerPID)
	} else {
		fmt.Fprintf(w, "%-22s %10s  (server not local or not found; --server-pid)\n", "server peak RSS", "n/a")
	}
	fmt.Fprintf(w, "\npanel latency under ingest, ms (%s refresh; misses: ticks skipped while the previous refresh ran)\n", cfg.Refresh)
	fmt.Fprintf(w, "%-3s %-5s %-6s %-48s %5s %8s %8s %8s %6s %6s %7s %7s\n",
		"#", "kind", "range", "query", "runs", "p50", "p99", "max", "errors", "misses", "series", "values")
	var errs, misses, runs int
	for i, p := range res.Panels {
		p50, p99, hi := bench.LatencyStats(p.Latencies)
		fmt.Fprintf(w, "%-3d %-5s %-6s %-48s %5d %8s %8s %8s %6d %6d %7d %7d\n", i+1, p.Panel.Kind,
			bench.InfluxDuration(p.Panel.Range), clip(p.Panel.Summary, 48), len(p.Latencies), ms(p50), ms(p99), ms(hi),
			p.Errors, p.Misses, p.Series, p.Values)
		errs += p.Errors
		misses += p.Misses
		runs += len(p.Latencies)
	}
	p50, p99, hi := bench.LatencyStats(res.AllLatencies())
	fmt.Fprintf(w, "%-3s %-5s %-6s %-48s %5d %8s %8s %8s %6d %6d\n", "", "all", "", "", runs, ms(p50), ms(p99), ms(hi), errs, misses)
	for i, p := range res.Panels {
		for _, e := range p.ErrorText {
			fmt.Fprintf(w, "panel %d error: %s\n", i+1, e)
		}
	}
	if len(res.PanelRuns) > 0 {
		fmt.Fprintf(w, "\nrows acknowledged in all: %d (backfill %d + warmup %d + %d phases)\n", res.TotalRows(), res.BackfillRows, res.WarmupRows,
			len(res.AloneRuns)+len(res.PanelRuns))
		return
	}
	fmt.Fprintf(w, "\nrows acknowledged in all: %d (backfill %d + warmup %d + %d + %d", res.TotalRows(), res.BackfillRows, res.WarmupRows, res.Alone.Rows, res.WithPanels.Rows)
	if a := res.AloneAfter; a != nil {
		fmt.Fprintf(w, " + %d", a.Rows)
	}
	fmt.Fprintln(w, ")")
}

// cpuFig spells CPU seconds per million rows ("-": unknown).
func cpuFig(v float64) string {
	if v == 0 || math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func mb(b int64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
