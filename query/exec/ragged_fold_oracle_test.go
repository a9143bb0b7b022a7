package exec

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// TestAgainstPostgresRaggedFoldShapes runs, over segments whose only
// rollup is hourly, queries whose ragged ends are folded into partials
// labelled with their enclosing hour (engine/scan_ragged.go) in shapes
// TestAgainstPostgresHourlyRaggedEnds leaves out: buckets offset from the
// hour by their origin (by seconds, by minutes), buckets coarser than the
// whole range (a day over a few hours), buckets of half an hour and three
// hours, a range inside one bucket, a field predicate beside the ragged
// ends, and data written out of order with rewrites of earlier points.
// Every answer, from rollups and from raw rows, must equal PostgreSQL's.
func TestAgainstPostgresRaggedFoldShapes(t *testing.T) {
	o := pgoracle.Start(t)
	points := pgoracle.CPUDataset(30, cpuStart, 10*time.Second, 6*360, 72, pgoracle.DatasetOptions{OutOfOrder: 0.2, Duplicates: 0.05})
	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Compaction.Disabled = true
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	cut := cpuStart.Add(2*time.Hour + 40*time.Minute).UnixNano()
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
	ts, err := eng.OpenScanRollups(testDB, pgoracle.CPUTable, math.MinInt64, math.MaxInt64, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := ts.RowGroups(); g <= 2 { // two segments
		t.Fatalf("%d row groups in two segments: no segment of several", g)
	}
	ts.Close()

	counter := eng.Metrics().RaggedPieces
	rows0 := testutil.ToFloat64(counter.WithLabelValues("rows"))
	ranges := [][2]time.Duration{
		{17*time.Minute + 3*time.Second + 250*time.Millisecond, 4*time.Hour + 41*time.Minute + 9*time.Second},
		{time.Hour + 59*time.Minute + 59*time.Second, 5*time.Hour + 1*time.Millisecond},
		{2*time.Hour + 20*time.Minute, 2*time.Hour + 58*time.Minute}, // inside one hour, across the split
		{-time.Hour, 3*time.Hour + 33*time.Minute},                   // from before the data
		{4*time.Hour + 12*time.Minute, 9 * time.Hour},                // to after it
	}
	bins := [][2]string{
		{"1 hour", "TIMESTAMP '2000-01-01 00:20:00'"},
		{"1 hour", "TIMESTAMP '2000-01-01 00:00:30'"},
		{"1 day", origin},
		{"30 minutes", origin},
		{"3 hours", "TIMESTAMP '2000-01-01 01:00:00'"},
		{"2 hours", origin},
	}
	aggs := []string{
		"count(*), sum(usage_user), max(usage_system)",
		"min(usage_idle), avg(usage_nice), count(usage_guest)",
		"stddev(usage_iowait), var_pop(usage_user), sum(usage_irq)",
	}
	hostSets := []string{"", " AND hostname IN ('host_1', 'host_4', 'host_9')", " AND usage_user > 40"}
	var tl tally
	n := 0
	for _, rg := range ranges {
		where := fmt.Sprintf("time >= %s AND time < %s", tsMilli(rg[0]), tsMilli(rg[1]))
		for _, bn := range bins {
			for _, hs := range hostSets {
				a := aggs[n%len(aggs)]
				n++
				check(t, o, eng, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, hostname, %s FROM cpu
					WHERE %s%s GROUP BY 1, 2 ORDER BY 1, 2`, bn[0], bn[1], a, where, hs)}, &tl)
				check(t, o, eng, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, %s FROM cpu
					WHERE %s%s GROUP BY 1 ORDER BY 1`, bn[0], bn[1], a, where, hs)}, &tl)
			}
		}
		check(t, o, eng, oracleCase{silt: fmt.Sprintf(`SELECT region, count(*), min(usage_user), sum(usage_idle) FROM cpu
			WHERE %s GROUP BY region ORDER BY region`, where)}, &tl)
		// Aggregates no partial answers, beside ones that do: the
		// rollups must not be used for them.
		check(t, o, eng, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS b, count(DISTINCT usage_user), max(usage_idle),
			percentile_disc(0.5) WITHIN GROUP (ORDER BY usage_system), mode() WITHIN GROUP (ORDER BY usage_guest) FROM cpu
			WHERE %s GROUP BY 1 ORDER BY 1`, origin, where)}, &tl)
	}
	rows := testutil.ToFloat64(counter.WithLabelValues("rows")) - rows0
	t.Logf("%d queries run, %d passed, %d errors on both sides, %d answered from rollups; %.0f ragged pieces read from rows",
		tl.run, tl.passed, tl.errorsAgreed, tl.fromRollups, rows)
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
	if tl.fromRollups == 0 || rows == 0 {
		t.Errorf("%d answers from rollups, %.0f ragged pieces folded from rows: the suite does not test the fold", tl.fromRollups, rows)
	}
}
