// Package prometheus runs Debian's Prometheus (2.42) against a real silt
// serve: Prometheus scrapes itself, Silt and a generated exporter in this
// test (counters, one that resets, gauges, histograms, a summary, and
// series that appear and vanish), and remote-writes everything to Silt.
// Then the same PromQL goes to Prometheus' /api/v1/query(_range) and to
// Silt's, and the answers must agree; the remote-written data must also be
// there for SQL and InfluxQL.
//
// Evaluation times are chosen where both hold complete data: after every
// range of the queries is covered since the first scrape, before the last
// sample Silt is known to hold, and away from the milliseconds the samples
// carry (Silt runs Prometheus 3's engine, whose ranges are left-open where
// 2.42's are closed: a sample exactly at a range's start would count in
// one and not the other).
//
// The scrape phase takes SILT_PROM_SECONDS (default 70) seconds.
package prometheus

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func findPrometheus(t testing.TB) string {
	path, err := exec.LookPath("prometheus")
	if err != nil {
		for _, p := range []string{"/usr/bin/prometheus"} {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		msg := "prometheus not found (Debian package prometheus)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI must install it: .ci/run APT_PACKAGES)")
		}
		t.Skip(msg)
	}
	return path
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type proc struct {
	cmd     *exec.Cmd
	base    string
	logPath string
	done    chan struct{}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) tail(n int) string {
	raw, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// start runs bin with args (a free address is substituted for {addr}, or
// fixed is used) and waits until readyPath answers 200.
func start(t testing.TB, name, bin string, args []string, fixed, readyPath string) *proc {
	t.Helper()
	dir := os.Getenv("SILT_PROM_KEEP") // keeps the logs
	if dir == "" {
		dir = t.TempDir()
	}
	for attempt := 0; ; attempt++ {
		addr := fixed
		if addr == "" {
			addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		}
		var full []string
		for _, a := range args {
			full = append(full, strings.ReplaceAll(a, "{addr}", addr))
		}
		logPath := filepath.Join(dir, name+".log")
		lf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, full...)
		cmd.Stdout, cmd.Stderr = lf, lf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		p := &proc{cmd: cmd, base: "http://" + addr, logPath: logPath, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); _ = lf.Close(); close(p.done) }()
		t.Cleanup(func() {
			if !p.exited() {
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			if t.Failed() {
				t.Logf("---- %s log (last 40 lines) ----\n%s", name, p.tail(40))
			}
		})
		deadline := time.Now().Add(time.Minute) // hang guard only
		for time.Now().Before(deadline) && !p.exited() {
			if resp, err := http.Get(p.base + readyPath); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return p
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if attempt < 2 && p.exited() && fixed == "" {
			continue // the free port was taken meanwhile
		}
		t.Fatalf("%s did not become ready; log:\n%s", name, p.tail(40))
	}
}

func buildSilt(t testing.TB) string {
	bin := filepath.Join(t.TempDir(), "silt")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/siltdb/silt/cmd/silt").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/silt: %v\n%s", err, out)
	}
	return bin
}

// resettingCounter is a counter that starts again from 0 every 20 s, as a
// restarted process's would: what rate, increase and resets must handle.
type resettingCounter struct {
	desc  *prometheus.Desc
	start time.Time
}

func (c resettingCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c resettingCounter) Collect(ch chan<- prometheus.Metric) {
	el := time.Since(c.start).Seconds()
	v := math.Mod(el, 20) * 7.5
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, v, "worker")
}

// exporter serves generated metrics, changing every 100 ms.
func exporter(t *testing.T) string {
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gen_requests_total", Help: "Generated requests."}, []string{"path", "code"})
	temp := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gen_temperature_celsius", Help: "Generated temperatures."}, []string{"room"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gen_latency_seconds", Help: "Generated latencies.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5}}, []string{"route"})
	rpc := prometheus.NewSummary(prometheus.SummaryOpts{Name: "gen_rpc_seconds", Help: "Generated RPC durations.",
		Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}})
	flap := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gen_flap", Help: "Series that come and go."}, []string{"phase"})
	reg.MustRegister(reqs, temp, lat, rpc, flap, resettingCounter{
		desc:  prometheus.NewDesc("gen_resets_total", "A counter that restarts from zero.", []string{"kind"}, nil),
		start: time.Now()})
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	tick := func(i int) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range []string{"/", "/api", "/login"} {
			for _, c := range []string{"200", "500"} {
				n := rng.IntN(5)
				if c == "500" {
					n = rng.IntN(2)
				}
				reqs.WithLabelValues(p, c).Add(float64(n))
			}
		}
		for k, r := range []string{"kitchen", "hall", "attic"} {
			temp.WithLabelValues(r).Set(20 + float64(k) + 3*math.Sin(float64(i)/30) + rng.Float64())
		}
		for _, r := range []string{"read", "write"} {
			for range 3 {
				lat.WithLabelValues(r).Observe(rng.ExpFloat64() * 0.2)
			}
		}
		rpc.Observe(rng.ExpFloat64() * 0.1)
		// Every 15 s the flapping series swaps phase: the old one vanishes
		// (Prometheus writes a stale marker), a new one appears.
		phase := (i / 150) % 2
		flap.DeleteLabelValues([]string{"b", "a"}[phase])
		flap.WithLabelValues([]string{"a", "b"}[phase]).Set(float64(i % 150))
	}
	tick(0)
	stop := make(chan struct{})
	go func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
				tick(i)
			}
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		h.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(stop); _ = srv.Close() })
	return ln.Addr().String()
}

// apiResult is a query API answer.
type apiResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func query(t testing.TB, base, path string, params url.Values) apiResult {
	t.Helper()
	resp, err := http.PostForm(base+path, params)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r apiResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s %s: %v: %s", base, path, err, body)
	}
	return r
}

type point struct {
	t int64 // ms
	v float64
}

// normalize turns any result into series keyed by their labels.
func normalize(t testing.TB, r apiResult) map[string][]point {
	t.Helper()
	out := map[string][]point{}
	parsePoint := func(raw []any) point {
		ts := raw[0].(float64)
		v, err := strconv.ParseFloat(raw[1].(string), 64)
		if err != nil {
			t.Fatalf("value %v: %v", raw[1], err)
		}
		return point{int64(math.Round(ts * 1000)), v}
	}
	switch r.Data.ResultType {
	case "scalar", "string":
		var raw []any
		if err := json.Unmarshal(r.Data.Result, &raw); err != nil {
			t.Fatal(err)
		}
		if r.Data.ResultType == "string" {
			raw[1] = "0"
		}
		out["scalar"] = []point{parsePoint(raw)}
	case "vector":
		var res []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &res); err != nil {
			t.Fatal(err)
		}
		for _, s := range res {
			out[labelKey(s.Metric)] = []point{parsePoint(s.Value)}
		}
	case "matrix":
		var res []struct {
			Metric map[string]string `json:"metric"`
			Values [][]any           `json:"values"`
		}
		if err := json.Unmarshal(r.Data.Result, &res); err != nil {
			t.Fatal(err)
		}
		for _, s := range res {
			var ps []point
			for _, v := range s.Values {
				ps = append(ps, parsePoint(v))
			}
			out[labelKey(s.Metric)] = ps
		}
	default:
		t.Fatalf("result type %q", r.Data.ResultType)
	}
	return out
}

func labelKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

func near(a, b float64) bool {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return math.IsNaN(a) && math.IsNaN(b)
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return a == b
	}
	d := math.Abs(a - b)
	return d <= 1e-9 || d <= 1e-6*math.Max(math.Abs(a), math.Abs(b))
}

// diff describes how two normalized results differ, "" if they agree.
func diff(want, got map[string][]point) string {
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, g := want[k], got[k]
		if len(w) != len(g) {
			return fmt.Sprintf("series %s: %d points from Prometheus, %d from Silt (%v vs %v)", k, len(w), len(g), trim(w), trim(g))
		}
		for i := range w {
			if w[i].t != g[i].t || !near(w[i].v, g[i].v) {
				return fmt.Sprintf("series %s point %d: Prometheus %v, Silt %v", k, i, w[i], g[i])
			}
		}
	}
	return ""
}

func trim(ps []point) []point {
	if len(ps) > 6 {
		return ps[:6]
	}
	return ps
}

// queries are compared between Prometheus and Silt. Ranges stay short:
// the scrape phase lasts about a minute, at one scrape a second.
var queries = []string{
	// Selection and staleness.
	`up`,
	`up{job="silt"}`,
	`up{job=~"sil.|prom.*"}`,
	`up{job!="silt"}`,
	`{__name__=~"gen_temperature_.*"}`,
	`{__name__="gen_temperature_celsius", room!~"h.*"}`,
	`gen_flap`,
	`gen_flap{phase="a"}`,
	`count(gen_flap)`,
	`last_over_time(gen_flap[20s])`,
	`gen_temperature_celsius offset 10s`,
	`gen_temperature_celsius offset -5s`,
	`gen_temperature_celsius @ start()`,
	`gen_temperature_celsius @ end()`,
	`timestamp(up)`,
	// Counters.
	`rate(gen_requests_total[15s])`,
	`rate(gen_requests_total{code="500"}[30s])`,
	`irate(gen_requests_total[15s])`,
	`increase(gen_requests_total[20s])`,
	`rate(gen_resets_total[30s])`,
	`increase(gen_resets_total[30s])`,
	`resets(gen_resets_total[30s])`,
	`rate(prometheus_http_requests_total[20s])`,
	`sum(rate(prometheus_http_requests_total[20s])) by (handler)`,
	`rate(silt_http_requests_total[20s])`,
	`sum by (job) (rate(process_cpu_seconds_total[20s]))`,
	`rate(gen_requests_total[15s] offset 10s)`,
	`changes(gen_temperature_celsius[20s])`,
	// Gauges.
	`delta(gen_temperature_celsius[20s])`,
	`idelta(gen_temperature_celsius[20s])`,
	`deriv(gen_temperature_celsius[20s])`,
	`predict_linear(gen_temperature_celsius[20s], 60)`,
	`avg_over_time(gen_temperature_celsius[20s])`,
	`min_over_time(gen_temperature_celsius[20s])`,
	`max_over_time(gen_temperature_celsius[20s])`,
	`sum_over_time(gen_temperature_celsius[20s])`,
	`count_over_time(gen_temperature_celsius[20s])`,
	`stddev_over_time(gen_temperature_celsius[20s])`,
	`stdvar_over_time(gen_temperature_celsius[20s])`,
	`quantile_over_time(0.9, gen_temperature_celsius[20s])`,
	`present_over_time(gen_flap[10s])`,
	`absent_over_time(gen_flap{phase="c"}[10s])`,
	`abs(deriv(gen_temperature_celsius[20s]))`,
	`clamp(gen_temperature_celsius, 20.5, 22)`,
	`round(gen_temperature_celsius, 0.5)`,
	`ln(gen_temperature_celsius) + sqrt(gen_temperature_celsius)`,
	// Histograms and summaries.
	`histogram_quantile(0.9, rate(gen_latency_seconds_bucket[20s]))`,
	`histogram_quantile(0.5, sum by (le) (rate(gen_latency_seconds_bucket[20s])))`,
	`histogram_quantile(0.99, sum by (route, le) (rate(gen_latency_seconds_bucket[30s])))`,
	`histogram_quantile(0.9, rate(prometheus_http_request_duration_seconds_bucket[20s]))`,
	`rate(gen_latency_seconds_sum[20s]) / rate(gen_latency_seconds_count[20s])`,
	`gen_rpc_seconds{quantile="0.9"}`,
	`rate(gen_rpc_seconds_count[20s])`,
	// Aggregations.
	`sum(gen_temperature_celsius)`,
	`avg(gen_temperature_celsius)`,
	`max(gen_temperature_celsius)`,
	`min by (room) (gen_temperature_celsius)`,
	`sum without (code) (rate(gen_requests_total[20s]))`,
	`avg by (path) (rate(gen_requests_total[20s]))`,
	`max without (path) (rate(gen_requests_total[20s]))`,
	`count by (job) (up)`,
	`count without (instance) ({__name__=~"process_.*"})`,
	`stddev(gen_temperature_celsius)`,
	`stdvar by (code) (rate(gen_requests_total[20s]))`,
	`topk(2, gen_temperature_celsius)`,
	`bottomk(1, gen_temperature_celsius)`,
	`topk(3, rate(gen_requests_total[20s]))`,
	`count_values("v", up)`,
	`count_values("code_count", count by (code) (gen_requests_total))`,
	`quantile(0.5, gen_temperature_celsius)`,
	`quantile by (code) (0.75, rate(gen_requests_total[20s]))`,
	`group by (job) (up)`,
	// Binary operators.
	`gen_temperature_celsius * 2 - 1`,
	`gen_temperature_celsius > 21`,
	`gen_temperature_celsius > bool 21`,
	`rate(gen_requests_total{code="500"}[20s]) / ignoring (code) rate(gen_requests_total{code="200"}[20s])`,
	`sum by (path) (rate(gen_requests_total[20s])) / on (path) group_left sum by (path) (rate(gen_requests_total{code="200"}[20s]))`,
	`rate(gen_requests_total[20s]) / on (path) group_left sum by (path) (rate(gen_requests_total[20s]))`,
	`up * on (instance) group_left (version) prometheus_build_info`,
	`up and on (job) (rate(process_cpu_seconds_total[20s]) > 0)`,
	`gen_temperature_celsius unless gen_temperature_celsius{room="hall"}`,
	`gen_flap or gen_temperature_celsius`,
	`scalar(sum(up)) * gen_temperature_celsius`,
	`vector(1) + sum(up)`,
	`time() - timestamp(up) < 10`,
	// Subqueries.
	`max_over_time(rate(gen_requests_total[10s])[20s:2s])`,
	`avg_over_time(sum(gen_temperature_celsius)[15s:5s])`,
	`rate(sum(gen_resets_total)[20s:1s])`,
	`min_over_time(deriv(gen_temperature_celsius[10s])[1m:])`,
	// Absent, labels.
	`absent(nonexistent_metric)`,
	`absent(up{job="silt"})`,
	`absent(gen_flap{phase="z"})`,
	`label_replace(up, "host", "$1", "instance", "(.*):.*")`,
	`label_join(up, "both", "/", "job", "instance")`,
	`sort_desc(sum by (handler) (rate(prometheus_http_requests_total[20s])))`,
	`sgn(delta(gen_temperature_celsius[10s]))`,
}

// TestPromQLAgainstPrometheus is the comparison described in the package doc.
func TestPromQLAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Prometheus and silt for over a minute; skipped with -short")
	}
	promBin := findPrometheus(t)
	silt := start(t, "silt", buildSilt(t), []string{"serve", "--data-dir", t.TempDir(), "--http-addr", "{addr}",
		"--pg-addr", "", "--flush-interval", "20s"}, "", "/ready")
	gen := exporter(t)
	scrapeFor := 70 * time.Second
	if s := os.Getenv("SILT_PROM_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		scrapeFor = time.Duration(n) * time.Second
	}
	dir := t.TempDir()
	siltAddr := strings.TrimPrefix(silt.base, "http://")
	promPort := freePort(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ['127.0.0.1:%d']}]
  - job_name: silt
    static_configs: [{targets: ['%s']}]
  - job_name: gen
    static_configs: [{targets: ['%s']}]
remote_write:
  - url: http://%s/api/v1/write
    queue_config: {batch_send_deadline: 500ms, min_backoff: 50ms, max_backoff: 1s}
    metadata_config: {send_interval: 5s}
`, promPort, siltAddr, gen, siltAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promArgs := []string{"--config.file", cfgPath, "--storage.tsdb.path", filepath.Join(dir, "tsdb"),
		"--web.listen-address", "{addr}"}
	promP := start(t, "prometheus", promBin, promArgs, fmt.Sprintf("127.0.0.1:%d", promPort), "/-/ready")
	began := time.Now()
	time.Sleep(scrapeFor)

	// The last time Silt is known to hold every series' samples up to:
	// the newest scrape of every target is there and matches Prometheus.
	var cut int64
	for deadline := time.Now().Add(30 * time.Second); ; {
		now := time.Now().Add(-3 * time.Second).UnixMilli()
		pv := normalize(t, query(t, promP.base, "/api/v1/query", url.Values{"query": {"min(timestamp(up))"}, "time": {fmtTime(now + 3000)}}))
		sv := normalize(t, query(t, silt.base, "/api/v1/query", url.Values{"query": {"min(timestamp(up))"}, "time": {fmtTime(now + 3000)}}))
		pk, sk := firstValue(pv), firstValue(sv)
		if !math.IsNaN(pk) && pk == sk && int64(pk*1000) >= now-2000 {
			cut = int64(pk * 1000)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Silt did not catch up with Prometheus' newest scrape: Prometheus %v, Silt %v", pv, sv)
		}
		time.Sleep(200 * time.Millisecond)
	}
	first := began.UnixMilli() + 35_000 // past the longest range (30 s) after the first scrape
	if cut-first < 15_000 {
		t.Fatalf("too little data for the comparison: first %d, cut %d", first, cut)
	}
	offset := evalOffset(t, promP.base, cut)
	// The last is 6 s before the cut: offset -5s looks past it.
	evalTimes := []int64{first/1000*1000 + offset, (first+cut)/2/1000*1000 + offset, (cut-7000)/1000*1000 + offset}
	rangeStart, rangeEnd := evalTimes[0], evalTimes[2]

	compared, failures := 0, 0
	for _, q := range queries {
		for _, ts := range evalTimes {
			p := url.Values{"query": {q}, "time": {fmtTime(ts)}}
			compared += compare(t, promP.base, silt.base, "/api/v1/query", p, &failures)
		}
		p := url.Values{"query": {q}, "start": {fmtTime(rangeStart)}, "end": {fmtTime(rangeEnd)}, "step": {"3"}}
		compared += compare(t, promP.base, silt.base, "/api/v1/query_range", p, &failures)
	}
	t.Logf("%d queries, %d comparisons (instant at %v, range %v..%v step 3s), %d differ",
		len(queries), compared, evalTimes, rangeStart, rangeEnd, failures)

	t.Run("SQL", func(t *testing.T) {
		// The samples of up for the silt target up to the cut, counted by
		// Prometheus and by SQL over the same rows.
		p := url.Values{"query": {`count_over_time(up{job="silt"}[10m])`}, "time": {fmtTime(cut)}}
		want := firstValue(normalize(t, query(t, promP.base, "/api/v1/query", p)))
		sql := fmt.Sprintf(`SELECT count(*) AS n, max(value) AS v FROM up WHERE job = 'silt' AND time <= %d`, cut*1_000_000)
		resp, err := http.Get(silt.base + "/api/v1/sql?db=prometheus&q=" + url.QueryEscape(sql))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf("%d", int64(want))) {
			t.Fatalf("SQL %s: %d %s; Prometheus counts %v samples", sql, resp.StatusCode, body, want)
		}
		resp, err = http.Get(silt.base + "/query?db=prometheus&q=" + url.QueryEscape(
			fmt.Sprintf(`SELECT count(value) FROM up WHERE job = 'silt' AND time <= %d`, cut*1_000_000)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(",%d]", int64(want))) {
			t.Fatalf("InfluxQL: %d %s; Prometheus counts %v samples", resp.StatusCode, body, want)
		}
	})

	t.Run("Metadata", func(t *testing.T) {
		resp, err := http.Get(silt.base + "/api/v1/metadata?metric=gen_requests_total")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"gen_requests_total":[{"type":"counter","help":"Generated requests.","unit":""}]`) {
			t.Fatalf("metadata: %s", body)
		}
	})

	t.Run("GrafanaRequests", func(t *testing.T) {
		grafanaRequests(t, promP.base, silt.base, rangeStart, rangeEnd)
	})

	t.Run("LabelsAndSeries", func(t *testing.T) {
		p := url.Values{"match[]": {`up`}, "start": {fmtTime(rangeStart)}, "end": {fmtTime(rangeEnd)}}
		for _, path := range []string{"/api/v1/series", "/api/v1/label/job/values", "/api/v1/labels"} {
			w, g := rawQuery(t, promP.base, path, p), rawQuery(t, silt.base, path, p)
			if path == "/api/v1/labels" {
				// Silt answers every label of the tables the matchers
				// select; Prometheus those of the matching series.
				for _, l := range w {
					if !strings.Contains(fmt.Sprint(g), fmt.Sprint(l)) {
						t.Fatalf("%s: Prometheus %v, Silt %v", path, w, g)
					}
				}
				continue
			}
			if fmt.Sprint(w) != fmt.Sprint(g) {
				t.Fatalf("%s: Prometheus %v, Silt %v", path, w, g)
			}
		}
	})
}

// rawQuery returns the data of a series or labels answer.
func rawQuery(t *testing.T, base, path string, p url.Values) []any {
	t.Helper()
	// Prometheus 2.42 takes label values by GET only.
	resp, err := http.Get(base + path + "?" + p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   []any  `json:"data"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("%s%s: %v %s", base, path, err, body)
	}
	return r.Data
}

func firstValue(m map[string][]point) float64 {
	for _, ps := range m {
		if len(ps) > 0 {
			return ps[len(ps)-1].v
		}
	}
	return math.NaN()
}

func fmtTime(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) }

// evalOffset picks the millisecond within a second for evaluation times
// farthest from the milliseconds of every target's scrapes, so that no range
// boundary falls on a sample.
func evalOffset(t *testing.T, prom string, at int64) int64 {
	r := query(t, prom, "/api/v1/query", url.Values{"query": {"up[20s]"}, "time": {fmtTime(at)}})
	var used []int64
	for _, ps := range normalize(t, r) {
		for _, p := range ps {
			used = append(used, ((p.t%1000)+1000)%1000)
		}
	}
	best, bestDist := int64(500), int64(-1)
	for c := int64(0); c < 1000; c += 7 {
		d := int64(1000)
		for _, u := range used {
			x := (c - u + 1000) % 1000
			d = min(d, x, 1000-x)
		}
		if d > bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// compare runs one query on both and reports a difference as an error.
func compare(t *testing.T, prom, silt, path string, p url.Values, failures *int) int {
	t.Helper()
	w, g := query(t, prom, path, p), query(t, silt, path, p)
	if w.Status != "success" {
		t.Errorf("Prometheus failed %s %v: %s %s", path, p, w.ErrorType, w.Error)
		*failures++
		return 1
	}
	if g.Status != "success" {
		t.Errorf("Silt failed %s %v: %s %s", path, p, g.ErrorType, g.Error)
		*failures++
		return 1
	}
	if w.Data.ResultType != g.Data.ResultType {
		t.Errorf("%s %v: result type %s from Prometheus, %s from Silt", path, p, w.Data.ResultType, g.Data.ResultType)
		*failures++
		return 1
	}
	if d := diff(normalize(t, w), normalize(t, g)); d != "" {
		t.Errorf("%s %s at %v: %s", path, p.Get("query"), p, d)
		*failures++
	}
	return 1
}
