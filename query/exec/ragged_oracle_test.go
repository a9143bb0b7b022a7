package exec

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// TestAgainstPostgresRaggedEnds runs dashboard-shaped queries — a range
// starting and ending inside a 10 s rollup window, to the millisecond, as
// Grafana's now() - 15m does — over segments whose 10 s, 1 m and 1 h
// rollups answer the whole windows. A ragged end is then answered from the
// window's rollup row for every series whose rows there lie wholly inside
// or outside the range, and from rows for a series that straddles the edge
// (engine/scan_ragged.go). The data makes both happen: most hosts write a
// point every 10 s at their own offset in the window (one row per window:
// the partial places it), a few write every second (their rows straddle any
// edge). Every answer must equal PostgreSQL's over the same points, and the
// engine's counters must show both ways were taken.
func TestAgainstPostgresRaggedEnds(t *testing.T) {
	o := pgoracle.Start(t)
	sparse := pgoracle.CPUDataset(16, cpuStart, 10*time.Second, 360, 61, pgoracle.DatasetOptions{})
	for i := range sparse {
		// host_h writes at h×613 ms into each 10 s window (mod 10 s).
		h, _ := strconv.Atoi(sparse[i].Tags["hostname"][len("host_"):])
		sparse[i].Time += int64(h*613%10000) * int64(time.Millisecond)
	}
	dense := pgoracle.CPUDataset(3, cpuStart, time.Second, 3600, 62, pgoracle.DatasetOptions{})
	for i := range dense {
		tags := make(map[string]string, len(dense[i].Tags))
		for k, v := range dense[i].Tags {
			tags[k] = v
		}
		tags["hostname"] = "dense_" + tags["hostname"][len("host_"):]
		dense[i].Tags = tags
	}
	points := append(append([]pgoracle.Point(nil), sparse...), dense...)

	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Compaction.Disabled = true
	cfg.Rollups.MinRowsPerWindow = 1 // keep the 10 s rollups of one row a window
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	// Two segments split at 31m (a window boundary), so a range can also
	// end in one segment's windows and start in the other's.
	cut := cpuStart.Add(31 * time.Minute).UnixNano()
	var first, second []pgoracle.Point
	for _, p := range points {
		if p.Time < cut {
			first = append(first, p)
		} else {
			second = append(second, p)
		}
	}
	for _, part := range [][]pgoracle.Point{first, second} {
		writeLP(t, eng, pgoracle.CPUTable, part)
		if err := eng.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	loadOracle(t, o, eng, pgoracle.CPUTable, points)

	counter := eng.Metrics().RaggedPieces
	partials0 := testutil.ToFloat64(counter.WithLabelValues("partials"))
	rows0 := testutil.ToFloat64(counter.WithLabelValues("rows"))

	var tl tally
	for _, c := range raggedCases() {
		check(t, o, eng, c, &tl)
	}
	partials := testutil.ToFloat64(counter.WithLabelValues("partials")) - partials0
	rows := testutil.ToFloat64(counter.WithLabelValues("rows")) - rows0
	t.Logf("%d queries run, %d passed, %d errors on both sides, %d answered from rollups; ragged pieces: %.0f from partials, %.0f from rows",
		tl.run, tl.passed, tl.errorsAgreed, tl.fromRollups, partials, rows)
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
	if tl.fromRollups < tl.run/2 {
		t.Errorf("only %d of %d queries were answered from rollups", tl.fromRollups, tl.run)
	}
	if partials == 0 || rows == 0 {
		t.Errorf("ragged pieces: %.0f from partials, %.0f from rows; the suite must take both ways", partials, rows)
	}
}

// tsMilli is a timestamp literal d after cpuStart, to the millisecond.
func tsMilli(d time.Duration) string {
	return "'" + cpuStart.Add(d).Format("2006-01-02T15:04:05.000Z07:00") + "'"
}

// raggedCases are Grafana-like panels: buckets of 10 s to 5 m over ranges
// whose ends fall inside 10 s windows, by host, over a few hosts (sparse
// only, and with a dense one) and overall, with every decomposable
// aggregate and the rows count.
func raggedCases() []oracleCase {
	ms := time.Millisecond
	ranges := [][2]time.Duration{
		{14*time.Minute + 3217*ms, 29*time.Minute + 3217*ms},      // 15 minutes, both ends ragged, in the first segment
		{20*time.Minute + 4801*ms, 50*time.Minute + 9999*ms},      // across the two segments
		{31*time.Minute + 1*ms, 59*time.Minute + 59999*ms},        // just after a window starts, to just before the data ends
		{5*time.Minute + 9999*ms, 5*time.Minute + 40*time.Second}, // under a minute
		{44*time.Minute + 6130*ms, 44*time.Minute + 7300*ms},      // inside one 10 s window
	}
	hostSets := []string{
		"",
		" AND hostname IN ('host_1', 'host_5', 'host_12')",
		" AND hostname IN ('host_3', 'dense_1')",
		" AND hostname = 'host_9'",
	}
	buckets := []string{"10 seconds", "30 seconds", "1 minute", "5 minutes"}
	aggs := [][2]string{
		{"count(*)", "max(usage_user)"},
		{"min(usage_idle)", "sum(usage_system)"},
		{"avg(usage_nice)", "count(usage_guest)"},
		{"stddev(usage_iowait)", "var_pop(usage_user)"},
	}
	var cs []oracleCase
	for i, rg := range ranges {
		where := fmt.Sprintf("time >= %s AND time < %s", tsMilli(rg[0]), tsMilli(rg[1]))
		for j, hs := range hostSets {
			b := buckets[(i+j)%len(buckets)]
			a := aggs[(i*3+j)%len(aggs)]
			cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, hostname, %s, %s FROM cpu
				WHERE %s%s GROUP BY 1, 2 ORDER BY 1, 2`, b, origin, a[0], a[1], where, hs)})
			cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, %s, %s FROM cpu
				WHERE %s%s GROUP BY 1 ORDER BY 1`, buckets[(i+j+1)%len(buckets)], origin, a[1], a[0], where, hs)})
		}
		cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT region, count(*), max(usage_user), avg(usage_idle) FROM cpu
			WHERE %s GROUP BY region ORDER BY region`, where)})
	}
	return cs
}
