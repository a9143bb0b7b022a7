package exec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

// TestAgainstPostgresRollups runs the PostgreSQL suite over an engine
// whose rollups answer: in-order data flushed in chunks (each segment alone
// in time), compacted into outputs split by series, then late rewrites of
// old points (new values, some fields only) flushed into a segment that
// overlaps everything, and compacted again so that the rollups of the
// windows they touched are rebuilt. At each stage every query runs from
// rollups where they apply and from raw rows only, and both must equal
// PostgreSQL's answer over the final data.
func TestAgainstPostgresRollups(t *testing.T) {
	o := pgoracle.Start(t)
	all := pgoracle.CPUDataset(20, cpuStart, 10*time.Second, 720, 44, pgoracle.DatasetOptions{Duplicates: 0.03})
	// Rewrites are the points whose series and time came before.
	seen := map[string]bool{}
	var base, late []pgoracle.Point
	for _, p := range all {
		k := fmt.Sprint(p.Time, p.Tags)
		if seen[k] {
			late = append(late, p)
			continue
		}
		seen[k] = true
		base = append(base, p)
	}
	if len(late) == 0 {
		t.Fatal("dataset has no rewrites")
	}
	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Compaction.Disabled = true // compacted below, when the test says
	cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 256, TargetRows: 5000, L0Max: 2, MaxTail: 3}
	cfg.Compaction.ColdAfter = time.Nanosecond // the data is of 2026-01-01: long cold
	cfg.Rollups.MinRowsPerWindow = 1           // 1m rollups of 10 s data too, to exercise both widths
	eng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	// The base in time order, a flush per chunk; the last chunk stays in
	// the head.
	const chunks = 8
	for c := range chunks {
		writeLP(t, eng, pgoracle.CPUTable, base[c*len(base)/chunks:(c+1)*len(base)/chunks])
		if c < chunks-1 {
			if err := eng.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := eng.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(12, 11))
	cases := tsbsCases()
	for range 60 {
		cases = append(cases, randomCase(r))
	}
	cases = append(cases, rollupCases()...)
	suite := func(stage string, wantRollups bool) {
		var tl tally
		for _, c := range cases {
			check(t, o, eng, c, &tl)
		}
		t.Logf("%s: %d queries run, %d passed, %d errors on both sides, %d answered from rollups",
			stage, tl.run, tl.passed, tl.errorsAgreed, tl.fromRollups)
		if wantRollups && tl.fromRollups < len(cases)/4 {
			t.Errorf("%s: only %d of %d queries were answered from rollups", stage, tl.fromRollups, len(cases))
		}
	}
	loadOracle(t, o, eng, pgoracle.CPUTable, base)
	suite("base, compacted (outputs split by series)", true)
	// Late rewrites: flushed into a segment overlapping every other, so
	// scans merge raw rows; then the cold window is merged whole and its
	// rollups rebuilt with the new values.
	if _, _, err := o.Query("DROP TABLE " + pgoracle.CPUTable); err != nil {
		t.Fatal(err)
	}
	loadOracle(t, o, eng, pgoracle.CPUTable, all)
	writeLP(t, eng, pgoracle.CPUTable, late)
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	suite("late rewrites flushed, not compacted", false)
	if err := eng.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	suite("compacted again", true)
}

// rollupCases are queries shaped for rollups: aligned and ragged ranges,
// buckets that are and are not multiples of the rollup widths, every
// decomposable aggregate.
func rollupCases() []oracleCase {
	var cs []oracleCase
	aggs := []string{"count(*)", "count(usage_guest)", "sum(usage_user)", "min(usage_idle)", "max(usage_idle)",
		"avg(usage_system)", "stddev(usage_nice)", "var_pop(usage_iowait)", "stddev_pop(usage_user)", "var_samp(usage_guest)"}
	ranges := []string{
		"",
		fmt.Sprintf(" AND time >= %s AND time < %s", ts(0), ts(2*time.Hour)),
		fmt.Sprintf(" AND time >= %s AND time < %s", ts(7*time.Minute+13*time.Second), ts(101*time.Minute+40*time.Second)),
		fmt.Sprintf(" AND time > %s", ts(59*time.Minute+59*time.Second)),
	}
	buckets := []string{"1 minute", "1 hour", "5 minutes", "90 seconds", "30 seconds"}
	for i, rg := range ranges {
		for j, b := range buckets {
			a1, a2 := aggs[(i*5+j)%len(aggs)], aggs[(i*5+j+3)%len(aggs)]
			cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT date_bin('%s', time, %s) AS b, hostname, %s, %s FROM cpu
				WHERE hostname IN ('host_1', 'host_5', 'host_12')%s GROUP BY 1, 2 ORDER BY 1, 2`, b, origin, a1, a2, rg)})
		}
		cs = append(cs, oracleCase{silt: fmt.Sprintf(`SELECT region, %s FROM cpu WHERE true%s GROUP BY region ORDER BY region`,
			strings.Join(aggs, ", "), rg)})
	}
	// first/last over time buckets (PostgreSQL: DISTINCT ON).
	cs = append(cs, oracleCase{
		silt: fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS h, hostname, first(usage_user, time) AS f FROM cpu GROUP BY 1, 2 ORDER BY 1, 2`, origin),
		pg:   fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS h, hostname, (array_agg(usage_user ORDER BY time) FILTER (WHERE usage_user IS NOT NULL))[1] AS f FROM cpu GROUP BY 1, 2 ORDER BY 1, 2`, origin),
	}, oracleCase{
		silt: fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS m, hostname, last(usage_guest, time) AS l FROM cpu WHERE hostname = 'host_3' AND time < %s GROUP BY 1, 2 ORDER BY 1, 2`, origin, ts(33*time.Minute)),
		pg:   fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS m, hostname, (array_agg(usage_guest ORDER BY time DESC) FILTER (WHERE usage_guest IS NOT NULL))[1] AS l FROM cpu WHERE hostname = 'host_3' AND time < %s GROUP BY 1, 2 ORDER BY 1, 2`, origin, ts(33*time.Minute)),
	})
	return cs
}

// The planner's choice: which widths a query may read, by shape.
func TestRollupWidths(t *testing.T) {
	ts := columnar.NewTableSchema()
	ts.AddTag("hostname")
	ts.AddTag("region")
	for _, f := range []string{"usage_user", "usage_idle"} {
		ts.AddField(f, columnar.FieldFloat)
	}
	cat, _ := Catalog(map[string]*columnar.TableSchema{"cpu": ts})
	avail := []int64{int64(time.Minute), int64(time.Hour)}
	for _, c := range []struct {
		q    string
		want []time.Duration
	}{
		{`SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01'), hostname, avg(usage_user) FROM cpu GROUP BY 1, 2`, []time.Duration{time.Minute, time.Hour}},
		{`SELECT date_bin('5 minutes', time, TIMESTAMP '2000-01-01'), max(usage_user) FROM cpu GROUP BY 1`, []time.Duration{time.Minute}},
		{`SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01 00:00:30'), max(usage_user) FROM cpu GROUP BY 1`, nil},
		{`SELECT date_bin('90 seconds', time, TIMESTAMP '2000-01-01'), max(usage_user) FROM cpu GROUP BY 1`, nil},
		{`SELECT hostname, count(*), sum(usage_user), stddev(usage_idle) FROM cpu WHERE region = 'eu' GROUP BY 1`, []time.Duration{time.Minute, time.Hour}},
		{`SELECT count(*) FROM cpu WHERE usage_user > 3`, nil},                           // WHERE on a field
		{`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY usage_user) FROM cpu`, nil}, // not decomposable
		{`SELECT sum(usage_user * 2) FROM cpu`, nil},                                     // an expression
		{`SELECT hostname, last(usage_user, time) FROM cpu GROUP BY 1`, nil},             // per-series last values do better
		{`SELECT time, usage_user FROM cpu`, nil},                                        // not aggregated
		{`SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01'), count(DISTINCT hostname) FROM cpu GROUP BY 1`, []time.Duration{time.Minute, time.Hour}},
	} {
		q, err := sql.Compile(c.q, cat, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		var want []int64
		for _, d := range c.want {
			want = append(want, int64(d))
		}
		if got := rollupWidths(q, avail); !slices.Equal(got, want) {
			t.Errorf("%s: widths %v, want %v", c.q, got, want)
		}
	}
}
