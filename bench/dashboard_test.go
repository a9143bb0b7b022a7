package bench

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLatencyStats(t *testing.T) {
	f := func(in []float64, p50, p99, hi float64) {
		t.Helper()
		orig := slices.Clone(in)
		a, b, c := LatencyStats(in)
		if math.Abs(a-p50) > 1e-9 || math.Abs(b-p99) > 1e-9 || c != hi {
			t.Errorf("LatencyStats(%v) = %g, %g, %g; want %g, %g, %g", orig, a, b, c, p50, p99, hi)
		}
		if !slices.Equal(in, orig) {
			t.Errorf("LatencyStats reordered its input: %v", in)
		}
	}
	f([]float64{7}, 7, 7, 7)
	f([]float64{3, 1, 2}, 2, 2.98, 3)
	f([]float64{10, 40, 20, 30}, 25, 39.7, 40)
	var hundred []float64
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, float64(i))
	}
	// Ranks 0..99: p50 between 50 and 51, p99 at rank 98.01.
	f(hundred, 50.5, 99.01, 100)
	// One slow outlier in 60 refreshes moves p99 and max, not p50.
	sixty := slices.Repeat([]float64{5}, 59)
	f(append(sixty, 500), 5, 5+0.41*495, 500)

	if a, b, c := LatencyStats(nil); !math.IsNaN(a) || !math.IsNaN(b) || !math.IsNaN(c) {
		t.Errorf("LatencyStats(nil) = %g, %g, %g; want NaN", a, b, c)
	}
}

func TestInfluxDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute: "15m", time.Hour: "1h", 6 * time.Hour: "6h", 90 * time.Second: "90s",
		48 * time.Hour: "2d", 1500 * time.Millisecond: "1500ms", 10 * time.Second: "10s",
	} {
		if got := InfluxDuration(d); got != want {
			t.Errorf("InfluxDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestPanelText(t *testing.T) {
	p := Panel{Range: time.Hour, Query: `SELECT mean("usage_user") FROM "cpu" WHERE ("hostname" = 'host_1') AND $timeFilter GROUP BY time(30s) fill(null)`}
	now := time.Date(2026, 12, 6, 1, 2, 3, 456789000, time.UTC) // 1796518923.456789 s (date -u -d 2026-12-06T01:02:03Z +%s)
	abs := p.Text(now, FilterAbsolute)
	want := `SELECT mean("usage_user") FROM "cpu" WHERE ("hostname" = 'host_1') AND time >= 1796515323456ms and time <= 1796518923456ms GROUP BY time(30s) fill(null)`
	if abs != want {
		t.Errorf("absolute:\n got %s\nwant %s", abs, want)
	}
	if rel := p.Text(now, FilterRelative); !strings.Contains(rel, "AND time >= now() - 1h and time <= now() GROUP BY") {
		t.Errorf("relative: %s", rel)
	}
}

func TestDashboardPanels(t *testing.T) {
	ps := DashboardPanels(10, 100, 7)
	if len(ps) != 10 {
		t.Fatalf("%d panels, want 10", len(ps))
	}
	kinds := map[string]int{}
	ranges := map[time.Duration]bool{}
	groups := map[string]bool{}
	hostRe := regexp.MustCompile(`host_(\d+)`)
	groupRe := regexp.MustCompile(`GROUP BY time\((\d+[sm])\)`)
	for _, p := range ps {
		kinds[p.Kind]++
		ranges[p.Range] = true
		if strings.Count(p.Query, "$timeFilter") != 1 || !strings.HasPrefix(p.Query, `SELECT `) || !strings.Contains(p.Query, `FROM "cpu" WHERE `) {
			t.Errorf("panel %q: not a Grafana query builder shape: %s", p.Title, p.Query)
		}
		if m := groupRe.FindStringSubmatch(p.Query); m != nil {
			groups[m[1]] = true
			if !strings.HasSuffix(p.Query, "fill(null)") {
				t.Errorf("panel %q: a time-bucketed graph ends in fill(null): %s", p.Title, p.Query)
			}
			// Grafana's $__interval: at most ~1000 points a series.
			step, _ := time.ParseDuration(m[1])
			if p.Range/step > 1000 {
				t.Errorf("panel %q: %s buckets of %s", p.Title, p.Range, step)
			}
		}
		for _, m := range hostRe.FindAllStringSubmatch(p.Query, -1) {
			if h, _ := strconv.Atoi(m[1]); h < 0 || h >= 100 {
				t.Errorf("panel %q names host_%d of 100", p.Title, h)
			}
		}
	}
	if kinds["stat"] != 1 || kinds["table"] != 1 || kinds["graph"] != 8 {
		t.Errorf("kinds %v, want 8 graphs, 1 stat, 1 table", kinds)
	}
	if len(ranges) != 3 || !ranges[15*time.Minute] || !ranges[time.Hour] || !ranges[6*time.Hour] {
		t.Errorf("ranges %v, want 15m, 1h, 6h", ranges)
	}
	if !groups["10s"] || !groups["30s"] || !groups["1m"] {
		t.Errorf("time buckets %v, want 10s, 30s and 1m", groups)
	}
	// By host, overall and one host, as the benchmark's description says.
	var byHost, overall, oneHost bool
	for _, p := range ps {
		byHost = byHost || (strings.Contains(p.Query, `"hostname" fill`) && !strings.Contains(p.Query, "=~"))
		overall = overall || (strings.Contains(p.Query, `WHERE $timeFilter GROUP BY time(`) && !strings.Contains(p.Query, `, "`))
		oneHost = oneHost || strings.Contains(p.Query, `("hostname" = 'host_`)
	}
	if !byHost || !overall || !oneHost {
		t.Errorf("by host %v, overall %v, one host %v; want all", byHost, overall, oneHost)
	}

	if again := DashboardPanels(10, 100, 7); !slices.Equal(again, ps) {
		t.Error("same seed, different panels")
	}
	if few := DashboardPanels(3, 100, 7); !slices.Equal(few, ps[:3]) {
		t.Error("--panels 3 is not the first three panels")
	}
	more := DashboardPanels(13, 100, 7)
	if len(more) != 13 || !slices.Equal(more[:10], ps) || more[10].Kind != ps[0].Kind || more[10].Query == ps[0].Query {
		t.Errorf("13 panels: the set then the first three on other hosts; got %d, 11th %q", len(more), more[10].Query)
	}
	// Fewer hosts than a panel's few hosts: every host, once.
	for _, p := range DashboardPanels(10, 2, 1) {
		if strings.Contains(p.Query, "=~") && !strings.Contains(p.Query, "/^(host_0|host_1)$/") {
			t.Errorf("2 hosts: %s", p.Query)
		}
	}
}

// rowsOf parses line protocol rows into (hostname, timestamp) pairs and
// checks each row's shape.
func rowsOf(t *testing.T, body []byte) (hosts []string, ts []int64) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		parts := strings.Split(line, " ")
		if len(parts) != 3 || !strings.HasPrefix(parts[0], "cpu,hostname=host_") || strings.Count(parts[0], ",") != 10 {
			t.Fatalf("bad row %q", line)
		}
		fields := strings.Split(parts[1], ",")
		if len(fields) != 10 {
			t.Fatalf("row %q: %d fields", line, len(fields))
		}
		for i, f := range fields {
			v, ok := strings.CutPrefix(f, CPUFields[i]+"=")
			n, err := strconv.Atoi(strings.TrimSuffix(v, "i"))
			if !ok || !strings.HasSuffix(v, "i") || err != nil || n < 0 || n > 100 {
				t.Fatalf("row %q: field %q", line, f)
			}
		}
		x, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		host, _, _ := strings.Cut(strings.TrimPrefix(parts[0], "cpu,hostname="), ",")
		hosts, ts = append(hosts, host), append(ts, x)
	}
	return hosts, ts
}

func TestDashLoaders(t *testing.T) {
	cfg := DashboardConfig{Hosts: 10, Loaders: 3, Interval: 10 * time.Second, Seed: 5}
	to := time.Now()
	from := to.Add(-time.Minute).Truncate(cfg.Interval)
	owner := map[string]int{}
	tags := map[string]string{}
	for id := range cfg.Loaders {
		l := newDashLoader(cfg, id)
		last := map[string]int64{}
		check := func(body []byte) int {
			hosts, ts := rowsOf(t, body)
			for i, h := range hosts {
				if o, ok := owner[h]; ok && o != id {
					t.Fatalf("%s written by loaders %d and %d", h, o, id)
				}
				owner[h] = id
				if ts[i] <= last[h] {
					t.Fatalf("loader %d: %s at %d after %d", id, h, ts[i], last[h])
				}
				last[h] = ts[i]
			}
			for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
				key := strings.Fields(line)[0]
				h, _, _ := strings.Cut(strings.TrimPrefix(key, "cpu,hostname="), ",")
				if prev, ok := tags[h]; ok && prev != key {
					t.Fatalf("%s has tags %q and %q", h, prev, key)
				}
				tags[h] = key
			}
			return len(hosts)
		}
		// Backfill: every owned host every interval in [from, to), in
		// bodies of at most 4 rows.
		backfilled := 0
		err := l.backfill(from, to, cfg.Interval, 4, func(body []byte, n int) error {
			if got := check(body); got != n || n > 4 {
				t.Fatalf("backfill body of %d rows said %d", got, n)
			}
			backfilled += n
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		rounds := int(to.Sub(from)/cfg.Interval) + 1
		if to.Sub(from)%cfg.Interval == 0 {
			rounds--
		}
		if backfilled != rounds*len(l.hosts) {
			t.Errorf("loader %d backfilled %d rows, want %d rounds x %d hosts", id, backfilled, rounds, len(l.hosts))
		}
		for _, x := range last {
			if x >= to.UnixNano() {
				t.Errorf("backfill row at %d, not before %d", x, to.UnixNano())
			}
		}
		// Live: batches that do not end on a round still keep each
		// series' times increasing, at or after the wall clock.
		before := time.Now().UnixNano()
		for range 50 {
			body, n := l.liveBatch(7)
			if got := check(body); got != 7 || n != 7 {
				t.Fatalf("live batch of %d rows said %d", got, n)
			}
		}
		for h, x := range last {
			if x < before || x > time.Now().UnixNano()+1e6 {
				t.Errorf("loader %d: %s's last live row at %d, the clock read %d before", id, h, x, before)
			}
		}
	}
	if len(owner) != cfg.Hosts {
		t.Errorf("hosts written: %d, want %d", len(owner), cfg.Hosts)
	}
	// host_h belongs to loader h % 3.
	for h, id := range owner {
		n, _ := strconv.Atoi(strings.TrimPrefix(h, "host_"))
		if n%cfg.Loaders != id {
			t.Errorf("%s written by loader %d", h, id)
		}
	}
	// The fleet's tags are TSBS's: the same as AppendInterval writes.
	g := NewCPU(cfg.Hosts, time.Unix(0, 0), cfg.Interval, cfg.Seed)
	for _, line := range strings.Split(strings.TrimSpace(string(g.AppendInterval(nil))), "\n") {
		key := strings.Fields(line)[0]
		h, _, _ := strings.Cut(strings.TrimPrefix(key, "cpu,hostname="), ",")
		if tags[h] != key {
			t.Errorf("%s: tags %q, AppendInterval writes %q", h, tags[h], key)
		}
	}
}

func TestCountInfluxAnswer(t *testing.T) {
	f := func(body string, series, values int, errText string) {
		t.Helper()
		s, v, err := countInfluxAnswer([]byte(body))
		if errText != "" {
			if err == nil || !strings.Contains(err.Error(), errText) {
				t.Errorf("%s: error %v, want %q", body, err, errText)
			}
			return
		}
		if err != nil || s != series || v != values {
			t.Errorf("%s: %d series, %d values, %v; want %d, %d", body, s, v, err, series, values)
		}
	}
	f(`{"results":[{"statement_id":0}]}`, 0, 0, "")
	f(`{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","mean"],"values":[[1000,null],[2000,3.5],[3000,4]]}]}]}`, 1, 2, "")
	f(`{"results":[{"series":[{"name":"cpu","tags":{"hostname":"host_0"},"columns":["time","user","system"],"values":[[0,1,2]]},`+
		`{"name":"cpu","tags":{"hostname":"host_1"},"columns":["time","user","system"],"values":[[0,3,null]]}]}]}`, 2, 3, "")
	f(`{"results":[{"statement_id":0,"error":"field not found"}]}`, 0, 0, "field not found")
	f(`{"error":"missing required parameter \"q\""}`, 0, 0, "missing required")
	f(`not json`, 0, 0, "decode")
}

func TestDashboardConfigValidate(t *testing.T) {
	ok := DashboardConfig{Hosts: 4, Loaders: 4, BatchSize: 1, Refresh: time.Second, Duration: time.Second,
		Backfill: time.Hour, Interval: time.Second, Filter: FilterAbsolute}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*DashboardConfig){
		"fewer hosts than loaders": func(c *DashboardConfig) { c.Hosts = 3 },
		"no batch":                 func(c *DashboardConfig) { c.BatchSize = 0 },
		"no refresh":               func(c *DashboardConfig) { c.Refresh = 0 },
		"backfill without step":    func(c *DashboardConfig) { c.Interval = 0 },
		"unknown filter":           func(c *DashboardConfig) { c.Filter = "iso" },
		"negative rounds":          func(c *DashboardConfig) { c.Rounds = -1 },
	} {
		c := ok
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDashboardRounds checks the alternating rounds' figures against the
// arithmetic done here phase by phase: each panel phase against the mean
// rate of the alone phases either side of it, medians over the rounds,
// and the CPU per refresh left after the rows' cost at the alone rate.
func TestDashboardRounds(t *testing.T) {
	phase := func(rows int64, secs, cpu float64, refreshes int) PhaseResult {
		return PhaseResult{Rows: rows, Elapsed: time.Duration(secs * float64(time.Second)),
			ServerCPU: time.Duration(cpu * float64(time.Second)), Refreshes: refreshes}
	}
	// Alone rates 100, 300, 200, 100 rows/s; panel rates 150, 200, 90.
	res := DashboardResult{BackfillRows: 7, WarmupRows: 11,
		AloneRuns: []PhaseResult{phase(1000, 10, 2, 0), phase(3000, 10, 3, 0), phase(2000, 10, 4, 0), phase(1000, 10, 1, 0)},
		PanelRuns: []PhaseResult{phase(1500, 10, 5, 20), phase(2000, 10, 6, 10), phase(900, 10, 2, 0)}}
	res.Alone, res.WithPanels = res.AloneRuns[0], res.PanelRuns[0]
	rs := res.Rounds()
	if len(rs) != 3 {
		t.Fatalf("%d rounds, want 3", len(rs))
	}
	// Ratios: 150/200 = 0.75, 200/250 = 0.8, 90/150 = 0.6: median 0.75.
	var ratios, alone, panels []float64
	for i := range 3 {
		a := (float64(res.AloneRuns[i].Rows)/10 + float64(res.AloneRuns[i+1].Rows)/10) / 2
		p := float64(res.PanelRuns[i].Rows) / 10
		ratios, alone, panels = append(ratios, p/a), append(alone, a), append(panels, p)
		if got := rs[i].Ratio(); math.Abs(got-p/a) > 1e-12 {
			t.Errorf("round %d ratio %g, want %g", i+1, got, p/a)
		}
	}
	slices.Sort(ratios)
	slices.Sort(alone)
	slices.Sort(panels)
	if got := res.Ratio(); math.Abs(got-ratios[1]) > 1e-12 {
		t.Errorf("ratio %g, want the median %g", got, ratios[1])
	}
	if got := res.AloneRowsPerSec(); math.Abs(got-alone[1]) > 1e-9 {
		t.Errorf("alone %g rows/s, want the median %g", got, alone[1])
	}
	if got := res.PanelRowsPerSec(); math.Abs(got-panels[1]) > 1e-9 {
		t.Errorf("with panels %g rows/s, want the median %g", got, panels[1])
	}
	// Round 1: alone 5 CPU-s for 4000 rows; the panel phase's 1500 rows
	// cost 1.875 of its 5 CPU-s, leaving 3.125 s for 20 refreshes.
	if got, want := rs[0].PanelCPUPerRefresh(), 1e3*(5-5.0/4000*1500)/20; math.Abs(got-want) > 1e-9 {
		t.Errorf("round 1: %g ms per refresh, want %g", got, want)
	}
	if got := rs[2].PanelCPUPerRefresh(); !math.IsNaN(got) {
		t.Errorf("round 3 has no refreshes: %g ms per refresh, want NaN", got)
	}
	if got, want := res.TotalRows(), int64(7+11+1000+3000+2000+1000+1500+2000+900); got != want {
		t.Errorf("total rows %d, want %d", got, want)
	}
	if got := MedianOf([]float64{4, 1, 3, 2}, func(x float64) float64 { return x }); got != 2.5 {
		t.Errorf("median of 1..4 = %g, want 2.5", got)
	}
	// Without rounds, --recheck is the one round around the panel phase.
	one := DashboardResult{Alone: res.AloneRuns[0], WithPanels: res.PanelRuns[0], AloneAfter: &res.AloneRuns[1]}
	if rs := one.Rounds(); len(rs) != 1 || rs[0].Ratio() != 0.75 {
		t.Errorf("recheck: rounds %+v, want one with ratio 0.75", rs)
	}
}
