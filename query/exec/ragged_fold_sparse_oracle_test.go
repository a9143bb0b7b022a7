package exec

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// TestAgainstPostgresRaggedFoldRowsOnly runs hourly counts of rows over
// ranges with ragged ends on a table where some rows hold only a string
// field (no rollup part places them) and some only a number: a ragged
// piece whose window's partials cannot say where such rows lie is folded
// from its rows (engine/scan_ragged.go), and count(*) must still count
// every row, as PostgreSQL does.
func TestAgainstPostgresRaggedFoldRowsOnly(t *testing.T) {
	o := pgoracle.Start(t)
	rng := rand.New(rand.NewPCG(21, 5))
	var points []pgoracle.Point
	for h := range 6 {
		for i := range 6 * 360 {
			f := map[string]any{}
			switch rng.IntN(4) {
			case 0:
				f["s"] = fmt.Sprintf("x%d", rng.IntN(5))
			case 1:
				f["v"] = float64(rng.IntN(100))
			default:
				f["s"] = "y"
				f["v"] = float64(rng.IntN(100))
			}
			points = append(points, pgoracle.Point{Time: cpuStart.Add(time.Duration(i) * 10 * time.Second).UnixNano(),
				Tags: map[string]string{"host": fmt.Sprintf("h%d", h)}, Fields: f})
		}
	}
	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Compaction.Disabled = true
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	writeLP(t, eng, "m", points)
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	loadOracle(t, o, eng, "m", points)
	counter := eng.Metrics().RaggedPieces
	rows0 := testutil.ToFloat64(counter.WithLabelValues("rows"))
	var tl tally
	for _, rg := range [][2]time.Duration{
		{17*time.Minute + 3*time.Second, 4*time.Hour + 41*time.Minute},
		{time.Hour + 59*time.Minute + 59*time.Second, 5*time.Hour + 1*time.Minute},
	} {
		where := fmt.Sprintf("time >= %s AND time < %s", tsMilli(rg[0]), tsMilli(rg[1]))
		for _, bin := range []string{"1 hour", "2 hours", "1 day"} {
			check(t, o, eng, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, count(*), count(v), sum(v) FROM m
				WHERE %s GROUP BY 1 ORDER BY 1`, bin, origin, where)}, &tl)
			check(t, o, eng, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, host, count(*), max(v) FROM m
				WHERE %s GROUP BY 1, 2 ORDER BY 1, 2`, bin, origin, where)}, &tl)
		}
	}
	rows := testutil.ToFloat64(counter.WithLabelValues("rows")) - rows0
	t.Logf("%d queries run, %d passed, %d answered from rollups; %.0f ragged pieces read from rows", tl.run, tl.passed, tl.fromRollups, rows)
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
}
