package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
)

// silt bench load against a real Silt that refuses writes for its load:
// 2 MiB heads (429 head-full until a flush) and a body budget of about one
// body (503 server-busy when two arrive together). The load waits them out
// and sends the bodies again: every generated row is stored, and the
// retries it reports are the refusals the server counted. With
// --max-attempts 1 (no retry, as before) the same load stops at the first
// refusal.
func TestBenchLoadRetriesRefusedWrites(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	p := h.start(filepath.Join(h.dir, "data"), "--pg-addr", "", "--flight-addr", "",
		"--max-head-bytes", "2MiB", "--max-inflight-body-bytes", "300KiB")
	bin := siltBinary(t)
	dir := t.TempDir()
	data := []string{"--scale", "8", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z", "--seed", "11"}
	load := func(db string, extra ...string) (string, error) {
		// Expect: 100-continue, so that a 503 server-busy sent before the
		// body is read is seen as the 503, not as a broken pipe.
		args := append([]string{"bench", "load", "--url", p.base, "--db", db, "--workers", "3", "--batch-size", "1000", "--expect-continue"}, data...)
		out, err := exec.Command(bin, append(args, extra...)...).CombinedOutput()
		return string(out), err
	}
	out, err := load("once", "--max-attempts", "1")
	if err == nil || !(strings.Contains(out, "HTTP 429") || strings.Contains(out, "HTTP 503")) {
		t.Fatalf("a load that may not retry finished (err %v); want it stopped by a 429 or 503:\n%s", err, out)
	}
	refusals := func() float64 {
		t.Helper()
		full, err1 := metricSum(p, "silt_http_requests_total", `code="429",path="/write"`)
		busy, err2 := metricSum(p, "silt_http_requests_refused_total", "")
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		return full + busy
	}
	before := refusals()
	if out, err := load("b", "--json", filepath.Join(dir, "load.json")); err != nil {
		t.Fatalf("silt bench load: %v\n%s", err, out)
	}
	var lf loadFile
	if err := readJSON(filepath.Join(dir, "load.json"), &lf); err != nil {
		t.Fatal(err)
	}
	d := bench.Dataset{Hosts: 8, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		End: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Interval: 10 * time.Second}
	if lf.Result.Rows != d.Rows() {
		t.Fatalf("load reports %d rows, the dataset has %d", lf.Result.Rows, d.Rows())
	}
	refused := refusals() - before
	if refused == 0 || float64(lf.Result.Retries) != refused {
		t.Fatalf("load reports %d retries; the server refused %v writes", lf.Result.Retries, refused)
	}
	code, body, err := p.get("/api/v1/sql?db=b&q=" + strings.ReplaceAll("SELECT count(*) FROM cpu", " ", "+"))
	if want := fmt.Sprintf("[[%d]]", d.Rows()); err != nil || code != 200 || !bytes.Contains(body, []byte(want)) {
		t.Fatalf("count after load: %d %s %v; want %s", code, body, err, want)
	}
}

// silt bench load and silt bench query against a real Silt: every row
// arrives, every default query type runs in Silt's SQL, lastpoint
// returns the generator's last values (the oracle is the generator
// itself), and paired runs over SQL and the PostgreSQL listener agree.
func TestBenchLoadAndQueryAgainstSilt(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	pgAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := h.start(filepath.Join(h.dir, "data"), "--pg-addr", pgAddr)
	bin := siltBinary(t)
	dir := t.TempDir()
	data := []string{"--scale", "8", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z", "--seed", "11"}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("silt %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(append([]string{"bench", "load", "--url", p.base, "--db", "b", "--workers", "2", "--batch-size", "1000",
		"--json", filepath.Join(dir, "load.json")}, data...)...)
	var lf loadFile
	if err := readJSON(filepath.Join(dir, "load.json"), &lf); err != nil {
		t.Fatal(err)
	}
	if lf.Result.Rows != 8*8640 || lf.Result.Values != 10*8*8640 {
		t.Fatalf("load reports %d rows, %d values; want %d, %d", lf.Result.Rows, lf.Result.Values, 8*8640, 10*8*8640)
	}
	code, body, err := p.get("/api/v1/sql?db=b&q=" + strings.ReplaceAll("SELECT count(*) FROM cpu", " ", "+"))
	if err != nil || code != 200 || !bytes.Contains(body, []byte("[[69120]]")) {
		t.Fatalf("count after load: %d %s %v", code, body, err)
	}

	run(append([]string{"bench", "query", "--url", p.base, "--db", "b", "--dialect", "sql", "--per-type", "1", "--runs", "1",
		"--json", filepath.Join(dir, "query.json")}, data...)...)
	var qf queryFile
	if err := readJSON(filepath.Join(dir, "query.json"), &qf); err != nil {
		t.Fatal(err)
	}
	if len(qf.Types) != len(bench.DefaultQueryTypes) {
		t.Fatalf("%d query types ran, want %d", len(qf.Types), len(bench.DefaultQueryTypes))
	}
	wantRows := map[string]int{"single-groupby-1-1-1": 60, "single-groupby-5-1-12": 720, "lastpoint": 8, "groupby-orderby-limit": 5}
	for _, tr := range qf.Types {
		if len(tr.Errors) > 0 || len(tr.Runs) != 1 || len(tr.Answers) != 1 {
			t.Fatalf("%s: errors %v, %d runs, %d answers", tr.Type, tr.Errors, len(tr.Runs), len(tr.Answers))
		}
		if w, ok := wantRows[tr.Type]; ok && tr.Answers[0].Rows != w {
			t.Errorf("%s: %d rows, want %d", tr.Type, tr.Answers[0].Rows, w)
		}
	}

	// lastpoint: the last interval's values, from the generator.
	d := bench.Dataset{Hosts: 8, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Interval: 10 * time.Second, Seed: 11,
		Format: bench.TSV}
	d.End = d.Start.Add(24 * time.Hour)
	var all bytes.Buffer
	if _, err := d.WriteTo(&all); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
	var want []float64
	for _, l := range lines[len(lines)-8:] {
		for _, v := range strings.Split(l, "\t")[11:] {
			f, _ := strconv.ParseFloat(v, 64)
			want = append(want, f)
		}
	}
	slices.Sort(want)
	for _, tr := range qf.Types {
		if tr.Type == "lastpoint" && !slices.Equal(tr.Answers[0].Numbers, want) {
			t.Errorf("lastpoint numbers %v, want %v", tr.Answers[0].Numbers, want)
		}
	}
	_ = os.Remove(filepath.Join(dir, "query.json"))

	// Paired: each run goes to both dialects; the answers must agree
	// (the command fails otherwise) and each type gets a ratio.
	out := run(append([]string{"bench", "query", "--url", p.base, "--db", "b", "--dialect", "sql", "--per-type", "2", "--runs", "2",
		"--types", "high-cpu-1,lastpoint", "--pair-dialect", "pgwire", "--pair-url", "postgres://silt@" + pgAddr + "/b?sslmode=disable"}, data...)...)
	for _, want := range []string{"(sql), 2 instances x 2 runs", "(pgwire), 2 instances x 2 runs", "pgwire over sql, median of the paired runs' ratios"} {
		if !strings.Contains(out, want) {
			t.Errorf("paired output lacks %q:\n%s", want, out)
		}
	}
	ratios := out[strings.Index(out, "paired runs' ratios"):]
	for _, typ := range []string{"high-cpu-1", "lastpoint"} {
		i := strings.Index(ratios, typ)
		if i < 0 {
			t.Fatalf("no paired ratio for %s:\n%s", typ, out)
		}
		f := strings.Fields(ratios[i:])
		if r, err := strconv.ParseFloat(f[1], 64); err != nil || !(r > 0) {
			t.Errorf("%s: paired ratio %q", typ, f[1])
		}
	}
}

// silt bench compare against a real Silt through two endpoints (SQL and
// /query), then silt bench report on its directory: every type ran on both,
// interleaved, with the server's CPU per run; the peak RSS of the one
// process was read once per type and written for both endpoints; the
// canary was timed before every step; the page shows the interleaving, the
// canary and the answers agreeing (SQL and InfluxQL are two front ends
// over one store, so they must).
func TestBenchCompareAgainstSilt(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	p := h.start(filepath.Join(h.dir, "data"))
	pid := p.cmd.Process.Pid
	bin := siltBinary(t)
	dir := t.TempDir()
	data := []string{"--scale", "8", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-02T00:00:00Z", "--seed", "11"}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("silt %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(append([]string{"bench", "load", "--url", p.base, "--db", "b", "--workers", "2", "--batch-size", "1000",
		"--name", "Silt test", "--json", filepath.Join(dir, "load-silt-1.json")}, data...)...)
	const perType, runs = 2, 3
	types := []string{"high-cpu-1", "lastpoint"}
	run(append([]string{"bench", "compare", "--db", "b", "--dir", dir, "--types", strings.Join(types, ","),
		"--per-type", strconv.Itoa(perType), "--runs", strconv.Itoa(runs),
		"--system", fmt.Sprintf("silt,sql,%s,%d,Silt test", p.base, pid),
		"--system", fmt.Sprintf("silt-influxql,influxql,%s,%d,Silt test /query", p.base, pid)}, data...)...)

	for _, key := range []string{"silt", "silt-influxql"} {
		var qf queryFile
		if err := readJSON(filepath.Join(dir, "query-"+key+".json"), &qf); err != nil {
			t.Fatal(err)
		}
		if qf.Schedule != scheduleInterleaved || len(qf.Types) != len(types) {
			t.Fatalf("%s: schedule %q, %d types", key, qf.Schedule, len(qf.Types))
		}
		for _, tr := range qf.Types {
			if len(tr.Errors) > 0 || len(tr.Runs) != perType*runs || len(tr.CPU) != perType*runs || len(tr.Answers) != perType {
				t.Fatalf("%s %s: errors %v, %d runs, %d CPU figures, %d answers", key, tr.Type, tr.Errors, len(tr.Runs), len(tr.CPU), len(tr.Answers))
			}
		}
	}
	rss := func(key string) string {
		b, err := os.ReadFile(filepath.Join(dir, "rss-"+key+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lines := strings.Fields(rss("silt"))
	if len(lines) != len(types) || rss("silt-influxql") != rss("silt") {
		t.Fatalf("peak RSS per type: %q and %q, want %d equal lines", rss("silt"), rss("silt-influxql"), len(types))
	}
	for _, l := range lines {
		// A running Silt holds megabytes; a misread field (kB, a page count) would not look like that.
		if n, err := strconv.ParseInt(l, 10, 64); err != nil || n < 1<<20 || n > 1<<36 {
			t.Fatalf("peak RSS %q is not a process's resident bytes", l)
		}
	}
	var cf canaryFile
	if err := readJSON(filepath.Join(dir, "canary.json"), &cf); err != nil {
		t.Fatal(err)
	}
	if len(cf.Types) != len(types) {
		t.Fatalf("canary of %d types, want %d", len(cf.Types), len(types))
	}
	for _, tc := range cf.Types {
		if len(tc.Samples) != perType*runs || tc.Samples[len(tc.Samples)-1].Round != runs-1 {
			t.Fatalf("canary of %s: %+v", tc.Type, tc.Samples)
		}
		for _, s := range tc.Samples {
			if s.CPUNS <= 0 || s.WallNS <= 0 {
				t.Fatalf("canary sample of %s not timed: %+v", tc.Type, s)
			}
		}
	}

	page := run("bench", "report", "--dir", dir)
	for _, want := range []string{
		"interleaved across the systems",
		"## Machine speed during the queries (canary)",
		"| peak RSS during queries, MB |",
		fmt.Sprintf("Every other endpoint returned the same number of result rows as Silt's SQL for all %d query instances", perType*len(types)),
		"| lastpoint, median ms |",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
}

// --system's value: five comma-separated fields, the name last and free to
// hold commas; a bad dialect, a bad PID, a key unfit for a file name or a
// key given twice is refused.
func TestBenchCompareSystemFlag(t *testing.T) {
	var l systemList
	if err := l.Set("silt-head,sql,http://127.0.0.1:1,42,Silt v1, head"); err != nil {
		t.Fatal(err)
	}
	if got := l[0]; got.key != "silt-head" || got.dialect != "sql" || got.url != "http://127.0.0.1:1" || got.pid != 42 || got.name != "Silt v1, head" {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{
		"x,sql,http://a,1",             // no name
		"x,sqlite,http://a,1,X",        // no such dialect
		"x,sql,http://a,-1,X",          // not a pid
		"x.y,sql,http://a,1,X",         // a dot would break query-KEY.TYPE.json
		"silt-head,sql,http://a,0,Dup", // given twice
	} {
		if err := l.Set(bad); err == nil {
			t.Errorf("--system %q accepted", bad)
		}
	}
}
