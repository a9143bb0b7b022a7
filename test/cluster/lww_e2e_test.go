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
	w1, w2, q, tomorrow := twoWritersAndQuery(t)
	const n = 30
	hx := newHostPoints(t, tomorrow, n)
	old := func(k int) float64 { return float64(100 + k) }
	hx.write(w2, func(k int) bool { return k < n/2 }, old)
	time.Sleep(1500 * time.Millisecond) // past --flush-interval 1s: in a local segment
	hx.write(w2, func(k int) bool { return k >= n/2 }, old)
	hx.checkSQL(q, "w2 alone")
	// The hand-over: the last poll again (same values), then rewrites.
	hx.write(w1, func(k int) bool { return k >= n-5 }, old)
	hx.write(w1, func(k int) bool { return k%3 == 0 }, func(k int) float64 { return float64(200 + k) })
	hx.checkSQL(q, "after w1 rewrote w2's points")
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
	w1, w2, q, tomorrow := twoWritersAndQuery(t)
	const n = 40
	hx := newHostPoints(t, tomorrow, n)
	write := hx.write
	check := func(what string) {
		t.Helper()
		hx.checkSQL(q, what)
		res := q.influxql("SELECT usage FROM cpu WHERE host = 'hx'")
		var vals [][]any
		for _, s := range res {
			vals = append(vals, s...)
		}
		if len(vals) != len(hx.model) {
			t.Fatalf("%s: InfluxQL gives %d points, model %d", what, len(vals), len(hx.model))
		}
		for k, r := range vals {
			ts := hx.at(k)
			if got, _ := r[1].(float64); got != hx.model[ts] {
				t.Fatalf("%s: InfluxQL point %d: query node %v, model %v", what, k, r[1], hx.model[ts])
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

// twoWritersAndQuery starts a cluster of two writers (node ids w1 and w2,
// in that order) and a query node, and returns them with the start of
// tomorrow (UTC): points there are outside the bucket, none tiered.
func twoWritersAndQuery(t *testing.T) (w1, w2, q *proc, tomorrow int64) {
	t.Helper()
	c := newCluster(t)
	w1 = c.start("w1", "--role", "writer", "--node-id", "w1")
	w2 = c.start("w2", "--role", "writer", "--node-id", "w2")
	q = c.start("q", "--role", "query", "--node-id", "q")
	return w1, w2, q, time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour).UnixNano()
}

// hostPoints are n points of one host (hx) of cpu, a minute apart from
// start, with the model of what each was last written.
type hostPoints struct {
	t     *testing.T
	start int64
	n     int
	model map[int64]float64 // by time: the last value written
}

func newHostPoints(t *testing.T, start int64, n int) *hostPoints {
	return &hostPoints{t: t, start: start, n: n, model: map[int64]float64{}}
}

// at is the time of point k.
func (h *hostPoints) at(k int) int64 { return h.start + int64(k)*int64(time.Minute) }

// write sends w the points k that keep picks, with values value(k), and
// records them in the model.
func (h *hostPoints) write(w *proc, keep func(k int) bool, value func(k int) float64) {
	h.t.Helper()
	var lines []string
	for k := range h.n {
		if !keep(k) {
			continue
		}
		lines = append(lines, fmt.Sprintf("cpu,host=hx usage=%v %d", value(k), h.at(k)))
		h.model[h.at(k)] = value(k)
	}
	w.write(lines)
}

// checkSQL compares q's SQL answer for the host's points with the model.
func (h *hostPoints) checkSQL(q *proc, what string) {
	h.t.Helper()
	rows := q.sql("SELECT time, usage FROM cpu WHERE host = 'hx' ORDER BY time")
	if len(rows) != len(h.model) {
		h.t.Fatalf("%s: query node has %d points, model %d", what, len(rows), len(h.model))
	}
	for k, r := range rows {
		if got, _ := r[1].(float64); got != h.model[h.at(k)] {
			h.t.Fatalf("%s: SQL point %d: query node %v, model %v (rows %v)", what, k, r[1], h.model[h.at(k)], rows)
		}
	}
}
