package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tsbsLines is TSBS-like cpu rows: hosts every 10s over [start, end),
// with float fields that move from row to row.
func tsbsLines(hosts int, start, end time.Time, seed int) []string {
	var out []string
	k := seed
	for ts := start; ts.Before(end); ts = ts.Add(10 * time.Second) {
		for h := range hosts {
			k++
			out = append(out, fmt.Sprintf("cpu,host=host_%d,region=r%d usage_user=%g,usage_system=%g,usage_idle=%g,n=%di %d",
				h, h%3, float64((k*37)%1000)/10, float64((k*53)%977)/10, float64((k*71)%991)/10, k, ts.UnixNano()))
		}
	}
	return out
}

// metric reads a counter or gauge of p's /metrics (0 when absent).
func metric(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	code, body := p.get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("%s: /metrics: %d", p.name, code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", p.name, line, err)
			}
			return f
		}
	}
	return 0
}

// influxRows runs an InfluxQL query and returns its series, each as its
// tags then its rows, in the answer's order.
func (p *proc) influxRows(q string) [][]any {
	p.t.Helper()
	code, body := p.get("/query?db=db&q=" + url.QueryEscape(q))
	if code != http.StatusOK {
		p.t.Fatalf("%s: influxql %q: %d %s", p.name, q, code, body)
	}
	var res struct {
		Results []struct {
			Error  string
			Series []struct {
				Tags   map[string]string
				Values [][]any
			}
		}
	}
	if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != 1 || res.Results[0].Error != "" {
		p.t.Fatalf("%s: influxql %q: %v in %s", p.name, q, err, body)
	}
	var out [][]any
	for _, s := range res.Results[0].Series {
		for _, v := range s.Values {
			out = append(out, append([]any{fmt.Sprint(s.Tags)}, v...))
		}
	}
	return out
}

// TestClusterPushdownE2E: a query node answers aggregates over a writer's
// tiered rows (in the bucket) and its live rows (heads and local
// segments) by taking the live rows as the writer's own partials — equal
// to a standalone node holding everything, with the pushdown counted in
// the query node's metrics; with a second writer holding other hosts in
// the same time range, by taking both writers' partials; once the second
// writer also holds some of the first one's points, by fetching both
// writers' raw rows; and, the second writer killed, under the
// writer-down policy as the raw path does. The bytes and server CPU per query of the
// pushed-down and raw reads of the same data are logged.
func TestClusterPushdownE2E(t *testing.T) {
	c := newCluster(t)
	const hosts = 10
	day := 24 * time.Hour
	today := time.Now().UTC().Truncate(day)
	// Tiered: a day window that ended long ago. Live: tomorrow's window,
	// which has not ended, so it stays with the writer.
	old := tsbsLines(hosts, today.Add(-3*day), today.Add(-3*day+6*time.Hour), 0)
	live := tsbsLines(hosts, today.Add(day), today.Add(day+6*time.Hour), 1_000_000)

	w1 := c.start("w1", "--role", "writer", "--node-id", "w1")
	single := c.start("single", "--s3.prefix", "standalone")
	w1.write(old)
	single.write(old)
	waitTiered(t, w1)
	half := len(live) / 2
	for _, part := range [][]string{live[:half], live[half:]} {
		for lo := 0; lo < len(part); lo += 5000 {
			w1.write(part[lo:min(lo+5000, len(part))])
			single.write(part[lo:min(lo+5000, len(part))])
		}
		time.Sleep(1500 * time.Millisecond) // past --flush-interval 1s: the first half is in local segments
	}
	q := c.start("q", "--role", "query", "--node-id", "q")
	qraw := c.start("q-raw", "--role", "query", "--node-id", "q-raw", "--cluster.pushdown=false")
	total := len(old) + len(live)
	waitCount(t, q, total)
	waitCount(t, qraw, total)

	lo, hi := today.Add(-4*day).Format(time.RFC3339), today.Add(2*day).Format(time.RFC3339)
	liveLo, liveHi := today.Add(day).Format(time.RFC3339), today.Add(day+6*time.Hour).Format(time.RFC3339)
	where := fmt.Sprintf("time >= '%s' AND time < '%s'", lo, hi)
	liveWhere := fmt.Sprintf("time >= '%s' AND time < '%s'", liveLo, liveHi)
	sqlQueries := []string{
		"SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS t, host, max(usage_user), avg(usage_system), count(*) FROM cpu WHERE " + where + " GROUP BY 1, 2 ORDER BY 1, 2",
		"SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS t, host, max(usage_user), avg(usage_system), min(usage_idle), sum(n), count(usage_idle) FROM cpu WHERE " + where + " GROUP BY 1, 2 ORDER BY 1, 2",
		"SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS t, max(usage_user), avg(usage_idle) FROM cpu WHERE " + liveWhere + " AND region = 'r1' GROUP BY 1 ORDER BY 1",
		"SELECT host, max(usage_user), avg(usage_system), count(*) FROM cpu WHERE " + liveWhere + " GROUP BY host ORDER BY host",
	}
	influxQueries := []string{
		"SELECT max(usage_user), mean(usage_system), count(usage_idle) FROM cpu WHERE " + where + " GROUP BY time(1h), host",
		"SELECT max(usage_user), mean(usage_system), count(usage_idle) FROM cpu WHERE " + liveWhere + " GROUP BY time(1m), host",
		"SELECT mean(usage_idle), max(n) FROM cpu WHERE " + liveWhere + " AND host = 'host_3' GROUP BY time(10m)",
	}
	type run struct {
		name string
		do   func(*proc) [][]any
	}
	var runs []run
	for _, text := range sqlQueries {
		runs = append(runs, run{"sql: " + text, func(p *proc) [][]any { return p.sql(text) }})
	}
	for _, text := range influxQueries {
		runs = append(runs, run{"influxql: " + text, func(p *proc) [][]any { return p.influxRows(text) }})
	}
	// check runs every query on q and the standalone node; byPath says
	// which fetch counter of q must grow (and which must not).
	check := func(grows, stays string) {
		t.Helper()
		for _, r := range runs {
			before, beforeOther := metric(t, q, grows), metric(t, q, stays)
			got := r.do(q)
			after, afterOther := metric(t, q, grows), metric(t, q, stays)
			want := r.do(single)
			if len(want) == 0 {
				t.Fatalf("%s: no rows from the standalone node", r.name)
			}
			if !sameRows(got, want) {
				t.Errorf("%s: query node and standalone node differ:\n%v\n%v", r.name, head(got), head(want))
			}
			if after <= before || afterOther != beforeOther {
				t.Errorf("%s: %s %v -> %v (want it to grow), %s %v -> %v (want it unchanged)", r.name, grows, before, after, stays, beforeOther, afterOther)
			}
		}
	}
	check("silt_cluster_overlay_pushed_fetches_total", "silt_cluster_overlay_raw_fetches_total")
	if metric(t, q, "silt_cluster_overlay_pushed_refused_total") != 0 {
		t.Errorf("pushed-down answers refused with a single writer whose live rows overlap nothing in the bucket")
	}

	// The same queries, pushed down (q) and raw (q-raw): bytes from the
	// writer and the query node's CPU per query.
	for _, r := range runs {
		if a, b := r.do(q), r.do(qraw); !sameRows(a, b) {
			t.Errorf("%s: pushed-down and raw answers differ", r.name)
		}
		const reps = 20
		var cpu, wcpu [2]time.Duration
		var bytes [2]float64
		for i, p := range []*proc{q, qraw} {
			m := "silt_cluster_overlay_pushed_bytes_total"
			if p == qraw {
				m = "silt_cluster_overlay_raw_bytes_total"
			}
			b0, c0, w0 := metric(t, p, m), cpuTime(t, p), cpuTime(t, w1)
			for range reps {
				r.do(p)
			}
			cpu[i], wcpu[i] = (cpuTime(t, p)-c0)/reps, (cpuTime(t, w1)-w0)/reps
			bytes[i] = (metric(t, p, m) - b0) / reps
		}
		t.Logf("per query: pushed down %.0f bytes, query node CPU %v, writer CPU %v; raw %.0f bytes, query node CPU %v, writer CPU %v: %s",
			bytes[0], cpu[0], wcpu[0], bytes[1], cpu[1], wcpu[1], r.name)
	}

	// A second writer with rows in the live range, of other hosts (as
	// writers of one Kafka group split partitions by host): its rows and
	// w1's share times but no series, which the writers' host sets
	// prove, so both are pushed down.
	w2 := c.start("w2", "--role", "writer", "--node-id", "w2")
	extra := tsbsLines(hosts+3, today.Add(day+5*time.Hour), today.Add(day+6*time.Hour), 2_000_000)
	var others []string
	for _, l := range extra {
		if h := strings.SplitN(strings.TrimPrefix(l, "cpu,host=host_"), ",", 2)[0]; h >= "10" && len(h) == 2 {
			others = append(others, l)
		}
	}
	w2.write(others)
	single.write(others)
	waitCount(t, q, total+len(others))
	refused := metric(t, q, "silt_cluster_overlay_pushed_refused_total")
	check("silt_cluster_overlay_pushed_fetches_total", "silt_cluster_overlay_raw_fetches_total")
	if metric(t, q, "silt_cluster_overlay_pushed_refused_total") != refused {
		t.Errorf("pushed-down answers refused with two writers of disjoint hosts")
	}

	// Then w2 gets some of w1's rows again (a poll consumed twice): the
	// two could now hold the same points, so neither writer's partials
	// are exact: the query node reads both raw, and still answers what
	// the standalone node (given each point once) does.
	w2.write(live[len(live)-2000:])
	check("silt_cluster_overlay_raw_fetches_total", "silt_cluster_overlay_pushed_fetches_total")
	if metric(t, q, "silt_cluster_overlay_pushed_refused_total") <= refused {
		t.Errorf("no pushed-down answer refused with two writers holding the same hosts in the same range")
	}

	// With w2 down the writer-down policy holds as on the raw path: 503
	// naming it, or (partial=true) the answer without its rows, named in
	// stats — w1's rows then overlap nothing read, and are pushed down.
	_ = w2.cmd.Process.Kill()
	<-w2.done
	text := sqlQueries[3]
	if code, _, _, msg := q.sqlStats(text); code != http.StatusServiceUnavailable || !strings.Contains(msg, "w2") {
		t.Fatalf("w2 down: %d %s, want 503 naming w2", code, msg)
	}
	before := metric(t, q, "silt_cluster_overlay_pushed_fetches_total")
	code, rows, stats, msg := q.sqlStats(text, "&partial=true")
	if code != http.StatusOK || fmt.Sprint(stats["missing_nodes"]) != "[w2]" {
		t.Fatalf("w2 down, partial=true: %d %s, stats %v", code, msg, stats)
	}
	var want [][]any
	for _, r := range single.sql(text) {
		if h := r[0].(string); len(h) == len("host_0") { // w1's hosts: host_0 to host_9
			want = append(want, r)
		}
	}
	if !sameRows(rows, want) {
		t.Errorf("w2 down, partial=true: %v, want w1's hosts as the standalone node has them: %v", rows, want)
	}
	if metric(t, q, "silt_cluster_overlay_pushed_fetches_total") <= before {
		t.Errorf("w2 down, partial=true: w1's rows were not pushed down")
	}
}

func head(rows [][]any) [][]any {
	if len(rows) > 5 {
		return rows[:5]
	}
	return rows
}
