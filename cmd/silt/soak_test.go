package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSoak runs a real silt serve under a steady mix of load for
// SILT_SOAK (a duration: make soak sets 30m) and fails if its RSS keeps
// climbing. It is not part of the test suite: without SILT_SOAK it skips.
//
// The load (SILT_SOAK_LOAD, comma-separated; all by default):
//   - writes: line protocol over HTTP, 50 series, 2,000 rows/s;
//   - kafka: the same rate of line-protocol records produced to an
//     in-process Kafka cluster (kfake) the server consumes;
//   - queries: SQL, InfluxQL and PromQL over the last minutes of both,
//     one after another without pause.
//
// SILT_SOAK_SPREAD_DAYS=N spreads each batch's times over the last N days
// (a row per series and day), so that every flush writes a segment per
// day and compaction merges across N windows: the shape under which the
// stream consumer's RSS was seen to creep.
//
// Every SILT_SOAK_SAMPLE (5s) the server's RSS (VmRSS, and its two parts:
// RssAnon, the memory it allocated, and RssFile, the pages of files it
// maps, nearly all its own executable's) and Go heap in use are recorded
// (rss.csv). After a warm-up of a fifth of the run (at least a minute),
// the samples are cut in thirds; the run fails if the last third's largest
// RssAnon passes the first third's by more than 10% + 32 MiB: flushes,
// compactions and queries make it swing, but a steady load must not make
// it grow. RssFile is left out of the criterion: it grows as code paths
// run for the first time (the program's text is about 60 MiB) and the
// kernel can drop those pages at will; it is logged with the rest. Heap profiles (with a collection first) are taken at
// the end of the warm-up and of the run, and their difference is logged:
// what grew, by allocation site. SILT_SOAK_DIR keeps the samples, the
// profiles and the server's log (else a temporary directory).
func TestSoak(t *testing.T) {
	total, err := time.ParseDuration(os.Getenv("SILT_SOAK"))
	if os.Getenv("SILT_SOAK") == "" {
		t.Skip("a long soak: SILT_SOAK=30m (make soak) runs it")
	}
	if err != nil {
		t.Fatalf("SILT_SOAK: %v", err)
	}
	sample := 5 * time.Second
	if s := os.Getenv("SILT_SOAK_SAMPLE"); s != "" {
		if sample, err = time.ParseDuration(s); err != nil {
			t.Fatalf("SILT_SOAK_SAMPLE: %v", err)
		}
	}
	load := map[string]bool{"writes": true, "kafka": true, "queries": true}
	if s := os.Getenv("SILT_SOAK_LOAD"); s != "" {
		clear(load)
		for _, l := range strings.Split(s, ",") {
			load[strings.TrimSpace(l)] = true
		}
	}
	spread := envInt(t, "SILT_SOAK_SPREAD_DAYS", 0)
	out := os.Getenv("SILT_SOAK_DIR")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	// The page cache is bounded at 16 MiB here, not its default 128 MiB:
	// the queries fill it at 1–2 MiB a minute (28 MiB after 13 minutes and
	// 36 after 18 in a 30-minute run), so with the default it would still
	// be filling, and RSS rising towards that bound, when the run ends. At
	// 16 MiB it is full and evicting by the end of the warm-up, and what is
	// measured after it is the rest.
	flags := []string{"--debug.pprof", "--max-head-bytes", "64MiB", "--flush-bytes", "8MiB", "--flush-interval", "1m",
		"--query-cache-bytes", "16MiB"}
	var brokers string
	if load["kafka"] {
		brokers = startKfake(t, 4)
		flags = append(flags, "--kafka.brokers", brokers, "--kafka.topics", kafkaTopic, "--kafka.group", "soak",
			"--kafka.db", "streams", "--kafka.format", "line")
	}
	p := h.start(data, flags...)
	pid := p.cmd.Process.Pid
	t.Logf("silt serve pid %d, load %v, %s, sampling every %s, output in %s", pid, keys(load), total, sample, out)

	ctx, cancel := context.WithTimeout(context.Background(), total)
	defer cancel()
	var wg sync.WaitGroup
	var written, produced, queries, refused atomic.Int64
	failed := make(chan error, 16)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
		cancel()
	}
	every := func(d time.Duration, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(d)
			defer tick.Stop()
			for {
				if err := fn(); err != nil {
					fail(err)
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	const hosts, batch = 50, 500
	line := func(b *strings.Builder, table, field string, i int64, now int64) {
		at := now + i%batch // no two rows of a batch share a series and a time
		if spread > 0 {
			at -= (i / hosts % spread) * int64(24*time.Hour)
		}
		fmt.Fprintf(b, "%s,host=h%d %s=%d,w=%d.5 %d\n", table, i%hosts, field, i, i%1000, at)
	}
	if load["writes"] {
		var seq int64
		every(250*time.Millisecond, func() error {
			var b strings.Builder
			now := time.Now().UnixNano()
			for range batch {
				line(&b, "web", "value", seq, now)
				seq++
			}
			code, body, _, err := p.write("soak", []byte(b.String()))
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				return fmt.Errorf("write: %v", err)
			case code == 429 || code == 503:
				refused.Add(1) // backpressure: the load outran flushing
			case code != 204:
				return fmt.Errorf("write: %d %s", code, body)
			default:
				written.Add(batch)
			}
			return nil
		})
	}
	if load["kafka"] {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(kafkaTopic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var seq int64
		every(250*time.Millisecond, func() error {
			rs := make([]*kgo.Record, 0, batch)
			now := time.Now().UnixNano()
			for range batch {
				var b strings.Builder
				line(&b, "cpu", "v", seq, now)
				rs = append(rs, &kgo.Record{Key: []byte("k" + strconv.FormatInt(seq%hosts, 10)), Value: []byte(strings.TrimSuffix(b.String(), "\n"))})
				seq++
			}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil && ctx.Err() == nil {
				return fmt.Errorf("produce: %v", err)
			}
			produced.Add(batch)
			return nil
		})
	}
	if load["queries"] {
		qs := []string{
			"/api/v1/sql?db=soak&q=" + url.QueryEscape("SELECT host, count(*), avg(value), max(w) FROM web WHERE time > now() - interval '5 minutes' GROUP BY host"),
			"/api/v1/sql?db=streams&q=" + url.QueryEscape("SELECT * FROM cpu WHERE time > now() - interval '10 seconds' ORDER BY time DESC LIMIT 5000"),
			"/query?db=soak&q=" + url.QueryEscape("SELECT mean(value), max(w) FROM web WHERE time > now() - 5m GROUP BY time(30s), host"),
			"/query?db=streams&q=" + url.QueryEscape("SELECT last(v) FROM cpu GROUP BY host"),
			"/query?db=soak&q=" + url.QueryEscape("SELECT value, w FROM web WHERE time > now() - 20s"),
		}
		prom := []string{`sum by (host) (rate(web[1m]))`, `avg_over_time(web{host=~"h1.*"}[30s])`, `topk(5, web)`}
		i := 0
		every(time.Millisecond, func() error {
			var path string
			if n := i % (len(qs) + len(prom)); n < len(qs) {
				path = qs[n]
			} else {
				end := time.Now()
				path = "/api/v1/query_range?db=soak&" + url.Values{"query": {prom[n-len(qs)]},
					"start": {strconv.FormatInt(end.Add(-5*time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"15"}}.Encode()
			}
			i++
			code, body, err := p.get(path)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				return fmt.Errorf("query %s: %v", path, err)
			case code == 404 && i < 20:
				// The first rows have not arrived yet.
			case code != 200:
				return fmt.Errorf("query %s: %d %.300s", path, code, body)
			}
			queries.Add(1)
			return nil
		})
	}

	// The samples, and the heap profiles at the end of the warm-up and of
	// the run.
	warm := max(total/5, time.Minute)
	if warm > total/2 {
		warm = total / 2
	}
	csv, err := os.Create(filepath.Join(out, "rss.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer csv.Close()
	fmt.Fprintln(csv, "seconds,rss_bytes,rss_anon_bytes,rss_file_bytes,heap_inuse_bytes,query_cache_bytes,rows_written,records_produced,records_consumed,queries,writes_refused")
	type point struct {
		at   time.Duration
		anon int64
	}
	var points []point
	start := time.Now()
	profiled := false
	tick := time.NewTicker(sample)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if p.exited() {
			t.Fatalf("silt exited during the soak (%v); log:\n%s", p.state, tailLines(p.log(), 60))
		}
		rss, err := rssBytes(pid)
		if err != nil {
			t.Fatal(err)
		}
		anon, file := statusBytes(t, pid, "RssAnon"), statusBytes(t, pid, "RssFile")
		heap, _ := p.metricValue("go_memstats_heap_inuse_bytes", "")
		// The page cache fills up to its bound as queries read pages: growth
		// that stops, which the samples tell from a leak.
		cache, _ := p.metricValue("silt_query_cache_bytes", "")
		consumed, _ := p.metricValue("silt_kafka_messages_total", "")
		at := time.Since(start)
		points = append(points, point{at, anon})
		fmt.Fprintf(csv, "%.0f,%d,%d,%d,%.0f,%.0f,%d,%d,%.0f,%d,%d\n", at.Seconds(), rss, anon, file, heap, cache, written.Load(), produced.Load(), consumed, queries.Load(), refused.Load())
		t.Logf("%6.0fs RSS %4d MiB (anon %4d, file %3d) heap %4.0f MiB (page cache %3.0f) written %d produced %d consumed %.0f queries %d refused %d",
			at.Seconds(), rss>>20, anon>>20, file>>20, heap/(1<<20), cache/(1<<20), written.Load(), produced.Load(), consumed, queries.Load(), refused.Load())
		if !profiled && at >= warm {
			profiled = true
			saveHeap(t, p, filepath.Join(out, "heap-warm.pb.gz"))
		}
	}
	cancel()
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Fatal(err)
	}
	if !profiled {
		t.Fatal("the run ended before its warm-up did")
	}
	saveHeap(t, p, filepath.Join(out, "heap-end.pb.gz"))
	if diff, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", "-sample_index=inuse_space",
		"-diff_base", filepath.Join(out, "heap-warm.pb.gz"), filepath.Join(out, "heap-end.pb.gz")).CombinedOutput(); err == nil {
		t.Logf("heap in use, end of run minus end of warm-up:\n%s", diff)
	} else {
		t.Logf("go tool pprof: %v\n%s", err, diff)
	}
	if code := p.term(); code != 0 {
		t.Fatalf("silt exited with %d after the soak", code)
	}
	if keep := os.Getenv("SILT_SOAK_DIR"); keep != "" {
		raw, _ := os.ReadFile(p.logPath)
		_ = os.WriteFile(filepath.Join(keep, "server.log"), raw, 0o644)
	}

	var after []point
	for _, pt := range points {
		if pt.at >= warm {
			after = append(after, pt)
		}
	}
	if len(after) < 6 {
		t.Fatalf("%d samples after the warm-up: too few to judge; run longer or sample more often", len(after))
	}
	third := len(after) / 3
	peak := func(ps []point) int64 {
		m := int64(0)
		for _, pt := range ps {
			m = max(m, pt.anon)
		}
		return m
	}
	first, last := peak(after[:third]), peak(after[len(after)-third:])
	bound := first + first/10 + 32<<20
	// The trend, for the log: a least-squares line through the samples
	// after the warm-up. Growth up to a bound (compaction's merges read
	// larger segments as a window fills, up to --compaction.max-memory)
	// shows here too, so it informs rather than decides.
	var mt, ma float64
	for _, pt := range after {
		mt += pt.at.Seconds()
		ma += float64(pt.anon)
	}
	mt, ma = mt/float64(len(after)), ma/float64(len(after))
	var num, den float64
	for _, pt := range after {
		num += (pt.at.Seconds() - mt) * (float64(pt.anon) - ma)
		den += (pt.at.Seconds() - mt) * (pt.at.Seconds() - mt)
	}
	t.Logf("RssAnon trend after the warm-up: %+.2f MiB/min", num/den*60/(1<<20))
	t.Logf("RssAnon after the warm-up: first third's peak %d MiB, last third's %d MiB (bound %d MiB); %d rows written, %d records produced, %d queries, %d writes refused",
		first>>20, last>>20, bound>>20, written.Load(), produced.Load(), queries.Load(), refused.Load())
	if last > bound {
		t.Fatalf("RssAnon keeps climbing: the last third's peak %d MiB passes the first third's %d MiB by more than 10%% + 32 MiB (samples in %s)",
			last>>20, first>>20, filepath.Join(out, "rss.csv"))
	}
}

// statusBytes reads a field of /proc/pid/status given in kB.
func statusBytes(t *testing.T, pid int, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// saveHeap writes the server's heap profile, taken after a collection.
func saveHeap(t *testing.T, p *siltProc, path string) {
	t.Helper()
	code, body, err := p.get("/debug/pprof/heap?gc=1")
	if err != nil || code != 200 {
		t.Fatalf("heap profile: %d %v %.200s", code, err, body)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
