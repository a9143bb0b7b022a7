package prometheus

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRemoteWriteSurvivesKill kills a silt serve with SIGKILL twice while
// Prometheus remote-writes to it, and restarts it on the same address and
// data directory. Prometheus keeps what Silt did not acknowledge and sends
// it again; what Silt acknowledged it never sends again, so a sample Silt
// answered 204 for and then lost would be missing for good. Afterwards
// every raw sample of Prometheus' own TSDB must be in Silt with the same
// time and value, and no other.
func TestRemoteWriteSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Prometheus and silt for about 40 s; skipped with -short")
	}
	promBin := findPrometheus(t)
	bin := buildSilt(t)
	data := t.TempDir()
	siltAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// A short flush interval: the kills find rows in segments, in the
	// head and in the WAL.
	siltArgs := []string{"serve", "--data-dir", data, "--http-addr", "{addr}", "--pg-addr", "", "--flight-addr", "",
		"--flush-interval", "3s"}
	runs := 0
	startSilt := func() *proc {
		runs++
		return start(t, fmt.Sprintf("silt-%d", runs), bin, siltArgs, siltAddr, "/ready")
	}
	silt := startSilt()
	gen := exporter(t)

	dir := t.TempDir()
	promPort := freePort(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 500ms
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ['127.0.0.1:%d']}]
  - job_name: gen
    static_configs: [{targets: ['%s']}]
remote_write:
  - url: http://%s/api/v1/write
    queue_config: {batch_send_deadline: 200ms, max_samples_per_send: 200, min_backoff: 50ms, max_backoff: 500ms}
`, promPort, gen, siltAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promP := start(t, "prometheus", promBin, []string{"--config.file", cfgPath,
		"--storage.tsdb.path", filepath.Join(dir, "tsdb"), "--web.listen-address", "{addr}"},
		fmt.Sprintf("127.0.0.1:%d", promPort), "/-/ready")
	began := time.Now()

	for _, after := range []time.Duration{9 * time.Second, 7300 * time.Millisecond} {
		time.Sleep(after)
		if err := silt.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-silt.done
		// Prometheus meets a refused connection and backs off meanwhile.
		time.Sleep(1500 * time.Millisecond)
		silt = startSilt()
	}
	time.Sleep(6 * time.Second)

	// Silt has caught up once it holds the newest scrape of every target
	// that Prometheus holds.
	var cut int64
	for deadline := time.Now().Add(45 * time.Second); ; {
		at := fmtTime(time.Now().UnixMilli())
		pv := normalize(t, query(t, promP.base, "/api/v1/query", url.Values{"query": {"min(timestamp(up))"}, "time": {at}}))
		sv := normalize(t, query(t, silt.base, "/api/v1/query", url.Values{"query": {"min(timestamp(up))"}, "time": {at}}))
		if pk, sk := firstValue(pv), firstValue(sv); !math.IsNaN(pk) && pk == sk {
			cut = int64(pk * 1000)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Silt did not catch up with Prometheus' newest scrape: Prometheus %v, Silt %v", pv, sv)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every raw sample up to the cut, of every series of both targets.
	window := time.Since(began) + time.Minute
	selectors := []string{`up`, `{__name__=~"gen_.+"}`, `{__name__=~"prometheus_tsdb_head_.+"}`}
	samples := 0
	for _, sel := range selectors {
		p := url.Values{"query": {fmt.Sprintf("%s[%ds]", sel, int(window.Seconds()))}, "time": {fmtTime(cut)}}
		w, g := normalize(t, query(t, promP.base, "/api/v1/query", p)), normalize(t, query(t, silt.base, "/api/v1/query", p))
		if d := diff(w, g); d != "" {
			t.Errorf("%s after two kills: %s", sel, d)
		}
		for _, ps := range w {
			samples += len(ps)
		}
	}
	// The kills must have met samples in flight, or nothing was tested.
	retried := firstValue(normalize(t, query(t, promP.base, "/api/v1/query",
		url.Values{"query": {"sum(prometheus_remote_storage_samples_retried_total)"}, "time": {fmtTime(cut)}})))
	if !(retried > 0) {
		t.Fatalf("Prometheus retried %v samples: the kills did not interrupt remote writing", retried)
	}
	if samples < 1000 {
		t.Fatalf("only %d samples compared: too few for the test to mean anything", samples)
	}
	t.Logf("%d samples of %d series selectors equal after 2 kills (silt ran %d times; Prometheus retried %v samples)",
		samples, len(selectors), runs, retried)
}
