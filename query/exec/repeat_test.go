package exec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query"
)

// repeatPoints is a table m of 8 hosts every second for three hours
// whose float v spans 1e-3..1e16 with both signs: a sum of such values
// rounds differently in every order, so a sum, mean or deviation that
// added the same rows in another order shows in its last bits.
func repeatPoints(seed uint64) []pgoracle.Point {
	r := rand.New(rand.NewPCG(seed, 7))
	var pts []pgoracle.Point
	for s := range 3 * 3600 {
		for h := range 8 {
			v := math.Pow(10, -3+19*r.Float64())
			if r.IntN(3) == 0 {
				v = -v
			}
			pts = append(pts, pgoracle.Point{
				Time:   cpuStart.Add(time.Duration(s) * time.Second).UnixNano(),
				Tags:   map[string]string{"host": fmt.Sprintf("h%d", h)},
				Fields: map[string]any{"v": v},
			})
		}
	}
	return pts
}

// resultBits is a result's values, floats by their bits.
func resultBits(res *query.Result) string {
	var b []byte
	for _, row := range res.Rows {
		for _, v := range row {
			if f, ok := v.(float64); ok {
				b = fmt.Appendf(b, "%x ", math.Float64bits(f))
				continue
			}
			b = fmt.Appendf(b, "%v ", v)
		}
		b = append(b, '\n')
	}
	return string(b)
}

// The same float sum, avg and stddev over the same data answer the same
// bits every time, though the scan reads its parts in parallel and they
// finish in any order: the parts' batches and partials reach the
// aggregates in the parts' order (engine runTasks), not as they finish.
// Over a head alone (its rollup windows and ragged ends are separate read
// tasks) and over segments, with their rollups, and a head. The values
// make every order of additions round differently; the answers' accuracy
// is the PostgreSQL oracle tests' to check. Mutation-checked: delivering
// batches as the tasks finish fails it within the runs.
func TestFloatAggregatesRepeatBitForBit(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	}
	pts := repeatPoints(1)
	lo, hi := cpuStart.Add(17*time.Minute+3*time.Second), cpuStart.Add(2*time.Hour+41*time.Minute+7*time.Second)
	rng := fmt.Sprintf("time >= '%s' AND time < '%s'", lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano))
	queries := []string{
		"SELECT sum(v), avg(v), stddev(v) FROM m WHERE " + rng,
		"SELECT host, sum(v), avg(v), stddev_pop(v) FROM m WHERE " + rng + " GROUP BY host ORDER BY host",
		"SELECT date_bin(INTERVAL '1 hour', time) AS t, sum(v), avg(v), stddev(v) FROM m WHERE " + rng + " GROUP BY t ORDER BY t",
		"SELECT sum(v), avg(v), stddev(v) FROM m",
	}
	// Enough runs that completion order, which the two or more workers
	// change from run to run, showed in every query before the fix.
	const runs = 60
	for _, split := range []bool{false, true} {
		name := "head"
		var eng = loadEngine(t, "m", nil)
		if split {
			name = "segments and head"
			writeLP(t, eng, "m", pts[:len(pts)*2/3])
			if err := eng.Flush(); err != nil {
				t.Fatal(err)
			}
			writeLP(t, eng, "m", pts[len(pts)*2/3:])
		} else {
			writeLP(t, eng, "m", pts)
		}
		for _, text := range queries {
			for _, raw := range []bool{false, true} {
				var first string
				for i := range runs {
					res, err := runSQLAt(eng, text, raw)
					if err != nil {
						t.Fatalf("%s: %s: %v", name, text, err)
					}
					got := resultBits(res)
					if i == 0 {
						first = got
						continue
					}
					if got != first {
						t.Errorf("%s, raw %v: %s\nrun %d answered\n%s\nrun 1 answered\n%s", name, raw, text, i+1, got, first)
						break
					}
				}
			}
		}
	}
}
