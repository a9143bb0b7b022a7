package exec

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// TestAgainstPostgresHourlyRaggedEnds runs TSBS-shaped queries — hourly
// buckets over ranges that start and end on a random minute or second, as
// TSBS's double-groupby and cpu-max-all windows do — over segments whose
// only rollup is hourly (10 s data: the minute rollup is too sparse to
// keep). Every series has many rows on both sides of each ragged edge, so
// the window's rollup row cannot answer it: the stretch's rows are read,
// cut to the range through the time column's pages (segment/narrow.go),
// and folded into one partial per series and stretch
// (engine/scan_ragged.go). Every answer, from rollups and from raw rows
// alone, must equal PostgreSQL's over the same points, and the ragged
// answers must come without raw rows reaching the executor.
func TestAgainstPostgresHourlyRaggedEnds(t *testing.T) {
	o := pgoracle.Start(t)
	points := pgoracle.CPUDataset(12, cpuStart, 10*time.Second, 6*360, 71, pgoracle.DatasetOptions{})
	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Compaction.Disabled = true
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	// Two segments split at 3h10m (inside an hour), so one query can cut
	// a ragged piece from either and an hour from both.
	cut := cpuStart.Add(3*time.Hour + 10*time.Minute).UnixNano()
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
	rows0 := testutil.ToFloat64(counter.WithLabelValues("rows"))
	var tl tally
	cases := hourlyRaggedCases()
	for _, c := range cases {
		check(t, o, eng, c, &tl)
	}
	rows := testutil.ToFloat64(counter.WithLabelValues("rows")) - rows0
	t.Logf("%d queries run, %d passed, %d errors on both sides, %d answered from rollups; %.0f ragged pieces read from rows",
		tl.run, tl.passed, tl.errorsAgreed, tl.fromRollups, rows)
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
	if rows == 0 {
		t.Errorf("no ragged piece was read from rows: the suite does not test the fold")
	}
	// The ranges spanning a whole hour are answered from partials only:
	// the hours from the rollup, their ragged ends folded as read.
	for _, c := range cases[:2] {
		res, err := runSQL(eng, c.silt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stats.Resolution != "1h" {
			t.Errorf("%s: resolution %q, want 1h (ragged ends folded, no raw rows)", c.silt, res.Stats.Resolution)
		}
	}
}

// hourlyRaggedCases are hourly panels by host and overall over ranges
// with ragged ends, with every decomposable aggregate.
func hourlyRaggedCases() []oracleCase {
	ranges := [][2]time.Duration{
		{27 * time.Minute, 4*time.Hour + 27*time.Minute},                            // TSBS's: both ends on a minute, across the split
		{time.Hour + 12*time.Minute + 30*time.Second, 5*time.Hour + 59*time.Minute}, // to just before the data ends
		{2*time.Hour + 5*time.Minute, 2*time.Hour + 50*time.Minute},                 // inside one hour
		{3*time.Hour + 59*time.Minute + 59*time.Second, 5*time.Hour + 17*time.Second},
		{0, 2*time.Hour + 13*time.Minute}, // from the data's start
	}
	hostSets := []string{"", " AND hostname IN ('host_1', 'host_5', 'host_11')", " AND hostname = 'host_7'"}
	aggs := [][2]string{
		{"avg(usage_user)", "count(*)"},
		{"max(usage_system)", "min(usage_idle)"},
		{"sum(usage_nice)", "count(usage_guest)"},
		{"stddev(usage_iowait)", "var_pop(usage_user)"},
	}
	var cs []oracleCase
	for i, rg := range ranges {
		where := fmt.Sprintf("time >= %s AND time < %s", tsMilli(rg[0]), tsMilli(rg[1]))
		for j, hs := range hostSets {
			a := aggs[(i+j)%len(aggs)]
			cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS b, hostname, %s, %s FROM cpu
				WHERE %s%s GROUP BY 1, 2 ORDER BY 1, 2`, origin, a[0], a[1], where, hs)})
			cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('2 hours', time, %s) AS b, %s, %s FROM cpu
				WHERE %s%s GROUP BY 1 ORDER BY 1`, origin, a[1], a[0], where, hs)})
		}
		cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT region, count(*), max(usage_user), avg(usage_idle) FROM cpu
			WHERE %s GROUP BY region ORDER BY region`, where)})
	}
	// Raw reads of the ragged ranges: rows cut to the range, every column.
	cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT time, hostname, usage_user, usage_guest FROM cpu
		WHERE time >= %s AND time < %s AND hostname IN ('host_2', 'host_3') ORDER BY hostname, time`,
		tsMilli(2*time.Hour+5*time.Minute+1*time.Millisecond), tsMilli(2*time.Hour+7*time.Minute))})
	cs = append(cs, oracleCase{silt: strings.TrimSpace(fmt.Sprintf(`SELECT count(*), sum(usage_user) FROM cpu
		WHERE time >= %s AND time < %s`, tsMilli(3*time.Hour+9*time.Minute+55*time.Second), tsMilli(3*time.Hour+10*time.Minute+5*time.Second)))})
	return cs
}
