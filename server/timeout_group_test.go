package server

import (
	"bytes"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
)

// TestQueryTimeoutHolds with the deadline after the scan: grouping two
// million rows of a head into as many groups (GROUP BY time(1ms), host,
// the shape of TSBS double-groupby-all at a fine width), where the group
// ids' map ran for 0.5 s without a context check and such queries stopped
// up to 0.7 s of CPU past a 300 ms --query-timeout. Measured as
// TestQueryTimeoutHolds measures, in CPU and never in wall time: the CPU
// spent after the deadline must be under a quarter of what the full run
// still had to do then. The deadlines are put at fractions (1/12 to 1/6)
// of the full run's wall time, measured just before under the same load,
// so that some fall in the grouping (the scan is about a tenth of the
// run's CPU, the group ids' map the next quarter or so) on a quiet or a
// busy machine. Mutation-checked: without the checks in denseGroups
// (query/exec/agg.go) it failed every run.
func TestQueryTimeoutHoldsInGrouping(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 2M rows")
	}
	const rows = 2_000_000
	cases := []struct{ name, lang, text, want string }{
		{"influxql group", "influxql", "SELECT mean(v) FROM m WHERE time >= 1700000000000000000 AND time < 1700002000000000000 GROUP BY time(1ms), host fill(none)", "query timeout"},
		{"sql double-groupby-all", "sql", "SELECT date_bin(INTERVAL '1 millisecond', time) AS t, host, avg(v), max(w) FROM m GROUP BY 1, 2 ORDER BY 1, 2", "query-timeout"},
	}
	path := func(lang, text string) string {
		if lang == "sql" {
			return "/api/v1/sql?db=d&q=" + url.QueryEscape(text)
		}
		return "/query?db=d&q=" + url.QueryEscape(text)
	}
	ecfg := engine.Config{DataDir: t.TempDir(), Compaction: engine.CompactionConfig{Disabled: true}}
	s := startServerEngine(t, Config{QueryTimeout: time.Hour, QueryMaxRows: 2 * rows}, ecfg)
	loadRows(t, s, "d", rows) // all in the head

	for _, c := range cases {
		// The run to its end, in process, without its answer: the least
		// CPU of three, each after a collection, and the wall time of the
		// last, just before the timed run.
		s.srv.cfg.QueryTimeout = time.Hour // read per request
		fullCPU := time.Duration(1<<63 - 1)
		var wall time.Duration
		for range 3 {
			runtime.GC()
			cpu0, t0 := processCPU(), time.Now()
			err := runToEnd(s, c.lang, c.text, 2*rows)
			fullCPU, wall = min(fullCPU, processCPU()-cpu0), time.Since(t0)
			if err != nil {
				t.Fatalf("%s without a short timeout: %v", c.name, err)
			}
		}
		// Deadlines at several fractions of the run, so that one or
		// more falls in the grouping whatever the machine's load.
		// Not later: the aggregates over 2M groups (exec.aggregate,
		// checked every block of rows since, see query/exec's
		// TestAggregateDeadlineHoldsInCPU) and the rows' conversion
		// (exec.toRows) have tests of their own; this one is about the
		// grouping.
		for _, frac := range []time.Duration{12, 9, 6} {
			timeout := wall / frac
			s.srv.cfg.QueryTimeout = timeout
			runtime.GC()
			atDeadline := make(chan time.Duration, 1)
			cpu0 := processCPU()
			timer := time.AfterFunc(timeout, func() { atDeadline <- processCPU() })
			code, b := s.get(t, path(c.lang, c.text))
			end := processCPU()
			if !bytes.Contains(b, []byte(c.want)) {
				timer.Stop()
				t.Errorf("%s at a %v timeout: %d %.200s, want %q", c.name, timeout, code, b, c.want)
				continue
			}
			deadline := <-atDeadline
			before, after := deadline-cpu0, end-deadline
			left := fullCPU - before
			t.Logf("%s: %d at a %v timeout (1/%d of the run); CPU before the deadline %v, after it %v (a full run: %v CPU, %v)", c.name, code, timeout, frac, before, after, fullCPU, wall)
			switch {
			case left < 100*time.Millisecond:
				t.Logf("%s: a full run takes only %v CPU more than this one did by its deadline: too little to show an early stop", c.name, left)
			case after > left/4:
				t.Errorf("%s: %v of CPU spent after the deadline, of the %v a full run still had to do: the query went on after its timeout", c.name, after, left)
			}
			if used := s.srv.queryMem.Used(); used != 0 {
				t.Errorf("%s: %d bytes of query memory still reserved after the answer", c.name, used)
			}
		}
		queryGoroutinesEnd(t, c.name)
	}
}
