package exec

import (
	"fmt"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// TestAgainstPostgresRowsAreTheirGroups: GROUP BY keys that every row
// holds once (time and series, or a single series' windows at a rollup's
// own width), where the groups are the rows in order (sameGroups: the key
// vectors kept as they are, the rollups' count and part columns read as
// the groups' values), under HAVING, FILTER (WHERE ...), ORDER BY with
// LIMIT and OFFSET, DISTINCT, and WHERE conditions that keep every row,
// some or none — from raw rows and from rollups, against PostgreSQL.
func TestAgainstPostgresRowsAreTheirGroups(t *testing.T) {
	o := pgoracle.Start(t)
	points := pgoracle.CPUDataset(6, cpuStart, 10*time.Second, 360, 7, pgoracle.DatasetOptions{})
	for i := range points {
		// NULLs: usage_guest absent from every fifth point, and from
		// every point of every seventh minute (windows without a value).
		if i%5 == 2 || (points[i].Time-cpuStart.UnixNano())/int64(time.Minute)%7 == 3 {
			delete(points[i].Fields, "usage_guest")
		}
	}
	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Rollups.MinRowsPerWindow = 1 // 1m rollups of the 10 s data
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	writeLP(t, eng, pgoracle.CPUTable, points[:2*len(points)/3])
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	writeLP(t, eng, pgoracle.CPUTable, points[2*len(points)/3:])
	loadOracle(t, o, eng, pgoracle.CPUTable, points)

	m := fmt.Sprintf("date_bin('1 minute', time, %s)", origin)
	cases := []oracleCase{
		{silt: `SELECT time, hostname, count(*) AS c, sum(usage_user) FILTER (WHERE usage_user > 50) AS s FROM cpu
			WHERE hostname = 'host_1' GROUP BY time, hostname HAVING max(usage_idle) > 20 ORDER BY s DESC NULLS LAST, time LIMIT 7`},
		{silt: `SELECT time, count(usage_guest) FILTER (WHERE usage_user > -1) AS g, min(usage_user) AS u FROM cpu
			WHERE hostname = 'host_2' AND usage_user >= 0 GROUP BY time HAVING count(*) >= 1 ORDER BY time DESC LIMIT 5 OFFSET 3`},
		{silt: `SELECT time + INTERVAL '1 second' AS t2, hostname, min(usage_user) AS u, count(usage_guest) FILTER (WHERE usage_user > 1000) AS n FROM cpu
			WHERE time < ` + ts(20*time.Minute) + ` GROUP BY 1, 2 HAVING count(*) = 1 ORDER BY 2, 1 LIMIT 10 OFFSET 4`},
		{silt: `SELECT hostname, time, max(usage_guest) AS g FROM cpu WHERE time < ` + ts(3*time.Minute) + ` GROUP BY hostname, time ORDER BY g, hostname, time`},
		{silt: `SELECT DISTINCT hostname FROM cpu WHERE usage_user > 30 GROUP BY hostname, time ORDER BY hostname`},
		{silt: `SELECT hostname, upper(hostname) AS h, time, sum(usage_user) AS s FROM cpu WHERE usage_user > 1000 GROUP BY hostname, time ORDER BY 1, 3`},
		{silt: `SELECT time, hostname, avg(usage_system) AS a FROM cpu WHERE hostname IN ('host_0', 'host_4') GROUP BY hostname, time
			HAVING avg(usage_system) > 40 ORDER BY a DESC, time, hostname LIMIT 9`},
		// Predicates TRUE on every row that is not NULL: the NULLs go.
		{silt: `SELECT time, hostname, count(*) AS n FROM cpu WHERE usage_guest >= 0 AND hostname = 'host_1'
			GROUP BY time, hostname ORDER BY time LIMIT 40`},
		{silt: `SELECT time, count(*) FILTER (WHERE usage_guest >= 0) AS n, sum(usage_user) AS s FROM cpu WHERE hostname = 'host_4'
			GROUP BY time HAVING min(usage_guest) >= 0 ORDER BY time DESC LIMIT 40 OFFSET 2`},
		{silt: `SELECT ` + m + ` AS w, count(*) AS n FROM cpu WHERE hostname = 'host_3' GROUP BY 1 HAVING max(usage_guest) >= 0 ORDER BY 1`},
		// A single series' windows at the 1m rollups' width: every rollup
		// row is its group.
		{silt: `SELECT ` + m + ` AS w, count(usage_guest) AS c, min(usage_idle) AS lo, max(usage_idle) AS hi, sum(usage_user) AS s FROM cpu
			WHERE hostname = 'host_3' GROUP BY 1 ORDER BY 1`},
		{silt: `SELECT ` + m + ` AS w, min(usage_idle) AS lo, count(*) AS n FROM cpu
			WHERE hostname = 'host_3' GROUP BY 1 HAVING max(usage_idle) > 30 ORDER BY lo DESC, w LIMIT 6 OFFSET 1`},
		{silt: `SELECT ` + m + ` AS w, hostname, max(usage_guest) AS g, count(usage_guest) AS c FROM cpu
			WHERE hostname = 'host_5' AND time >= ` + ts(7*time.Minute) + ` AND time < ` + ts(31*time.Minute) + ` GROUP BY 1, 2 ORDER BY 1`},
		{
			silt: `SELECT ` + m + ` AS w, first(usage_guest, time) AS f, last(usage_guest, time) AS l FROM cpu WHERE hostname = 'host_0' GROUP BY 1 ORDER BY 1`,
			pg: `SELECT ` + m + ` AS w, (array_agg(usage_guest ORDER BY time) FILTER (WHERE usage_guest IS NOT NULL))[1] AS f,
				(array_agg(usage_guest ORDER BY time DESC) FILTER (WHERE usage_guest IS NOT NULL))[1] AS l FROM cpu WHERE hostname = 'host_0' GROUP BY 1 ORDER BY 1`,
		},
	}
	var tl tally
	for _, c := range cases {
		check(t, o, eng, c, &tl)
	}
	t.Logf("%d queries run, %d passed, %d answered from rollups", tl.run, tl.passed, tl.fromRollups)
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
	if tl.fromRollups < 3 {
		t.Errorf("only %d queries answered from rollups: the rollups' own groups went untested", tl.fromRollups)
	}
}
