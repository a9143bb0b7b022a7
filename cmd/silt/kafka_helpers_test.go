package main

// Helpers of the stream-source end-to-end tests (Kafka and NATS): the
// workload, its expected per-series sums, and reading them back through SQL.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// streamHosts is the number of series of the stream workload.
const streamHosts = 10

// streamBase is the time of record 0; record i is at streamBase + i µs, so
// no two records share a point.
const streamBase = int64(1_763_700_000_000_000_000)

// streamLine is record i of the workload.
func streamLine(i int) string {
	return fmt.Sprintf("cpu,host=h%d v=%di %d", i%streamHosts, i, streamBase+int64(i)*1000)
}

// seriesStats is count and sum of v per host.
type seriesStats map[string][2]int64

// expectedStats is what records [0, n) add up to.
func expectedStats(n int) seriesStats {
	out := seriesStats{}
	for i := range n {
		h := fmt.Sprintf("h%d", i%streamHosts)
		s := out[h]
		out[h] = [2]int64{s[0] + 1, s[1] + int64(i)}
	}
	return out
}

func (s seriesStats) rows() int64 {
	var n int64
	for _, v := range s {
		n += v[0]
	}
	return n
}

func (s seriesStats) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:%d/%d ", k, s[k][0], s[k][1])
	}
	return b.String()
}

// sqlStats asks the server for count(*) and sum(v) per host of db.cpu.
func (p *siltProc) sqlStats(db string) (seriesStats, error) {
	q := "SELECT host, count(*), sum(v) FROM cpu GROUP BY host"
	code, body, err := p.get("/api/v1/sql?db=" + db + "&q=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	out := seriesStats{}
	if code == 404 {
		return out, nil // nothing consumed yet
	}
	if code != 200 {
		return nil, fmt.Errorf("sql: status %d: %s", code, body)
	}
	var raw struct {
		Rows [][]any `json:"rows"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("sql: %w: %s", err, body)
	}
	for _, r := range raw.Rows {
		if len(r) != 3 {
			return nil, fmt.Errorf("sql: row %v", r)
		}
		h, _ := r[0].(string)
		n, ok1 := r[1].(float64)
		s, ok2 := r[2].(float64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("sql: row %v", r)
		}
		out[h] = [2]int64{int64(n), int64(s)}
	}
	return out, nil
}

// waitStats polls until the server's stats equal want, or fails after
// timeout (a hang guard: it asserts nothing about speed).
func waitStats(t *testing.T, procs []*siltProc, db string, want seriesStats, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got seriesStats
	for {
		got = seriesStats{}
		for _, p := range procs {
			s, err := p.sqlStats(db)
			if err != nil {
				t.Fatal(err)
			}
			for h, v := range s {
				g := got[h]
				got[h] = [2]int64{g[0] + v[0], g[1] + v[1]}
			}
		}
		if got.String() == want.String() {
			return
		}
		if got.rows() > want.rows() {
			t.Fatalf("more rows than produced: got %v\nwant %v", got, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: got %v\nwant %v", timeout, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requireTool returns the path of a Debian-packaged tool; the test fails
// without it under CI=true and skips otherwise.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found: CI must install the Debian package %s (.ci/run APT_PACKAGES)", name, pkg)
	}
	t.Skipf("%s not found: apt-get install %s to run this test", name, pkg)
	return ""
}

// metricValue sums the samples of a Prometheus metric in /metrics whose
// label text contains match.
func (p *siltProc) metricValue(name, match string) (float64, error) {
	code, body, err := p.get("/metrics")
	if err != nil || code != 200 {
		return 0, fmt.Errorf("metrics: %d %v", code, err)
	}
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) || !strings.Contains(line, match) {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}
