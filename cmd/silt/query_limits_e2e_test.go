package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
)

// writeRows posts n rows of a wide cpu-like table (two tags, three float
// fields, an integer and a string) to db, bodies of 10k lines, retrying
// 429s while the heads flush.
func writeRows(t *testing.T, p *siltProc, db string, n int) {
	t.Helper()
	const per = 10_000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var b strings.Builder
	for lo := 0; lo < n; lo += per {
		b.Reset()
		for i := lo; i < min(lo+per, n); i++ {
			fmt.Fprintf(&b, "cpu,host=h%d,region=r%d usage_user=%d.5,usage_system=%d.25,usage_idle=%d.125,usage_nice=%di,note=\"n%d\" %d\n",
				i%100, i%7, i, i*3, i*7, i, i%13, base+int64(i)*int64(time.Second))
		}
		for try := 0; ; try++ {
			code, body, _, err := p.write(db, []byte(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			if code == 204 {
				break
			}
			if code != 429 || try > 600 {
				t.Fatalf("write: %d %s", code, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// queryRSS starts a fresh server on dir, runs one query and returns its
// status, body and how far the server's peak RSS (VmHWM) rose above its
// RSS once idle: a server that answered earlier queries would keep their
// freed heap and hide the next one's.
func queryRSS(t *testing.T, h *harness, dir string, flags []string, path string) (int, []byte, int64) {
	t.Helper()
	p := h.start(dir, flags...)
	defer p.term()
	time.Sleep(500 * time.Millisecond) // let startup's garbage go
	pid := p.cmd.Process.Pid
	bench.ResetPeakRSSOf(pid)
	before, err := rssBytes(pid)
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := p.get(path)
	if err != nil {
		t.Fatal(err)
	}
	return code, body, bench.PeakRSSOf(pid) - before
}

// TestSelectStarOverQueryMemory: SELECT * over a table whose answer is
// larger than --query-max-memory, through /api/v1/sql and /query, against
// a real server. The answer that does not fit fails with the documented
// error (422 query-memory-limit; in /query a statement error naming the
// flag) and one that fits is sent whole; either way the server's peak RSS
// rises by no more than docs/memory.md's bound for one query:
// 3.5 × --query-max-memory + 80 MiB.
func TestSelectStarOverQueryMemory(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	const limit = 16 << 20
	dir := filepath.Join(h.dir, "data")
	// The query cache is a bound of its own (--query-cache-bytes), not
	// a query's: off here, so that the rise measured is the query's.
	flags := []string{"--query-max-memory", "16MiB", "--max-head-bytes", "32MiB", "--compaction.disabled", "--query-cache-bytes", "0"}
	p := h.start(dir, flags...)
	const rows = 200_000 // about 70 bytes a row as columns and 260 as values: 65 MB for SELECT *
	t0 := time.Now()
	writeRows(t, p, "db", rows)
	t.Logf("wrote %d rows in %s", rows, time.Since(t0))
	t0 = time.Now()
	if code := p.term(); code != 0 { // flushes the heads: the queries read segments
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	t.Logf("stopped in %s", time.Since(t0))
	const bound = limit*7/2 + 80<<20
	cutoff := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(20_000 * time.Second).Format(time.RFC3339)

	sqlPath := func(q string) string { return "/api/v1/sql?db=db&q=" + url.QueryEscape(q) }
	influxPath := func(q string) string { return "/query?db=db&q=" + url.QueryEscape(q) }

	t.Run("sql too large", func(t *testing.T) {
		code, body, rise := queryRSS(t, h, dir, flags, sqlPath("SELECT * FROM cpu"))
		var e struct{ Error, Code string }
		_ = json.Unmarshal(body, &e)
		if code != 422 || e.Code != "query-memory-limit" || !strings.Contains(e.Error, "--query-max-memory") {
			t.Fatalf("got %d %.300s, want 422 query-memory-limit naming the flag", code, body)
		}
		t.Logf("peak RSS rose %d MiB (bound %d MiB)", rise>>20, bound>>20)
		if rise > bound {
			t.Errorf("peak RSS rose %d MiB, more than %d MiB", rise>>20, bound>>20)
		}
	})
	t.Run("influxql too large", func(t *testing.T) {
		code, body, rise := queryRSS(t, h, dir, flags, influxPath("SELECT * FROM cpu"))
		var r struct {
			Results []struct {
				Error  string
				Series []json.RawMessage
			}
		}
		if err := json.Unmarshal(body, &r); err != nil || code != 200 || len(r.Results) != 1 {
			t.Fatalf("got %d %.300s", code, body)
		}
		if e := r.Results[0].Error; !strings.Contains(e, "--query-max-memory") || len(r.Results[0].Series) > 0 {
			t.Fatalf("statement error %q, want one naming --query-max-memory and no series", e)
		}
		t.Logf("peak RSS rose %d MiB (bound %d MiB)", rise>>20, bound>>20)
		if rise > bound {
			t.Errorf("peak RSS rose %d MiB, more than %d MiB", rise>>20, bound>>20)
		}
	})
	t.Run("sql fits", func(t *testing.T) {
		code, body, rise := queryRSS(t, h, dir, flags, sqlPath("SELECT * FROM cpu WHERE time < '"+cutoff+"'"))
		var res struct{ Rows [][]any }
		if err := json.Unmarshal(body, &res); err != nil || code != 200 {
			t.Fatalf("got %d %.300s (%v)", code, body, err)
		}
		if len(res.Rows) != 20_000 {
			t.Fatalf("%d rows, want 20000", len(res.Rows))
		}
		t.Logf("%d bytes answered; peak RSS rose %d MiB (bound %d MiB)", len(body), rise>>20, bound>>20)
		if rise > bound {
			t.Errorf("peak RSS rose %d MiB, more than %d MiB", rise>>20, bound>>20)
		}
	})
	t.Run("influxql fits", func(t *testing.T) {
		code, body, rise := queryRSS(t, h, dir, flags, influxPath("SELECT * FROM cpu WHERE time < '"+cutoff+"'"))
		var r struct {
			Results []struct {
				Error  string
				Series []struct{ Values [][]any }
			}
		}
		if err := json.Unmarshal(body, &r); err != nil || code != 200 || len(r.Results) != 1 || r.Results[0].Error != "" {
			t.Fatalf("got %d %.300s (%v)", code, body, err)
		}
		n := 0
		for _, s := range r.Results[0].Series {
			n += len(s.Values)
		}
		if n != 20_000 {
			t.Fatalf("%d values, want 20000", n)
		}
		t.Logf("%d bytes answered; peak RSS rose %d MiB (bound %d MiB)", len(body), rise>>20, bound>>20)
		if rise > bound {
			t.Errorf("peak RSS rose %d MiB, more than %d MiB", rise>>20, bound>>20)
		}
	})
}

// TestSortStopsAtQueryTimeout: an ORDER BY over a million rows (a long tag
// as first key) stops at --query-timeout with 503 query-timeout. The full
// query is run first on the same segments and the timeout set to a quarter
// of its time, so the deadline falls inside the query, in its scan or its
// sort. "Stops" is counted in the server process's CPU time, not in wall
// time, so a loaded machine cannot fail it: from the deadline to the
// answer the server must spend less than half of what the full query
// still had to do at the deadline. Load only slows what is done before
// the deadline; the work after it is what the cancellation checks bound.
// (TestSortRowsStopsAtDeadline in query/exec counts the sort's checks.)
func TestSortStopsAtQueryTimeout(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	dir := filepath.Join(h.dir, "data")
	p := h.start(dir, "--max-head-bytes", "512MiB")
	const rows, per = 1_000_000, 20_000
	prefix := strings.Repeat("x", 200)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var b strings.Builder
	for lo := 0; lo < rows; lo += per {
		b.Reset()
		for i := lo; i < lo+per; i++ {
			fmt.Fprintf(&b, "s,k=%s%d v=%di %d\n", prefix, i%1000, i, base+int64(i)*int64(time.Millisecond))
		}
		if code, body, _, err := p.write("db", []byte(b.String())); err != nil || code != 204 {
			t.Fatalf("write: %d %s %v", code, body, err)
		}
	}
	p.term() // flushes: both servers below read the same segments
	q := "/api/v1/sql?db=db&q=" + url.QueryEscape("SELECT time FROM s ORDER BY k DESC, v DESC, time LIMIT 3")
	p = h.start(dir)
	full, fullCPU := time.Duration(1<<63-1), time.Duration(1<<63-1)
	for range 3 {
		start, cpu0 := time.Now(), procCPU(t, p.cmd.Process.Pid)
		code, body, err := p.get(q)
		if err != nil || code != 200 {
			t.Fatalf("full query: %d %.300s %v", code, body, err)
		}
		full, fullCPU = min(full, time.Since(start)), min(fullCPU, procCPU(t, p.cmd.Process.Pid)-cpu0)
	}
	p.term()
	if full < 200*time.Millisecond {
		t.Skipf("the full query took only %s: too fast to show an early stop", full)
	}
	// A quarter: a machine less loaded than during the full runs must
	// still not finish the query before its deadline.
	timeout := full / 4
	p = h.start(dir, "--query-timeout", timeout.String())
	p.get(q) // warms the page cache and opens the segments, answered or not
	// The server's CPU clock read once the deadline has passed: the timer
	// starts before the request is sent, so it fires at or before the
	// server's deadline, and a late firing only leaves less CPU after it.
	pid := p.cmd.Process.Pid
	atDeadline := make(chan time.Duration, 1)
	cpu0 := procCPU(t, pid)
	timer := time.AfterFunc(timeout, func() { atDeadline <- procCPU(t, pid) })
	code, body, err := p.get(q)
	end := procCPU(t, pid)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	if code != 503 || e.Code != "query-timeout" {
		timer.Stop()
		t.Fatalf("got %d %.300s, want 503 query-timeout", code, body)
	}
	at := <-atDeadline
	before, after := at-cpu0, end-at
	left := fullCPU - before
	t.Logf("full query %s, %s CPU; with --query-timeout %s: %s CPU before the deadline, %s after", full, fullCPU, timeout, before, after)
	switch {
	case left < 100*time.Millisecond: // /proc counts in 10 ms ticks
		t.Logf("the full query takes only %s CPU more than this one did by its deadline: too little to show an early stop", left)
	case after > left/2:
		t.Errorf("the server spent %s CPU after the deadline, of the %s the full query still had to do: it went on after --query-timeout %s", after, left, timeout)
	}
}
