package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClusterLastValueInterleavedLiveE2E: two `silt serve --role writer`
// processes rewrite the newest points of the same hosts in turns (w2, w1,
// w2, w1), part in local segments, part in heads, nothing tiered, so
// each writer's rows outside the bucket span writes from before and after
// the other's. The query node's last values — SQL last(usage, time) by
// host, InfluxQL last() by host and the newest point per host (TSBS
// lastpoint), all answered by the last-value scan (SQL's EXPLAIN says
// so) — must equal a model of the writes in write order and the same
// node's raw rows reduced in the test (the full scan's merge by stamps).
// Folding the writers' rows in their order instead of by stamps (the
// engine's runLast without them) answers some hosts' older writes.
func TestClusterLastValueInterleavedLiveE2E(t *testing.T) {
	w1, w2, q, tomorrow := twoWritersAndQuery(t)
	const hosts, points = 48, 4
	at := func(k int) int64 { return tomorrow + int64(k)*int64(time.Minute) }
	type key struct {
		host string
		t    int64
	}
	model := map[key]float64{}
	rng := rand.New(rand.NewPCG(21, 9))
	turn := func(w *proc, r int) {
		t.Helper()
		var lines []string
		for h := range hosts {
			for k := range points {
				if r > 1 && rng.IntN(2) == 0 {
					continue
				}
				v := float64(r*100_000 + h*100 + k)
				kk := key{fmt.Sprintf("h%02d", h), at(k)}
				lines = append(lines, fmt.Sprintf("cpu,host=%s usage=%v %d", kk.host, v, kk.t))
				model[kk] = v
			}
		}
		w.write(lines)
	}
	type cell struct {
		t int64
		v float64
	}
	// want: per host, the point at its largest time, as the writes left it.
	want := func() map[string]cell {
		out := map[string]cell{}
		for k, v := range model {
			if old, ok := out[k.host]; !ok || k.t > old.t {
				out[k.host] = cell{k.t, v}
			}
		}
		return out
	}
	same := func(what string, got, want map[string]cell) {
		t.Helper()
		var bad []string
		for h, w := range want {
			if g, ok := got[h]; !ok || g != w {
				bad = append(bad, fmt.Sprintf("%s: got %v (present %v), want %v", h, g, ok, w))
			}
		}
		if len(bad) > 0 || len(got) != len(want) {
			slices.Sort(bad)
			t.Fatalf("%s: %d of %d hosts differ (%d answered):\n%s", what, len(bad), len(want), len(got), strings.Join(bad[:min(len(bad), 5)], "\n"))
		}
	}
	num := func(v any) float64 { f, _ := v.(float64); return f }
	nanos := func(v any) int64 {
		switch x := v.(type) {
		case string:
			tm, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				t.Fatalf("time %q: %v", x, err)
			}
			return tm.UnixNano()
		case float64:
			return int64(x)
		}
		t.Fatalf("time %v (%T)", v, v)
		return 0
	}
	check := func(stage string) {
		t.Helper()
		w := want()
		// The full scan: every raw row, the newest per host kept here.
		full := map[string]cell{}
		for _, r := range q.sql("SELECT host, time, usage FROM cpu") {
			h, c := r[0].(string), cell{nanos(r[1]), num(r[2])}
			if old, ok := full[h]; !ok || c.t > old.t {
				full[h] = c
			}
		}
		same(stage+": SQL raw rows", full, w)

		// last() and the newest time per host, two last-value scans.
		const lastSQL = "SELECT host, last(usage, time) FROM cpu GROUP BY host"
		const timeSQL = "SELECT host, max(time) FROM cpu WHERE usage IS NOT NULL GROUP BY host"
		for _, text := range []string{lastSQL, timeSQL} {
			if plan := fmt.Sprint(q.sql("EXPLAIN " + text)); !strings.Contains(plan, "Last Values") {
				t.Fatalf("%s does not take the last-value scan: %s", text, plan)
			}
		}
		got := map[string]cell{}
		for _, r := range q.sql(lastSQL) {
			got[r[0].(string)] = cell{v: num(r[1])}
		}
		for _, r := range q.sql(timeSQL) {
			c := got[r[0].(string)]
			c.t = nanos(r[1])
			got[r[0].(string)] = c
		}
		same(stage+": SQL last() and max(time)", got, w)

		got = map[string]cell{}
		for h, rows := range q.influxql("SELECT last(usage) FROM cpu GROUP BY host") {
			if len(rows) != 1 {
				t.Fatalf("InfluxQL last(): host %s has %d rows", h, len(rows))
			}
			got[h] = cell{nanos(rows[0][0]), num(rows[0][1])}
		}
		same(stage+": InfluxQL last()", got, w)

		got = map[string]cell{}
		for h, rows := range q.influxql("SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1") {
			if len(rows) != 1 {
				t.Fatalf("InfluxQL lastpoint: host %s has %d rows", h, len(rows))
			}
			got[h] = cell{nanos(rows[0][0]), num(rows[0][1])}
		}
		same(stage+": InfluxQL lastpoint", got, w)
	}
	turn(w2, 1)
	time.Sleep(1500 * time.Millisecond) // past --flush-interval 1s: in a local segment
	turn(w1, 2)
	time.Sleep(1500 * time.Millisecond)
	check("local segments")
	turn(w2, 3)
	turn(w1, 4)
	check("local segments and heads")
}
