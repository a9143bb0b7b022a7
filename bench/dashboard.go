package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The real-time dashboard benchmark: loaders write TSBS cpu rows stamped
// with the wall clock as fast as the server takes them, first alone, then
// while Grafana-like panels over the last minutes and hours refresh every
// second. It measures what a live dashboard costs: panel latency under
// ingest, and how much ingest the panels take away.

// Panel is one dashboard panel: an InfluxQL query with Grafana's
// $timeFilter macro, refreshed over the last Range.
type Panel struct {
	Title   string        `json:"title"`
	Kind    string        `json:"kind"`  // graph, stat or table
	Range   time.Duration `json:"range"` // the dashboard's "last 15 minutes", ...
	Summary string        `json:"summary"`
	Query   string        `json:"query"` // contains $timeFilter
}

// TimeFilter is how $timeFilter is expanded.
type TimeFilter string

const (
	// FilterAbsolute is what Grafana 8 and later send (the data source's
	// backend): "time >= <from>ms and time <= <to>ms", from and to in epoch
	// milliseconds at refresh time.
	FilterAbsolute TimeFilter = "ms"
	// FilterRelative is what Grafana's browser-side data source sends for a
	// relative range ending now: "time >= now() - 15m and time <= now()".
	FilterRelative TimeFilter = "now"
)

// Text returns the query with $timeFilter expanded for a refresh at now.
func (p Panel) Text(now time.Time, f TimeFilter) string {
	var tf string
	if f == FilterRelative {
		tf = "time >= now() - " + InfluxDuration(p.Range) + " and time <= now()"
	} else {
		to := now.UnixMilli()
		from := now.Add(-p.Range).UnixMilli()
		tf = "time >= " + strconv.FormatInt(from, 10) + "ms and time <= " + strconv.FormatInt(to, 10) + "ms"
	}
	return strings.ReplaceAll(p.Query, "$timeFilter", tf)
}

// influxDuration spells d as an InfluxQL duration literal in its largest
// whole unit: 15m, 1h, 6h, 90s.
func InfluxDuration(d time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d >= u.d && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.s
		}
	}
	return strconv.FormatInt(d.Microseconds(), 10) + "u"
}

// DashboardPanels returns n panels over a fleet of hosts hosts. The first
// ten are a typical host-overview dashboard: graphs of one host, of a few
// hosts and of every host by host, fleet-wide averages, a stat panel (last
// value) and a table of every host's latest values; over the last 15
// minutes, hour and 6 hours, bucketed by time(10s), time(30s) and time(1m)
// as Grafana's $__interval gives for those ranges with a 10s minimum
// interval. Panels past ten repeat the set on other hosts. The hosts
// follow from seed.
func DashboardPanels(n, hosts int, seed uint64) []Panel {
	rng := rand.New(rand.NewPCG(seed, seed^0x64617368626f6172))
	host := func() string { return "host_" + strconv.Itoa(rng.IntN(hosts)) }
	some := func(k int) []string {
		k = min(k, hosts)
		var hs []string
		for _, i := range rng.Perm(hosts)[:k] {
			hs = append(hs, "host_"+strconv.Itoa(i))
		}
		slices.SortFunc(hs, func(a, b string) int { return cmpHost(a, b) })
		return hs
	}
	const (
		m15 = 15 * time.Minute
		h1  = time.Hour
		h6  = 6 * time.Hour
	)
	var out []Panel
	for len(out) < n {
		h1st, h2nd, h3rd := host(), host(), host()
		five, three := some(5), some(3)
		re := func(hs []string) string { return "/^(" + strings.Join(hs, "|") + ")$/" }
		set := []Panel{
			{Title: "CPU user " + h1st, Kind: "graph", Range: m15,
				Summary: "mean(usage_user) " + h1st + " time(10s)",
				Query:   `SELECT mean("usage_user") FROM "cpu" WHERE ("hostname" = '` + h1st + `') AND $timeFilter GROUP BY time(10s) fill(null)`},
			{Title: "CPU user/system " + h2nd, Kind: "graph", Range: h1,
				Summary: "mean(user), mean(system) " + h2nd + " time(30s)",
				Query:   `SELECT mean("usage_user") AS "user", mean("usage_system") AS "system" FROM "cpu" WHERE ("hostname" = '` + h2nd + `') AND $timeFilter GROUP BY time(30s) fill(null)`},
			{Title: "CPU user, 5 hosts", Kind: "graph", Range: h1,
				Summary: "mean(usage_user) 5 hosts by host time(30s)",
				Query:   `SELECT mean("usage_user") FROM "cpu" WHERE ("hostname" =~ ` + re(five) + `) AND $timeFilter GROUP BY time(30s), "hostname" fill(null)`},
			{Title: "CPU user max, every host", Kind: "graph", Range: m15,
				Summary: "max(usage_user) by host time(10s)",
				Query:   `SELECT max("usage_user") FROM "cpu" WHERE $timeFilter GROUP BY time(10s), "hostname" fill(null)`},
			{Title: "Fleet CPU", Kind: "graph", Range: m15,
				Summary: "mean(user), mean(system), mean(iowait) all time(10s)",
				Query:   `SELECT mean("usage_user") AS "user", mean("usage_system") AS "system", mean("usage_iowait") AS "iowait" FROM "cpu" WHERE $timeFilter GROUP BY time(10s) fill(null)`},
			{Title: "Fleet idle, 6h", Kind: "graph", Range: h6,
				Summary: "mean(usage_idle) all time(1m)",
				Query:   `SELECT mean("usage_idle") FROM "cpu" WHERE $timeFilter GROUP BY time(1m) fill(null)`},
			{Title: "CPU user max, 3 hosts, 6h", Kind: "graph", Range: h6,
				Summary: "max(usage_user) 3 hosts by host time(1m)",
				Query:   `SELECT max("usage_user") FROM "cpu" WHERE ("hostname" =~ ` + re(three) + `) AND $timeFilter GROUP BY time(1m), "hostname" fill(null)`},
			{Title: "CPU user by region", Kind: "graph", Range: h1,
				Summary: "mean(usage_user) by region time(30s)",
				Query:   `SELECT mean("usage_user") FROM "cpu" WHERE $timeFilter GROUP BY time(30s), "region" fill(null)`},
			{Title: "CPU user now " + h3rd, Kind: "stat", Range: m15,
				Summary: "last(usage_user) " + h3rd,
				Query:   `SELECT last("usage_user") FROM "cpu" WHERE ("hostname" = '` + h3rd + `') AND $timeFilter`},
			{Title: "Hosts table", Kind: "table", Range: m15,
				Summary: "last(user, system, idle) by host",
				Query:   `SELECT last("usage_user") AS "user", last("usage_system") AS "system", last("usage_idle") AS "idle" FROM "cpu" WHERE $timeFilter GROUP BY "hostname"`},
		}
		out = append(out, set[:min(len(set), n-len(out))]...)
	}
	return out
}

// cmpHost orders host_2 before host_10.
func cmpHost(a, b string) int {
	x, _ := strconv.Atoi(strings.TrimPrefix(a, "host_"))
	y, _ := strconv.Atoi(strings.TrimPrefix(b, "host_"))
	return x - y
}

// DashboardConfig says what to run.
type DashboardConfig struct {
	URL       string // server base URL
	DB        string
	Hosts     int
	Loaders   int // each owns the hosts h with h % Loaders == its number
	BatchSize int // rows per /write request
	Panels    []Panel
	Refresh   time.Duration
	Duration  time.Duration // of each phase
	Backfill  time.Duration // history written before the phases
	Interval  time.Duration // time between two backfill rows of a host
	Seed      uint64
	Filter    TimeFilter
	// Recheck adds a third phase, ingest alone again after the panels, so
	// a rate that drifts as the data grows is told from the panels' cost.
	Recheck bool
	// Rounds, when above 1, alternates the phases: ingest alone, with the
	// panels, alone, with the panels, ..., ending alone (Rounds panel
	// phases between Rounds+1 alone ones). Each panel phase is compared
	// with the alone phases either side of it, and the figures reported
	// are the medians over the rounds: one phase disturbed by another
	// process on a shared machine, or a rate that drifts as the data grows,
	// does not decide the result.
	Rounds int
	// Warmup is ingest alone before the first phase, not timed: a head
	// filling from empty writes no segment until it holds --flush-bytes,
	// so a first phase without it is cheaper than the ones after.
	Warmup time.Duration
	// ServerPID, when not 0, is the server's process: its peak RSS is
	// reset before and read after each phase.
	ServerPID int
	// Log, when not nil, is told what is happening (one line each).
	Log func(format string, args ...any)
}

// Validate checks the settings.
func (c DashboardConfig) Validate() error {
	switch {
	case c.Hosts < 1 || c.Loaders < 1 || c.Hosts < c.Loaders:
		return fmt.Errorf("need --scale >= --loaders >= 1 (got %d hosts, %d loaders)", c.Hosts, c.Loaders)
	case c.BatchSize < 1:
		return fmt.Errorf("need --batch-size >= 1")
	case c.Warmup < 0:
		return fmt.Errorf("need --warmup >= 0")
	case c.Rounds < 0:
		return fmt.Errorf("need --rounds >= 1")
	case c.Refresh <= 0 || c.Duration <= 0:
		return fmt.Errorf("need --refresh > 0 and --duration > 0")
	case c.Backfill < 0 || (c.Backfill > 0 && c.Interval <= 0):
		return fmt.Errorf("need --backfill >= 0 and --interval > 0")
	case c.Filter != FilterAbsolute && c.Filter != FilterRelative:
		return fmt.Errorf("unknown --time-filter %q (want ms or now)", c.Filter)
	}
	return nil
}

// PhaseResult is what the loaders did in one phase.
type PhaseResult struct {
	Rows     int64         `json:"rows"`
	Requests int64         `json:"requests"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	// Backpressure counts 429 answers; the loader waited Retry-After and
	// sent the same body again. BackpressureWait is the loaders' summed
	// waiting.
	Backpressure     int64         `json:"backpressure"`
	BackpressureWait time.Duration `json:"backpressure_wait_ns"`
	// Dropped counts rows of bodies given up because the phase ended while
	// they waited out backpressure: never stored, never counted.
	Dropped       int64 `json:"dropped_rows"`
	ServerPeakRSS int64 `json:"server_peak_rss_bytes,omitempty"`
	// ClientCPU is this process's CPU time (user + system) in the phase:
	// generating rows, sending them, decoding the panels' answers. On a
	// machine shared with the server it is CPU the server did not get.
	ClientCPU time.Duration `json:"client_cpu_ns"`
	// ServerCPU is the server's CPU time (user + system) in the phase,
	// when it runs on this machine (ServerPID).
	ServerCPU time.Duration `json:"server_cpu_ns,omitempty"`
	// Flushes and FlushSeconds are the flushes the server finished in the
	// phase and the time they took (Silt's /metrics; 0 for another server).
	Flushes      int     `json:"flushes"`
	FlushSeconds float64 `json:"flush_seconds"`
	// Refreshes counts the panels' successful refreshes in the phase (0
	// for a phase alone).
	Refreshes int `json:"refreshes,omitempty"`
}

// ServerCPUPerMRow is the server's CPU seconds per million acknowledged
// rows in the phase (0 when either is unknown).
func (r PhaseResult) ServerCPUPerMRow() float64 {
	if r.Rows == 0 {
		return 0
	}
	return r.ServerCPU.Seconds() / (float64(r.Rows) / 1e6)
}

// RowsPerSec is acknowledged rows per second of the phase.
func (r PhaseResult) RowsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Rows) / r.Elapsed.Seconds()
}

// PanelResult is one panel's refreshes during the panels phase.
type PanelResult struct {
	Panel     Panel     `json:"panel"`
	Latencies []float64 `json:"latencies_ms"` // successful refreshes, in order
	// Starts are when each of Latencies was sent (Unix ms), to line a
	// slow refresh up with the server's log (a flush, a collection).
	Starts []int64 `json:"starts_unix_ms,omitempty"`
	Errors int     `json:"errors"`
	// Misses are refresh ticks skipped because the previous refresh was
	// still running (Grafana does not stack a panel's refreshes).
	Misses    int      `json:"misses"`
	Empty     int      `json:"empty"` // answers without any series
	Series    int      `json:"last_series"`
	Values    int      `json:"last_values"` // non-null numbers in the last answer
	ErrorText []string `json:"error_samples,omitempty"`
}

// LatencyStats returns p50, p99 and max of lat (milliseconds); NaN when
// empty. p50 and p99 interpolate between the closest ranks.
func LatencyStats(lat []float64) (p50, p99, hi float64) {
	if len(lat) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return quantile(s, 0.5), quantile(s, 0.99), s[len(s)-1]
}

// DashboardResult is a whole run.
type DashboardResult struct {
	BackfillRows    int64         `json:"backfill_rows"`
	WarmupRows      int64         `json:"warmup_rows"`
	BackfillElapsed time.Duration `json:"backfill_elapsed_ns"`
	Alone           PhaseResult   `json:"ingest_alone"`
	WithPanels      PhaseResult   `json:"ingest_with_panels"`
	AloneAfter      *PhaseResult  `json:"ingest_alone_after,omitempty"` // with Recheck
	// With Rounds > 1, every phase in the order run: AloneRuns[i] ran
	// just before PanelRuns[i] and AloneRuns[i+1] just after it. Alone
	// and WithPanels are then the first of each, and AloneAfter is nil.
	AloneRuns []PhaseResult `json:"alone_runs,omitempty"`
	PanelRuns []PhaseResult `json:"panel_runs,omitempty"`
	// Panels pools every panel phase's refreshes.
	Panels []PanelResult `json:"panels"`
}

// TotalRows is every row the loaders had acknowledged.
func (r DashboardResult) TotalRows() int64 {
	n := r.BackfillRows + r.WarmupRows
	if len(r.PanelRuns) > 0 {
		for _, p := range r.AloneRuns {
			n += p.Rows
		}
		for _, p := range r.PanelRuns {
			n += p.Rows
		}
		return n
	}
	n += r.Alone.Rows + r.WithPanels.Rows
	if r.AloneAfter != nil {
		n += r.AloneAfter.Rows
	}
	return n
}

// Round is one panel phase with the alone phases either side of it.
type Round struct {
	Before, Panels, After PhaseResult
}

// AloneRowsPerSec is the mean of the rates alone before and after.
func (r Round) AloneRowsPerSec() float64 {
	return (r.Before.RowsPerSec() + r.After.RowsPerSec()) / 2
}

// Ratio is the rate with the panels over the rate alone around it.
func (r Round) Ratio() float64 { return r.Panels.RowsPerSec() / r.AloneRowsPerSec() }

// AloneCPUPerMRow is the server's CPU seconds per million rows in the
// phases alone around the panels (both together); 0 when unknown.
func (r Round) AloneCPUPerMRow() float64 {
	return PhaseResult{Rows: r.Before.Rows + r.After.Rows, ServerCPU: r.Before.ServerCPU + r.After.ServerCPU}.ServerCPUPerMRow()
}

// PanelCPUPerRefresh estimates the server's CPU per panel refresh: the
// panel phase's CPU less what its rows cost at the rate of the phases
// alone around it, over its refreshes, in milliseconds. It charges the
// panels with what they cost the writes too (lock waits, caches,
// collections); NaN when unknown.
func (r Round) PanelCPUPerRefresh() float64 {
	if r.Panels.ServerCPU == 0 || r.Panels.Refreshes == 0 {
		return math.NaN()
	}
	ingest := r.AloneCPUPerMRow() * float64(r.Panels.Rows) / 1e6
	return 1e3 * (r.Panels.ServerCPU.Seconds() - ingest) / float64(r.Panels.Refreshes)
}

// Rounds returns the panel phases with the alone phases around them:
// every round with Rounds > 1, the one with Recheck, none otherwise.
func (r DashboardResult) Rounds() []Round {
	if len(r.PanelRuns) > 0 {
		out := make([]Round, 0, len(r.PanelRuns))
		for i, p := range r.PanelRuns {
			if i+1 < len(r.AloneRuns) {
				out = append(out, Round{Before: r.AloneRuns[i], Panels: p, After: r.AloneRuns[i+1]})
			}
		}
		return out
	}
	if r.AloneAfter != nil {
		return []Round{{Before: r.Alone, Panels: r.WithPanels, After: *r.AloneAfter}}
	}
	return nil
}

// AloneRowsPerSec is the ingest rate without panels: of the first phase,
// or of both phases alone (their rows over their time) with Recheck, or
// the median of the rounds' (the mean of the phases before and after) with
// Rounds > 1.
func (r DashboardResult) AloneRowsPerSec() float64 {
	if len(r.PanelRuns) > 0 {
		return MedianOf(r.Rounds(), Round.AloneRowsPerSec)
	}
	if a := r.AloneAfter; a != nil {
		return PhaseResult{Rows: r.Alone.Rows + a.Rows, Elapsed: r.Alone.Elapsed + a.Elapsed}.RowsPerSec()
	}
	return r.Alone.RowsPerSec()
}

// PanelRowsPerSec is the ingest rate with the panels: of the panel phase,
// or the median over the rounds with Rounds > 1.
func (r DashboardResult) PanelRowsPerSec() float64 {
	if len(r.PanelRuns) > 0 {
		return MedianOf(r.Rounds(), func(x Round) float64 { return x.Panels.RowsPerSec() })
	}
	return r.WithPanels.RowsPerSec()
}

// Ratio is the ingest rate with panels over the rate alone; with Rounds >
// 1 the median of the rounds' ratios, each over the phases alone around it.
func (r DashboardResult) Ratio() float64 {
	if len(r.PanelRuns) > 0 {
		return MedianOf(r.Rounds(), Round.Ratio)
	}
	return r.WithPanels.RowsPerSec() / r.AloneRowsPerSec()
}

// MedianOf is the median of f over xs (the mean of the middle two for an
// even count; NaN when empty).
func MedianOf[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	return quantile(v, 0.5)
}

// AllLatencies is every panel's latencies together.
func (r DashboardResult) AllLatencies() []float64 {
	var all []float64
	for _, p := range r.Panels {
		all = append(all, p.Latencies...)
	}
	return all
}

// RunDashboard writes the backfill, then runs the phases: ingest alone,
// ingest with the panels refreshing, and with Recheck ingest alone again.
func RunDashboard(ctx context.Context, cfg DashboardConfig) (DashboardResult, error) {
	if err := cfg.Validate(); err != nil {
		return DashboardResult{}, err
	}
	logf := cfg.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	w, err := newDashWriter(cfg)
	if err != nil {
		return DashboardResult{}, err
	}
	loaders := make([]*dashLoader, cfg.Loaders)
	for i := range loaders {
		loaders[i] = newDashLoader(cfg, i)
	}
	var res DashboardResult
	if cfg.Backfill > 0 {
		now := time.Now()
		from := now.Add(-cfg.Backfill).Truncate(cfg.Interval)
		logf("backfill: %s of history from %s, every %s", cfg.Backfill, from.UTC().Format(time.RFC3339), cfg.Interval)
		start := time.Now()
		var rows atomic.Int64
		errs := make([]error, len(loaders))
		var wg sync.WaitGroup
		for i, l := range loaders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = l.backfill(from, now, cfg.Interval, cfg.BatchSize, func(body []byte, n int) error {
					var pr PhaseResult
					if err := w.post(ctx, body, n, time.Time{}, &pr); err != nil {
						return err
					}
					rows.Add(pr.Rows)
					return nil
				})
			}()
		}
		wg.Wait()
		res.BackfillRows, res.BackfillElapsed = rows.Load(), time.Since(start)
		if err := errors.Join(errs...); err != nil {
			return res, fmt.Errorf("backfill: %w", err)
		}
	}
	if cfg.Warmup > 0 {
		logf("warmup: ingest alone for %s (not timed)", cfg.Warmup)
		warm := cfg
		warm.Duration, warm.ServerPID = cfg.Warmup, 0
		wr, err := runPhase(ctx, warm, w, loaders, nil)
		res.WarmupRows = wr.Rows
		if err != nil {
			return res, fmt.Errorf("warmup: %w", err)
		}
	}
	panels := make([]PanelResult, len(cfg.Panels))
	withPanels := func(name string) (PhaseResult, error) {
		logf("%s: ingest with %d panels refreshing every %s for %s", name, len(cfg.Panels), cfg.Refresh, cfg.Duration)
		before := refreshes(panels)
		r, err := runPhase(ctx, cfg, w, loaders, func(stop <-chan struct{}) {
			runPanels(ctx, cfg, stop, panels)
		})
		r.Refreshes = refreshes(panels) - before
		if err == nil {
			logf("%s: %.0f rows/s", name, r.RowsPerSec())
		}
		return r, err
	}
	alone := func(name string) (PhaseResult, error) {
		logf("%s: ingest alone for %s", name, cfg.Duration)
		r, err := runPhase(ctx, cfg, w, loaders, nil)
		if err == nil {
			logf("%s: %.0f rows/s", name, r.RowsPerSec())
		}
		return r, err
	}
	if cfg.Rounds > 1 {
		for i := range cfg.Rounds {
			a, err := alone(fmt.Sprintf("round %d alone", i+1))
			res.AloneRuns = append(res.AloneRuns, a)
			if err != nil {
				return res, fmt.Errorf("round %d, ingest alone: %w", i+1, err)
			}
			p, err := withPanels(fmt.Sprintf("round %d panels", i+1))
			res.PanelRuns = append(res.PanelRuns, p)
			res.Panels = panels
			if err != nil {
				return res, fmt.Errorf("round %d, ingest with panels: %w", i+1, err)
			}
		}
		a, err := alone("last alone")
		res.AloneRuns = append(res.AloneRuns, a)
		res.Alone, res.WithPanels = res.AloneRuns[0], res.PanelRuns[0]
		if err != nil {
			return res, fmt.Errorf("last ingest alone: %w", err)
		}
		return res, nil
	}
	res.Alone, err = alone("phase 1")
	if err != nil {
		return res, fmt.Errorf("ingest alone: %w", err)
	}
	res.WithPanels, err = withPanels("phase 2")
	res.Panels = panels
	if err != nil {
		return res, fmt.Errorf("ingest with panels: %w", err)
	}
	if cfg.Recheck {
		after, err := alone("phase 3")
		res.AloneAfter = &after
		if err != nil {
			return res, fmt.Errorf("ingest alone after the panels: %w", err)
		}
	}
	return res, nil
}

// refreshes counts the successful refreshes in ps.
func refreshes(ps []PanelResult) int {
	n := 0
	for _, p := range ps {
		n += len(p.Latencies)
	}
	return n
}

// runPhase runs the loaders for cfg.Duration and, when side is not nil,
// side until the loaders stop. A request in flight when the time is up
// completes and counts: its rows may already be stored.
func runPhase(ctx context.Context, cfg DashboardConfig, w *dashWriter, loaders []*dashLoader, side func(stop <-chan struct{})) (PhaseResult, error) {
	if cfg.ServerPID != 0 {
		ResetPeakRSSOf(cfg.ServerPID)
	}
	cpu0 := processCPU()
	var srv0 time.Duration
	if cfg.ServerPID != 0 {
		srv0 = ServerCPUOf(cfg.ServerPID)
	}
	fl0 := scrapeFlushes(ctx, w.client, cfg.URL)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	stop := make(chan struct{})
	sideDone := make(chan struct{})
	if side != nil {
		go func() { defer close(sideDone); side(stop) }()
	} else {
		close(sideDone)
	}
	results := make([]PhaseResult, len(loaders))
	errs := make([]error, len(loaders))
	var wg sync.WaitGroup
	for i, l := range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				body, n := l.liveBatch(cfg.BatchSize)
				if err := w.post(ctx, body, n, deadline, &results[i]); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	var r PhaseResult
	r.Elapsed = time.Since(start)
	close(stop)
	<-sideDone
	r.ClientCPU = processCPU() - cpu0
	if cfg.ServerPID != 0 {
		r.ServerCPU = ServerCPUOf(cfg.ServerPID) - srv0
	}
	fl := scrapeFlushes(ctx, w.client, cfg.URL)
	r.Flushes, r.FlushSeconds = int(fl.count-fl0.count), fl.seconds-fl0.seconds
	for _, x := range results {
		r.Rows += x.Rows
		r.Requests += x.Requests
		r.Backpressure += x.Backpressure
		r.BackpressureWait += x.BackpressureWait
		r.Dropped += x.Dropped
	}
	if cfg.ServerPID != 0 {
		r.ServerPeakRSS = PeakRSSOf(cfg.ServerPID)
	}
	return r, errors.Join(errs...)
}

// dashLoader generates the rows of its hosts. Every row of one round (one
// row per host) carries the same timestamp, the wall clock when the round
// starts, or one nanosecond past the previous round's when the loader is
// faster than the clock's resolution: each series' times strictly increase.
type dashLoader struct {
	gen    *CPU
	hosts  []int
	cursor int   // next host in the round
	ts     int64 // the current round's timestamp, ns
	buf    []byte
}

func newDashLoader(cfg DashboardConfig, id int) *dashLoader {
	// Every loader builds the same fleet (same seed: same tags per host)
	// and then walks its own hosts' values with its own random stream.
	g := NewCPU(cfg.Hosts, time.Time{}, cfg.Interval, cfg.Seed)
	g.rng = rand.New(rand.NewPCG(cfg.Seed, uint64(id)+1))
	l := &dashLoader{gen: g}
	for h := id; h < cfg.Hosts; h += cfg.Loaders {
		l.hosts = append(l.hosts, h)
	}
	return l
}

// liveBatch returns a body of n rows stamped with the wall clock, and n.
// The body is valid until the next call.
func (l *dashLoader) liveBatch(n int) ([]byte, int) {
	l.buf = l.buf[:0]
	for range n {
		if l.cursor == 0 {
			l.ts = max(time.Now().UnixNano(), l.ts+1)
		}
		l.buf = l.gen.appendRowLP(l.buf, l.hosts[l.cursor], l.ts)
		if l.cursor++; l.cursor == len(l.hosts) {
			l.cursor = 0
		}
	}
	return l.buf, n
}

// backfill writes one row per host every interval in [from, to), in
// bodies of up to batch rows, and leaves the live rounds to start after to.
func (l *dashLoader) backfill(from, to time.Time, interval time.Duration, batch int, post func(body []byte, rows int) error) error {
	l.buf = l.buf[:0]
	rows := 0
	for t := from; t.Before(to); t = t.Add(interval) {
		ts := t.UnixNano()
		for _, h := range l.hosts {
			l.buf = l.gen.appendRowLP(l.buf, h, ts)
			if rows++; rows == batch {
				if err := post(l.buf, rows); err != nil {
					return err
				}
				l.buf, rows = l.buf[:0], 0
			}
		}
		l.ts = ts
	}
	l.ts = max(l.ts, to.UnixNano())
	if rows > 0 {
		return post(l.buf, rows)
	}
	return nil
}

// appendRowLP appends host h's next row at ts in line protocol: the values
// take one step of the TSBS random walk, as AppendInterval's do.
func (g *CPU) appendRowLP(dst []byte, h int, ts int64) []byte {
	dst = append(dst, g.tags[h]...)
	for i, v := range g.vals[h] {
		v = min(max(v+g.rng.NormFloat64(), 0), 100)
		g.vals[h][i] = v
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, g.field[i]...)
		dst = strconv.AppendInt(dst, int64(v), 10)
		dst = append(dst, 'i')
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, ts, 10)
	return append(dst, '\n')
}

// dashWriter posts bodies to /write and waits out backpressure.
type dashWriter struct {
	target string
	client *http.Client
}

func newDashWriter(cfg DashboardConfig) (*dashWriter, error) {
	target, err := loadURL(LoadConfig{URL: cfg.URL, DB: cfg.DB, Protocol: ProtoInflux})
	if err != nil {
		return nil, err
	}
	return &dashWriter{target: target, client: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: cfg.Loaders, DisableCompression: true}}}, nil
}

// maxRetryAfter bounds one backpressure wait, so a server asking for a long
// pause cannot stall a phase past its end by much.
const maxRetryAfter = 5 * time.Second

// post sends body (rows rows) and counts it in r once acknowledged. On 429
// it waits Retry-After (1s when absent) and sends it again, unless the wait
// would end past deadline (zero: no deadline): then it waits until the
// deadline and drops the rows.
func (w *dashWriter) post(ctx context.Context, body []byte, rows int, deadline time.Time, r *PhaseResult) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		resp, err := w.client.Do(req)
		if err != nil {
			return fmt.Errorf("write %d rows: %w", rows, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		r.Requests++
		if resp.StatusCode/100 == 2 {
			r.Rows += int64(rows)
			return nil
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("write %d rows: HTTP %d: %s", rows, resp.StatusCode, bytes.TrimSpace(msg))
		}
		r.Backpressure++
		wait := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			wait = min(time.Duration(s)*time.Second, maxRetryAfter)
		}
		last := !deadline.IsZero() && time.Now().Add(wait).After(deadline)
		if last {
			wait = max(time.Until(deadline), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		r.BackpressureWait += wait
		if last {
			// The phase is over: the loader waited like the others and
			// stops; its rows were never stored.
			r.Dropped += int64(rows)
			return nil
		}
	}
}

// runPanels refreshes every panel every cfg.Refresh until stop, all
// panels on the same ticks as a dashboard's auto-refresh, each on its own:
// a panel whose previous refresh is still running misses the tick.
func runPanels(ctx context.Context, cfg DashboardConfig, stop <-chan struct{}, out []PanelResult) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(cfg.Panels), DisableCompression: true}}
	var wg sync.WaitGroup
	for i, p := range cfg.Panels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr := &out[i]
			pr.Panel = p
			var mu sync.Mutex // guards pr against the refresh goroutine
			var busy atomic.Bool
			var inflight sync.WaitGroup
			refresh := func() {
				defer inflight.Done()
				defer busy.Store(false)
				sent := time.Now()
				text := p.Text(sent, cfg.Filter)
				ms, series, values, err := panelQuery(ctx, client, cfg.URL, cfg.DB, text)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					pr.Errors++
					if len(pr.ErrorText) < 3 {
						pr.ErrorText = append(pr.ErrorText, err.Error())
					}
					return
				}
				pr.Latencies = append(pr.Latencies, ms)
				pr.Starts = append(pr.Starts, sent.UnixMilli())
				pr.Series, pr.Values = series, values
				if series == 0 {
					pr.Empty++
				}
			}
			tick := time.NewTicker(cfg.Refresh)
			defer tick.Stop()
			for first := true; ; first = false {
				if !first {
					select {
					case <-stop:
						inflight.Wait()
						return
					case <-ctx.Done():
						inflight.Wait()
						return
					case <-tick.C:
					}
				}
				if busy.Swap(true) {
					mu.Lock()
					pr.Misses++
					mu.Unlock()
					continue
				}
				inflight.Add(1)
				go refresh()
			}
		}()
	}
	wg.Wait()
}

// panelQuery sends text as Grafana's InfluxDB data source does (GET
// /query?db=&q=&epoch=ms) and returns the milliseconds from sending to
// having read the whole answer, the answer's series and its non-null
// numbers. An error inside the answer is an error.
func panelQuery(ctx context.Context, client *http.Client, base, db, text string) (ms float64, series, values int, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("parse --url %q: %w", base, err)
	}
	u.Path = joinPath(u.Path, "/query")
	u.RawQuery = url.Values{"db": {db}, "q": {text}, "epoch": {"ms"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	_ = resp.Body.Close()
	if err != nil {
		return 0, 0, 0, err
	}
	if resp.StatusCode/100 != 2 {
		return 0, 0, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(body, 300))
	}
	series, values, err = countInfluxAnswer(body)
	return float64(elapsed) / float64(time.Millisecond), series, values, err
}

// countInfluxAnswer returns the series and non-null numbers of a /query
// answer, or the error it carries.
func countInfluxAnswer(body []byte) (series, values int, err error) {
	var r struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, 0, fmt.Errorf("decode /query answer: %w", err)
	}
	if r.Error != "" {
		return 0, 0, errors.New(r.Error)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			return 0, 0, errors.New(res.Error)
		}
		for _, s := range res.Series {
			series++
			for _, row := range s.Values {
				// Column 0 is the time (epoch=ms: a number too).
				for _, v := range row[min(1, len(row)):] {
					if _, ok := v.(float64); ok {
						values++
					}
				}
			}
		}
	}
	return series, values, nil
}

// processCPU is this process's user plus system CPU time so far (0 where
// getrusage fails).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
