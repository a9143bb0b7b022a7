package cluster

import (
	"fmt"
	"testing"
	"time"
)

// TestClusterLastWriteWinsLiveE2E: two `silt serve --role writer`
// processes hold one host's points outside the bucket (tomorrow's window:
// nothing tiered; part in local segments, part in heads). w2 wrote them
// first; after a hand-over w1, whose node id sorts first, consumes the
// last poll again and rewrites every third point. The query node must
// answer, for every point, the value of its last write — the model's —
// which needs the writers' write stamps (Silt-Write-Min/Max) to order
// their rows: in node-id order w2's old values would win.
func TestClusterLastWriteWinsLiveE2E(t *testing.T) {
	c := newCluster(t)
	w1 := c.start("w1", "--role", "writer", "--node-id", "w1")
	w2 := c.start("w2", "--role", "writer", "--node-id", "w2")
	q := c.start("q", "--role", "query", "--node-id", "q")
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour).UnixNano()
	const n = 30
	model := map[int64]float64{}
	write := func(w *proc, keep func(k int) bool, value func(k int) float64) {
		t.Helper()
		var lines []string
		for k := range n {
			if !keep(k) {
				continue
			}
			ts := tomorrow + int64(k)*int64(time.Minute)
			lines = append(lines, fmt.Sprintf("cpu,host=hx usage=%v %d", value(k), ts))
			model[ts] = value(k)
		}
		w.write(lines)
	}
	check := func(what string) {
		t.Helper()
		rows := q.sql("SELECT time, usage FROM cpu WHERE host = 'hx' ORDER BY time")
		if len(rows) != len(model) {
			t.Fatalf("%s: query node has %d points, model %d", what, len(rows), len(model))
		}
		for k, r := range rows {
			ts := tomorrow + int64(k)*int64(time.Minute)
			got, _ := r[1].(float64)
			if got != model[ts] {
				t.Fatalf("%s: point %d: query node %v, model %v (rows %v)", what, k, r[1], model[ts], rows)
			}
		}
	}
	old := func(k int) float64 { return float64(100 + k) }
	write(w2, func(k int) bool { return k < n/2 }, old)
	time.Sleep(1500 * time.Millisecond) // past --flush-interval 1s: in a local segment
	write(w2, func(k int) bool { return k >= n/2 }, old)
	check("w2 alone")
	// The hand-over: the last poll again (same values), then rewrites.
	write(w1, func(k int) bool { return k >= n-5 }, old)
	write(w1, func(k int) bool { return k%3 == 0 }, func(k int) float64 { return float64(200 + k) })
	check("after w1 rewrote w2's points")
}

// TestClusterInterleavedStampsLiveE2E: two writers rewrite one host's
// points in turns (w2, w1, w2, w1), part in local segments, part in
// heads, nothing tiered: each writer's rows outside the bucket span
// writes from before and after the other's, so no order of the two
// writers is right for every point. The query node must answer each
// point's last write (the model's) from the per-point stamps the writers
// send with their rows, through SQL and InfluxQL. With the writers'
// ranges alone w1 (the newest write) would win everywhere: the points
// w2 wrote last in its second turn would read w1's older values.
func TestClusterInterleavedStampsLiveE2E(t *testing.T) {
	c := newCluster(t)
	w1 := c.start("w1", "--role", "writer", "--node-id", "w1")
	w2 := c.start("w2", "--role", "writer", "--node-id", "w2")
	q := c.start("q", "--role", "query", "--node-id", "q")
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour).UnixNano()
	const n = 40
	model := map[int64]float64{}
	write := func(w *proc, keep func(k int) bool, value func(k int) float64) {
		t.Helper()
		var lines []string
		for k := range n {
			if !keep(k) {
				continue
			}
			ts := tomorrow + int64(k)*int64(time.Minute)
			lines = append(lines, fmt.Sprintf("cpu,host=hx usage=%v %d", value(k), ts))
			model[ts] = value(k)
		}
		w.write(lines)
	}
	check := func(what string) {
		t.Helper()
		rows := q.sql("SELECT time, usage FROM cpu WHERE host = 'hx' ORDER BY time")
		if len(rows) != len(model) {
			t.Fatalf("%s: query node has %d points, model %d", what, len(rows), len(model))
		}
		for k, r := range rows {
			ts := tomorrow + int64(k)*int64(time.Minute)
			if got, _ := r[1].(float64); got != model[ts] {
				t.Fatalf("%s: SQL point %d: query node %v, model %v (rows %v)", what, k, r[1], model[ts], rows)
			}
		}
		res := q.influxql("SELECT usage FROM cpu WHERE host = 'hx'")
		var vals [][]any
		for _, s := range res {
			vals = append(vals, s...)
		}
		if len(vals) != len(model) {
			t.Fatalf("%s: InfluxQL gives %d points, model %d", what, len(vals), len(model))
		}
		for k, r := range vals {
			ts := tomorrow + int64(k)*int64(time.Minute)
			if got, _ := r[1].(float64); got != model[ts] {
				t.Fatalf("%s: InfluxQL point %d: query node %v, model %v", what, k, r[1], model[ts])
			}
		}
	}
	turn := func(r int) func(k int) float64 { return func(k int) float64 { return float64(r*1000 + k) } }
	write(w2, func(k int) bool { return true }, turn(1))
	time.Sleep(1500 * time.Millisecond) // past --flush-interval 1s: in a local segment
	write(w1, func(k int) bool { return k%2 == 0 }, turn(2))
	time.Sleep(1500 * time.Millisecond)
	write(w2, func(k int) bool { return k%4 == 0 || k%4 == 1 }, turn(3)) // half of them also w1's
	write(w1, func(k int) bool { return k%8 == 0 }, turn(4))
	check("after four turns")
	stale := 0
	for k := range n {
		if k%4 == 0 && k%8 != 0 {
			stale++ // w2's third turn over w1's second: w2's older range loses them
		}
	}
	t.Logf("%d points whose last write is w2's inside w1's range", stale)
}
