package prometheus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// BenchmarkAgainstPrometheus puts Silt next to Debian's Prometheus 2.42 on
// the same remote-written data: one hour of node-exporter-like scrapes
// (100 instances, 33 series each: CPU-seconds counters by cpu and mode,
// memory and load gauges, network counters and a classic latency
// histogram, every 15 s) sent by 4 shards as Prometheus' own remote write
// does, 500 samples a request. Prometheus receives it through its
// remote-write receiver into its own TSDB. It reports, per system:
//
//   - ingest: samples/s (wall) and server CPU-seconds per million samples,
//     medians of -runs fresh starts, alternating the two systems;
//
//   - bytes per sample on disk: Silt's segments after its shutdown flush,
//     Prometheus' block from an admin snapshot of its head (chunks and
//     index);
//
//   - range-query latency (medians of 9, alternating) for Grafana-like
//     panels over the hour at a 15 s step, with Silt answering from its
//     head and again, after a restart, from segments; every answer is
//     compared with Prometheus' and a difference fails the benchmark;
//
//   - peak RSS (VmHWM) of each server.
//
//     go test -run NONE -bench AgainstPrometheus -benchtime 1x -timeout 30m ./test/prometheus
//
// SILT_PROM_BENCH_RUNS sets the ingest runs (default 3).
func BenchmarkAgainstPrometheus(b *testing.B) {
	promBin := findPrometheus(b)
	siltBin := buildSilt(b)
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("SILT_PROM_BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	// The hour ends a minute ago, aligned to the scrape interval, so the
	// evaluation steps (whole multiples of 15 s) never fall on a sample:
	// every target's samples carry a fixed offset of 1-999 ms.
	end := time.Now().Add(-time.Minute).Truncate(15 * time.Second)
	from := end.Add(-time.Hour)
	shards, samples := nodeScrapes(from, 240, 100, 4)
	b.Logf("%d samples in %d requests over 4 shards", samples, countBodies(shards))

	type ingest struct{ rate, cpuPerM float64 }
	var siltIn, promIn []ingest
	var silt, prom *proc
	var siltDir, promDir string
	for r := range runs {
		last := r == runs-1
		for _, sys := range []string{"silt", "prometheus"} {
			dir := b.TempDir()
			var p *proc
			if sys == "silt" {
				p = start(b, "silt", siltBin, []string{"serve", "--data-dir", dir, "--http-addr", "{addr}",
					"--pg-addr", "", "--flight-addr", ""}, "", "/ready")
			} else {
				p = start(b, "prometheus", promBin, []string{"--config.file", emptyConfig(b),
					"--storage.tsdb.path", dir, "--web.listen-address", "{addr}",
					"--web.enable-remote-write-receiver", "--web.enable-admin-api"}, "", "/-/ready")
			}
			cpu0 := cpuSeconds(b, p)
			t0 := time.Now()
			sendShards(b, p.base+"/api/v1/write", shards)
			wall := time.Since(t0).Seconds()
			in := ingest{float64(samples) / wall, (cpuSeconds(b, p) - cpu0) / float64(samples) * 1e6}
			if sys == "silt" {
				siltIn = append(siltIn, in)
			} else {
				promIn = append(promIn, in)
			}
			if !last {
				_ = p.cmd.Process.Kill()
				<-p.done
				continue
			}
			if sys == "silt" {
				silt, siltDir = p, dir
			} else {
				prom, promDir = p, dir
			}
		}
	}
	med := func(xs []ingest, f func(ingest) float64) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		return median(v)
	}
	rate := func(x ingest) float64 { return x.rate }
	cpu := func(x ingest) float64 { return x.cpuPerM }

	// Queries: Silt from its head, then from segments after a restart.
	qs := rangeQueries(from, end)
	headLat := compareLatency(b, prom, silt, qs)
	siltHeadRSS := vmHWM(b, silt)
	if err := silt.cmd.Process.Signal(syscall.SIGTERM); err != nil { // flushes the head
		b.Fatal(err)
	}
	<-silt.done
	segBytes, rollupBytes := siltSegmentBytes(b, siltDir)
	silt = start(b, "silt-restarted", siltBin, []string{"serve", "--data-dir", siltDir, "--http-addr", "{addr}",
		"--pg-addr", "", "--flight-addr", ""}, "", "/ready")
	segLat := compareLatency(b, prom, silt, qs)
	promBytes := promSnapshotBytes(b, prom, promDir)

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\n| what | Silt | Prometheus 2.42 | Silt ÷ Prometheus |\n|---|---:|---:|---:|\n")
	row := func(what string, s, p float64, unit string) {
		fmt.Fprintf(&tbl, "| %s | %.3g %s | %.3g %s | %.2f |\n", what, s, unit, p, unit, s/p)
	}
	row("ingest, samples/s (median of "+strconv.Itoa(runs)+")", med(siltIn, rate), med(promIn, rate), "")
	row("server CPU per million samples", med(siltIn, cpu), med(promIn, cpu), "s")
	row("bytes per sample on disk", float64(segBytes)/float64(samples), float64(promBytes)/float64(samples), "")
	fmt.Fprintf(&tbl, "| Silt rollups, bytes per sample (not counted above) | %.3g | | |\n", float64(rollupBytes)/float64(samples))
	for i, q := range qs {
		row(fmt.Sprintf("`%s` head, ms", q.expr), headLat[i].silt, headLat[i].prom, "")
		row(fmt.Sprintf("`%s` segments, ms", q.expr), segLat[i].silt, segLat[i].prom, "")
	}
	row("peak RSS, head queries, MB", siltHeadRSS/1e6, vmHWM(b, prom)/1e6, "")
	row("peak RSS after restart, segment queries, MB", vmHWM(b, silt)/1e6, vmHWM(b, prom)/1e6, "")
	fmt.Print(tbl.String()) // whole: a benchmark's log is cut short
	b.ReportMetric(med(siltIn, rate), "silt-samples/s")
	b.ReportMetric(med(promIn, rate), "prom-samples/s")
	b.ReportMetric(float64(segBytes)/float64(samples), "silt-bytes/sample")
	b.ReportMetric(float64(promBytes)/float64(samples), "prom-bytes/sample")
}

// nodeScrapes builds the remote-write bodies of scrapes scrapes of
// instances node-exporter-like targets, split over shards by series as
// Prometheus' queue manager does; each shard's bodies are in time order.
func nodeScrapes(start time.Time, scrapes, instances, shards int) ([][][]byte, int) {
	rng := rand.New(rand.NewPCG(7, 11))
	type series struct {
		labels  []prompb.Label
		v       float64
		next    func(v float64) float64
		offsetM int64
	}
	// Values have the resolution real exporters give them: CPU seconds
	// in hundredths (USER_HZ), bytes and counts whole, load in hundredths.
	// Rounding by division keeps a value the double nearest its decimal
	// text, as a scraped value is.
	round := func(v, unit float64) float64 {
		if unit >= 1 {
			return math.Round(v)
		}
		return math.Round(v*math.Round(1/unit)) / math.Round(1/unit)
	}
	counter := func(scale, unit float64) func(float64) float64 {
		return func(v float64) float64 { return round(v+float64(rng.IntN(int(scale/unit)))*unit, unit) }
	}
	gauge := func(mid, spread, unit float64) func(float64) float64 {
		return func(v float64) float64 {
			v += float64(rng.IntN(int(spread/unit))-int(spread/unit/2)) * unit
			if v < 0 {
				v = mid
			}
			return round(v, unit)
		}
	}
	var all []*series
	buckets := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}
	for i := range instances {
		inst := fmt.Sprintf("host-%d:9100", i)
		off := int64(1 + (i*37)%999)
		add := func(name string, v float64, next func(float64) float64, kv ...string) {
			ls := []prompb.Label{{Name: "__name__", Value: name}, {Name: "instance", Value: inst}, {Name: "job", Value: "node"}}
			for k := 0; k < len(kv); k += 2 {
				ls = append(ls, prompb.Label{Name: kv[k], Value: kv[k+1]})
			}
			slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
			all = append(all, &series{labels: ls, v: v, next: next, offsetM: off})
		}
		for c := range 2 {
			for _, m := range []string{"user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"} {
				scale := 0.3
				if m == "idle" {
					scale = 14
				}
				add("node_cpu_seconds_total", float64(rng.IntN(100000))/100, counter(scale, 0.01), "cpu", strconv.Itoa(c), "mode", m)
			}
		}
		add("node_memory_MemFree_bytes", 4e9, gauge(4e9, 5e7, 4096))
		add("node_memory_Cached_bytes", 2e9, gauge(2e9, 1e7, 4096))
		add("node_load1", 1, gauge(1, 0.2, 0.01))
		add("node_network_receive_bytes_total", 0, counter(2e6, 1), "device", "eth0")
		add("node_network_transmit_bytes_total", 0, counter(1e6, 1), "device", "eth0")
		// A classic histogram: cumulative buckets move together.
		first := len(all)
		for _, le := range buckets {
			add("http_request_duration_seconds_bucket", 0, nil, "le", le)
		}
		add("http_request_duration_seconds_sum", 0, nil)
		add("http_request_duration_seconds_count", 0, nil)
		hist := all[first : first+len(buckets)+2]
		bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
		hist[0].next = func(float64) float64 { // advances the whole histogram once a scrape
			for range 20 + rng.IntN(20) {
				d := rng.ExpFloat64() * 0.12
				for k, bd := range bounds {
					if d <= bd {
						hist[k].v++
					}
				}
				hist[len(buckets)-1].v++
				hist[len(buckets)].v += d
				hist[len(buckets)+1].v++
			}
			return hist[0].v
		}
		for _, h := range hist[1:] {
			h.next = func(v float64) float64 { return v } // moved by hist[0]
		}
	}
	per := make([][]prompb.TimeSeries, shards)
	out := make([][][]byte, shards)
	flush := func(s int) {
		raw, err := (&prompb.WriteRequest{Timeseries: per[s]}).Marshal()
		if err != nil {
			panic(err)
		}
		out[s] = append(out[s], snappy.Encode(nil, raw))
		per[s] = per[s][:0]
	}
	n := 0
	for k := range scrapes {
		at := start.Add(time.Duration(k)*15*time.Second).UnixMilli() + int64(rng.IntN(3))
		for i, s := range all {
			s.v = s.next(s.v)
			sh := i % shards
			per[sh] = append(per[sh], prompb.TimeSeries{Labels: s.labels,
				Samples: []prompb.Sample{{Timestamp: at + s.offsetM, Value: s.v}}})
			n++
			if len(per[sh]) == 500 {
				flush(sh)
			}
		}
	}
	for s := range per {
		if len(per[s]) > 0 {
			flush(s)
		}
	}
	return out, n
}

func countBodies(shards [][][]byte) int {
	n := 0
	for _, s := range shards {
		n += len(s)
	}
	return n
}

// sendShards posts each shard's bodies in order, the shards in parallel.
func sendShards(tb testing.TB, u string, shards [][][]byte) {
	var wg sync.WaitGroup
	errs := make(chan error, len(shards))
	for _, bodies := range shards {
		wg.Go(func() {
			for _, body := range bodies {
				req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
				req.Header.Set("Content-Encoding", "snappy")
				req.Header.Set("Content-Type", "application/x-protobuf")
				req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					errs <- fmt.Errorf("%s: %s: %s", u, resp.Status, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

type rangeQuery struct {
	expr   string
	params url.Values
}

// rangeQueries are Grafana-like panels over the hour at a 15 s step,
// starting once the widest range holds data.
func rangeQueries(start, end time.Time) []rangeQuery {
	exprs := []string{
		`node_load1`,
		`rate(node_cpu_seconds_total[5m])`,
		`sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))`,
		`sum by (mode) (irate(node_cpu_seconds_total[1m]))`,
		`avg_over_time(node_memory_MemFree_bytes[10m])`,
		`max_over_time(node_load1[5m])`,
		`histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`,
		`topk(5, rate(node_network_receive_bytes_total[5m]))`,
		`sum(increase(http_request_duration_seconds_count[10m]))`,
	}
	var qs []rangeQuery
	for _, e := range exprs {
		qs = append(qs, rangeQuery{e, url.Values{"query": {e},
			"start": {strconv.FormatInt(start.Add(10*time.Minute).Unix(), 10)},
			"end":   {strconv.FormatInt(end.Unix(), 10)}, "step": {"15"}}})
	}
	return qs
}

type latency struct{ silt, prom float64 } // ms, medians

// compareLatency checks that both answer every query the same, then times
// 9 runs of each, alternating the systems.
func compareLatency(tb testing.TB, prom, silt *proc, qs []rangeQuery) []latency {
	tb.Helper()
	out := make([]latency, len(qs))
	for i, q := range qs {
		w := normalize(tb, query(tb, prom.base, "/api/v1/query_range", q.params))
		g := normalize(tb, query(tb, silt.base, "/api/v1/query_range", q.params))
		if len(w) == 0 {
			tb.Fatalf("%s: Prometheus answers nothing", q.expr)
		}
		if d := diff(w, g); d != "" {
			tb.Errorf("%s: answers differ: %s", q.expr, d)
		}
		var ts, tp []float64
		for range 9 {
			ts = append(ts, timeQuery(tb, silt.base, q.params))
			tp = append(tp, timeQuery(tb, prom.base, q.params))
		}
		out[i] = latency{median(ts), median(tp)}
	}
	return out
}

func timeQuery(tb testing.TB, base string, params url.Values) float64 {
	t0 := time.Now()
	resp, err := http.PostForm(base+"/api/v1/query_range", params)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		tb.Fatalf("%s: %s", base, resp.Status)
	}
	return float64(time.Since(t0).Microseconds()) / 1000
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func emptyConfig(tb testing.TB) string {
	p := filepath.Join(tb.TempDir(), "prometheus.yml")
	if err := os.WriteFile(p, []byte("global:\n  scrape_interval: 15s\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// cpuSeconds is the process's user+system CPU time so far.
func cpuSeconds(tb testing.TB, p *proc) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64) // fields 14 and 15 of stat
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// vmHWM is the process's peak resident set in bytes.
func vmHWM(tb testing.TB, p *proc) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	tb.Fatal("no VmHWM")
	return 0
}

// siltSegmentBytes sums the manifest's raw segments and, apart, its rollups.
func siltSegmentBytes(tb testing.TB, dir string) (raw, rollups int64) {
	body, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var m struct {
		Segments []struct {
			Bytes  int64 `json:"bytes"`
			Rollup int64 `json:"rollup"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatal(err)
	}
	for _, s := range m.Segments {
		if s.Rollup != 0 {
			rollups += s.Bytes
		} else {
			raw += s.Bytes
		}
	}
	if raw == 0 {
		tb.Fatal("Silt flushed no segment")
	}
	return raw, rollups
}

// promSnapshotBytes has Prometheus write its head as a block (the admin
// snapshot) and sums the block's chunks and index.
func promSnapshotBytes(tb testing.TB, p *proc, dir string) int64 {
	resp, err := http.Post(p.base+"/api/v1/admin/tsdb/snapshot", "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	var r struct {
		Data struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil || r.Data.Name == "" {
		tb.Fatalf("snapshot: %v %+v", err, r)
	}
	var n int64
	root := filepath.Join(dir, "snapshots", r.Data.Name)
	_ = filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && (info.Name() == "index" || filepath.Base(filepath.Dir(path)) == "chunks") {
			n += info.Size()
		}
		return nil
	})
	if n == 0 {
		tb.Fatalf("snapshot %s holds no block", root)
	}
	return n
}
