package exec

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// TestRaggedFoldIntegerSums checks integer sums near int64's ends over
// ranges with ragged ends, which are folded into partials as read
// (engine/scan_ragged.go), against the same query answered from raw rows
// only and against exact sums the test computes with big integers: where
// every bucket's exact sum fits in int64, an answer must give them (a
// running sum that leaves int64 on the way is refused, by both paths
// alike, as the executor does); where one does not, both must refuse.
// Rows are rare huge values of both signs among small ones, so a
// bucket's running sum may leave int64 and come back, and some buckets'
// exact sums overflow; in one ragged piece the fold itself overflows.
func TestRaggedFoldIntegerSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 64))
	var points []pgoracle.Point
	const step = 10 * time.Second
	for h := range 4 {
		for i := range 6 * 360 {
			v := rng.Int64N(1000) - 500
			if rng.IntN(700) == 0 && i >= 720 { // none before 02:00
				v = math.MaxInt64/3 + rng.Int64N(1e9)
				if rng.IntN(2) == 0 {
					v = -v
				}
			}
			if h < 2 && (i == 103 || i == 104) {
				// Two huge values of two series inside the first range's
				// ragged start (00:17:10, 00:17:20): each series' hour
				// fits, so the hour's rollup is kept, but a fold merging
				// the series overflows and falls back to the rows, whose
				// sum overflows too.
				v = math.MaxInt64 / 3
			}
			points = append(points, pgoracle.Point{Time: cpuStart.Add(time.Duration(i) * step).UnixNano(),
				Tags: map[string]string{"host": fmt.Sprintf("h%d", h)}, Fields: map[string]any{"v": v}})
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
	ranges := [][2]time.Duration{
		{17*time.Minute + 3*time.Second, 4*time.Hour + 41*time.Minute},
		{time.Hour + 59*time.Minute + 55*time.Second, 5*time.Hour + 5*time.Second},
		{33 * time.Minute, 5*time.Hour + 27*time.Minute},
		{2*time.Hour + 10*time.Minute, 3*time.Hour + 50*time.Minute},
		{59 * time.Minute, 2*time.Hour + 1*time.Minute},
		{4*time.Hour + 7*time.Minute, 5*time.Hour + 53*time.Minute},
		{17*time.Minute + 3*time.Second, 2 * time.Hour}, // the overflowing fold, and no other huge value
	}
	counter := eng.Metrics().RaggedPieces
	rows0 := testutil.ToFloat64(counter.WithLabelValues("rows"))
	checked, fromRollups, refused, partial := 0, 0, 0, 0
	for _, rg := range ranges {
		lo, hi := cpuStart.Add(rg[0]).UnixNano(), cpuStart.Add(rg[1]).UnixNano()
		for _, bin := range []time.Duration{time.Hour, 2 * time.Hour} {
			for _, byHost := range []bool{false, true} {
				// The exact sums, by bucket (and host).
				exact := map[string]*big.Int{}
				for _, p := range points {
					if p.Time < lo || p.Time >= hi {
						continue
					}
					k := fmt.Sprint(p.Time - p.Time%int64(bin))
					if byHost {
						k += " " + p.Tags["host"]
					}
					if exact[k] == nil {
						exact[k] = new(big.Int)
					}
					exact[k].Add(exact[k], big.NewInt(p.Fields["v"].(int64)))
				}
				overflow := false
				for _, s := range exact {
					overflow = overflow || !s.IsInt64()
				}
				group, sel := "1", "date_bin('%s', time, %s) AS b"
				if byHost {
					group, sel = "1, 2", sel+", host"
				}
				q := fmt.Sprintf(`SELECT `+sel+`, sum(v), count(v) FROM m WHERE time >= %s AND time < %s GROUP BY %s ORDER BY %s`,
					fmt.Sprintf("%d hours", int(bin/time.Hour)), origin, tsMilli(rg[0]), tsMilli(rg[1]), group, group)
				var errs [2]string
				for mode, raw := range []bool{false, true} {
					res, err := runSQLAt(eng, q, raw)
					if err != nil {
						errs[mode] = err.Error()
					}
					checked++
					if !raw && err == nil && res.Stats.Resolution != "raw" {
						fromRollups++
					}
					if overflow {
						refused++
						if err == nil {
							t.Errorf("%s (raw %v): an exact sum leaves int64, yet an answer", q, raw)
						}
						continue
					}
					if err != nil {
						partial++ // a running sum left int64: raw must agree
						continue
					}
					if len(res.Rows) != len(exact) {
						t.Errorf("%s (raw %v): %d rows, want %d", q, raw, len(res.Rows), len(exact))
						continue
					}
					for _, row := range res.Rows {
						k := fmt.Sprint(row[0].(time.Time).UnixNano())
						c := 1
						if byHost {
							k += " " + row[1].(string)
							c = 2
						}
						if want := exact[k]; want == nil || fmt.Sprint(row[c]) != want.String() {
							t.Errorf("%s (raw %v): bucket %s sum %v, want %v", q, raw, k, row[c], want)
						}
					}
				}
				if errs[0] != errs[1] {
					t.Errorf("%s: from rollups %q, from raw rows %q", q, errs[0], errs[1])
				}
			}
		}
	}
	folded := testutil.ToFloat64(counter.WithLabelValues("rows")) - rows0
	t.Logf("%d answers checked, %d from rollups, %d refused as overflowing, %d refused for a running sum; %.0f ragged pieces folded from rows",
		checked, fromRollups, refused, partial, folded)
	if folded == 0 || fromRollups == 0 || refused == 0 || refused == checked {
		t.Errorf("%d from rollups, %d refused of %d: the suite does not test the fold's overflow", fromRollups, refused, checked)
	}
}
