package prometheus

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// grafanaRequests replays what Grafana's Prometheus data source sends, as
// its source builds the requests (pkg/promlib and the grafana-prometheus
// package): the health check, the build info its heuristics read, the
// metric and label browser, and panel range queries whose
// $__rate_interval Grafana has already expanded (a Go duration such as
// "1m0s"), with Grafana's POST form, whole-second start and end aligned
// to the step, and a timeout. Each answer must parse as Grafana reads it
// and agree with Prometheus'.
func grafanaRequests(t *testing.T, prom, silt string, fromMs, toMs int64) {
	// Health check: an instant "1+1" at t=4 s (the check's fixed range 1..4 s).
	failures := 0
	compare(t, prom, silt, "/api/v1/query", url.Values{"query": {"1+1"}, "time": {"4"}}, &failures)

	// Heuristics: no features in the build info means plain Prometheus to
	// Grafana (features would make it treat Silt as Mimir and call a ruler).
	var bi struct {
		Status string `json:"status"`
		Data   struct {
			Version  string            `json:"version"`
			Features map[string]string `json:"features"`
		} `json:"data"`
	}
	getJSON(t, silt+"/api/v1/status/buildinfo", &bi)
	if bi.Status != "success" || bi.Data.Version == "" || len(bi.Data.Features) > 0 {
		t.Errorf("buildinfo: %+v", bi)
	}

	// The metric browser: whole seconds, as getAdjustedInterval sends them.
	start, end := strconv.FormatInt(fromMs/1000, 10), strconv.FormatInt(toMs/1000+1, 10)
	rng := url.Values{"start": {start}, "end": {end}}
	names := func(base string) []string {
		var out []string
		for _, v := range rawQuery(t, base, "/api/v1/label/__name__/values", rng) {
			if n := fmt.Sprint(v); strings.HasPrefix(n, "gen_") || n == "up" {
				out = append(out, n)
			}
		}
		return out
	}
	if w, g := names(prom), names(silt); !slices.Equal(w, g) || len(w) == 0 {
		t.Errorf("metric names: Prometheus %v, Silt %v", w, g)
	}
	var meta struct {
		Status string                       `json:"status"`
		Data   map[string][]json.RawMessage `json:"data"`
	}
	getJSON(t, silt+"/api/v1/metadata", &meta)
	for _, m := range []string{"gen_requests_total", "gen_latency_seconds", "gen_temperature_celsius"} {
		if meta.Status != "success" || len(meta.Data[m]) == 0 {
			t.Errorf("metadata has no %s: %v", m, meta.Status)
		}
	}
	// Choosing a metric: its label names (POST form, as Grafana's default
	// method sends /api/v1/labels), then one label's values, then series
	// with the browser's limit.
	sel := url.Values{"start": {start}, "end": {end}, "match[]": {`{__name__="gen_requests_total"}`}}
	labelsOf := func(base string) []string {
		resp, err := http.PostForm(base+"/api/v1/labels", sel)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Status string   `json:"status"`
			Data   []string `json:"data"`
		}
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
			t.Fatalf("%s POST /api/v1/labels: %v %s", base, err, body)
		}
		return r.Data
	}
	got := labelsOf(silt)
	for _, l := range labelsOf(prom) {
		if !slices.Contains(got, l) {
			t.Errorf("labels of gen_requests_total: Prometheus has %q, Silt %v", l, got)
		}
	}
	for _, path := range []string{"/api/v1/label/code/values", "/api/v1/series"} {
		p := url.Values{"start": {start}, "end": {end}, "match[]": {`{__name__="gen_requests_total"}`}}
		if path == "/api/v1/series" {
			p.Set("limit", "40000")
		}
		if w, g := rawQuery(t, prom, path, p), rawQuery(t, silt, path, p); fmt.Sprint(w) != fmt.Sprint(g) {
			t.Errorf("%s: Prometheus %v, Silt %v", path, w, g)
		}
	}

	// Panels: range queries with $__rate_interval expanded by Grafana
	// (4 × a 1 s scrape interval + the step, as a Go duration), the step
	// in seconds, start and end aligned down to it, and the data source's
	// timeout.
	step := 2 * time.Second
	rate := max(4*time.Second, time.Second+step)
	align := func(ms int64) string { return strconv.FormatInt(ms/step.Milliseconds()*int64(step.Seconds()), 10) }
	for _, expr := range []string{
		`sum by (code) (rate(gen_requests_total[$__rate_interval]))`,
		`histogram_quantile(0.9, sum by (le) (rate(gen_latency_seconds_bucket[$__rate_interval])))`,
		`avg_over_time(gen_temperature_celsius{room=~"kitchen|hall"}[$__rate_interval])`,
		`increase(gen_resets_total[$__rate_interval])`,
	} {
		q := strings.ReplaceAll(expr, "$__rate_interval", (rate + 10*time.Second).String())
		p := url.Values{"query": {q}, "start": {align(fromMs + 999)}, "end": {align(toMs)},
			"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}, "timeout": {"30s"}}
		if len(normalize(t, query(t, prom, "/api/v1/query_range", p))) == 0 {
			t.Errorf("Prometheus answers %s with no series: nothing to compare", q)
		}
		compare(t, prom, silt, "/api/v1/query_range", p, &failures)
	}
	if failures > 0 {
		t.Errorf("%d of Grafana's queries differ", failures)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v: %s", u, err, body)
	}
}
