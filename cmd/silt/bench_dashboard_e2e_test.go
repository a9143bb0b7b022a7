package main

import (
	"encoding/json"
	"math"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// silt bench dashboard against a real Silt whose head is small enough that
// writes meet 429 backpressure: every panel answers with data, every row
// the loaders count as acknowledged is on the server (no more: no series
// point was written twice at one time), and the newest rows carry the wall
// clock.
func TestBenchDashboardAgainstSilt(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	p := h.start(filepath.Join(h.dir, "data"), "--max-head-bytes", "4MiB", "--flush-bytes", "2MiB")
	bin := siltBinary(t)
	out := filepath.Join(t.TempDir(), "dash.json")
	args := []string{"bench", "dashboard", "--url", p.base, "--db", "d", "--scale", "8", "--loaders", "4",
		"--batch-size", "1000", "--duration", "2s", "--warmup", "1s", "--backfill", "10m", "--recheck", "--json", out}
	started := time.Now()
	stdout, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("silt %s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
	t.Logf("%s", stdout)
	var f dashboardFile
	if err := readJSON(out, &f); err != nil {
		t.Fatal(err)
	}
	r := f.Result

	// The backfill: one row per host every 10s over the last 10 minutes
	// (60 or 61 rounds, as the start falls on the 10s grid).
	if r.BackfillRows != 8*60 && r.BackfillRows != 8*61 {
		t.Errorf("backfill wrote %d rows, want 480 or 488", r.BackfillRows)
	}
	for name, ph := range map[string]struct {
		rows, reqs int64
		rate       float64
	}{"alone": {r.Alone.Rows, r.Alone.Requests, r.Alone.RowsPerSec()}, "with panels": {r.WithPanels.Rows, r.WithPanels.Requests, f.RowsPerS[1]},
		"alone again": {r.AloneAfter.Rows, r.AloneAfter.Requests, r.AloneAfter.RowsPerSec()}} {
		if ph.rows <= 0 || ph.reqs <= 0 || ph.rate <= 0 {
			t.Errorf("ingest %s: %d rows in %d requests, %.0f rows/s", name, ph.rows, ph.reqs, ph.rate)
		}
	}
	t.Logf("429 answers: %d alone, %d with panels", r.Alone.Backpressure, r.WithPanels.Backpressure)

	// Every panel refreshed and answered with data from the live rows.
	if len(r.Panels) != 10 {
		t.Fatalf("%d panels, want 10", len(r.Panels))
	}
	for i, pr := range r.Panels {
		if pr.Errors > 0 || len(pr.Latencies) == 0 || pr.Series == 0 || pr.Values == 0 || pr.Empty > 0 {
			t.Errorf("panel %d (%s): %d errors %v, %d refreshes, %d series, %d values, %d empty answers",
				i+1, pr.Panel.Title, pr.Errors, pr.ErrorText, len(pr.Latencies), pr.Series, pr.Values, pr.Empty)
		}
		switch pr.Panel.Kind {
		case "table": // last user, system, idle of every host
			if pr.Series != 8 || pr.Values != 24 {
				t.Errorf("table panel: %d series, %d values; want 8, 24", pr.Series, pr.Values)
			}
		case "stat":
			if pr.Series != 1 || pr.Values != 1 {
				t.Errorf("stat panel: %d series, %d values; want 1, 1", pr.Series, pr.Values)
			}
		}
		// Each refresh's send time is recorded, in order, within the run
		// (ticks 1 s apart: a later refresh is never sent first).
		if len(pr.Starts) != len(pr.Latencies) {
			t.Errorf("panel %d: %d send times for %d refreshes", i+1, len(pr.Starts), len(pr.Latencies))
		}
		for k, ms := range pr.Starts {
			if at := time.UnixMilli(ms); at.Before(started.Truncate(time.Millisecond)) || at.After(time.Now()) || (k > 0 && ms <= pr.Starts[k-1]) {
				t.Errorf("panel %d: refresh %d sent at %s (previous %v); the run went from %s", i+1, k, at, pr.Starts[max(k-1, 0)], started)
				break
			}
		}
		if strings.Contains(pr.Panel.Summary, "by host") && !strings.Contains(pr.Panel.Summary, "hosts by host") && pr.Series != 8 {
			t.Errorf("panel %d (%s): %d series, want one per host (8)", i+1, pr.Panel.Summary, pr.Series)
		}
	}

	// What the loaders counted is what the server holds.
	q := func(text string) [][]any {
		t.Helper()
		code, body, err := p.get("/query?db=d&epoch=ms&q=" + url.QueryEscape(text))
		if err != nil || code != 200 {
			t.Fatalf("%s: %d %s %v", text, code, body, err)
		}
		var a struct {
			Results []struct {
				Series []struct {
					Values [][]any `json:"values"`
				} `json:"series"`
			} `json:"results"`
		}
		if err := json.Unmarshal(body, &a); err != nil || len(a.Results) != 1 || len(a.Results[0].Series) != 1 {
			t.Fatalf("%s: %s %v", text, body, err)
		}
		return a.Results[0].Series[0].Values
	}
	if n := q(`SELECT count("usage_user") FROM "cpu"`)[0][1].(float64); int64(n) != f.TotalRows || f.TotalRows != r.BackfillRows+r.WarmupRows+r.Alone.Rows+r.WithPanels.Rows+r.AloneAfter.Rows || r.WarmupRows == 0 {
		t.Errorf("server holds %v rows; the loaders acknowledged %d (%d + %d + %d + %d + %d)",
			n, f.TotalRows, r.BackfillRows, r.WarmupRows, r.Alone.Rows, r.WithPanels.Rows, r.AloneAfter.Rows)
	}
	// The newest row is from this run's live phases, stamped with the wall clock.
	last := time.UnixMilli(int64(q(`SELECT last("usage_user") FROM "cpu"`)[0][0].(float64)))
	if last.Before(started) || last.After(time.Now()) {
		t.Errorf("newest row at %s; the run went from %s to %s", last, started, time.Now())
	}
	// With --recheck the rate alone is both alone phases' rows over their time.
	both := float64(r.Alone.Rows+r.AloneAfter.Rows) / (r.Alone.Elapsed + r.AloneAfter.Elapsed).Seconds()
	if math.Abs(f.RowsPerS[0]-both) > 1e-6*both || math.Abs(f.Ratio-f.RowsPerS[1]/both) > 1e-9 {
		t.Errorf("rate alone %g, ratio %g; both alone phases give %g", f.RowsPerS[0], f.Ratio, both)
	}
	if f.ServerPID != p.cmd.Process.Pid || r.Alone.ServerPeakRSS <= 0 || r.WithPanels.ServerPeakRSS <= 0 {
		t.Errorf("server pid %d (want %d), peak RSS %d and %d bytes", f.ServerPID, p.cmd.Process.Pid,
			r.Alone.ServerPeakRSS, r.WithPanels.ServerPeakRSS)
	}
	p.checkLogClean()
}

// --rounds alternates the phases against a real Silt: three alone phases
// around two panel phases, each panel phase with its refreshes counted,
// the server's CPU measured per phase, and every acknowledged row of all
// of them on the server.
func TestBenchDashboardRoundsAgainstSilt(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	p := h.start(filepath.Join(h.dir, "data"))
	bin := siltBinary(t)
	out := filepath.Join(t.TempDir(), "dash.json")
	args := []string{"bench", "dashboard", "--url", p.base, "--db", "d", "--scale", "8", "--loaders", "2",
		"--batch-size", "1000", "--duration", "1500ms", "--warmup", "0", "--backfill", "5m", "--rounds", "2", "--json", out}
	stdout, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("silt %s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
	t.Logf("%s", stdout)
	if !strings.Contains(string(stdout), "median of 2 rounds") {
		t.Errorf("the output names no median of the rounds")
	}
	var f dashboardFile
	if err := readJSON(out, &f); err != nil {
		t.Fatal(err)
	}
	r := f.Result
	if len(r.AloneRuns) != 3 || len(r.PanelRuns) != 2 || r.AloneAfter != nil || f.Rounds != 2 {
		t.Fatalf("%d alone and %d panel phases (after: %v), rounds %d; want 3, 2, none, 2", len(r.AloneRuns), len(r.PanelRuns), r.AloneAfter != nil, f.Rounds)
	}
	sum := r.BackfillRows
	for i, a := range r.AloneRuns {
		if a.Rows <= 0 || a.ServerCPU <= 0 || a.Refreshes != 0 {
			t.Errorf("alone phase %d: %d rows, %s server CPU, %d refreshes", i+1, a.Rows, a.ServerCPU, a.Refreshes)
		}
		sum += a.Rows
	}
	refreshes := 0
	for _, pr := range r.Panels {
		refreshes += len(pr.Latencies)
	}
	got := 0
	for i, ph := range r.PanelRuns {
		if ph.Rows <= 0 || ph.ServerCPU <= 0 || ph.Refreshes <= 0 {
			t.Errorf("panel phase %d: %d rows, %s server CPU, %d refreshes", i+1, ph.Rows, ph.ServerCPU, ph.Refreshes)
		}
		sum += ph.Rows
		got += ph.Refreshes
	}
	if got != refreshes {
		t.Errorf("the panel phases count %d refreshes, the panels %d", got, refreshes)
	}
	if rs := r.Rounds(); len(rs) != 2 || math.Abs(f.Ratio-r.Ratio()) > 1e-12 {
		t.Errorf("%d rounds, ratio %g (the result's %g)", len(rs), f.Ratio, r.Ratio())
	}
	code, body, err := p.get("/query?db=d&q=" + url.QueryEscape(`SELECT count("usage_user") FROM "cpu"`))
	if err != nil || code != 200 {
		t.Fatalf("count: %d %s %v", code, body, err)
	}
	var a struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &a); err != nil || len(a.Results) == 0 || len(a.Results[0].Series) == 0 {
		t.Fatalf("count: %s %v", body, err)
	}
	if n := int64(a.Results[0].Series[0].Values[0][1].(float64)); n != sum || f.TotalRows != sum {
		t.Errorf("server holds %d rows; the phases acknowledged %d, the result says %d", n, sum, f.TotalRows)
	}
	p.checkLogClean()
}
