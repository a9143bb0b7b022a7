package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// A LastOnly scan of a table wholly in one head whose points all carry
// every field (live data: the head's latest rows are the answer as they
// stand) equals the fold of every point: rewrites of a point, a host whose
// newest point arrived blocks before the others', time ranges cutting the
// data and a tag constraint. Then one point lacking a field sends the scan
// through the summary, with the same answer.
func TestRunBatchesLastOnlyCompleteHead(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		e := open(t, testConfig(t.TempDir()))
		rng := rand.New(rand.NewPCG(9, 4))
		type point struct {
			host string
			t    int64
			x, y float64
			hasY bool
		}
		var pts []point
		var b columnar.Batch
		n := 3*BatchRows + 77
		for i := range n {
			p := point{host: fmt.Sprint("h", i%7), t: int64(i / 7), x: float64(rng.IntN(1000)), y: float64(rng.IntN(1000)), hasY: true}
			switch {
			case i == 40:
				p.t = 1 << 40 // h5's newest point, long before the others' last
			case i%97 == 0 && i > 7:
				p.t -= int64(rng.IntN(3)) // a rewrite of an earlier point
			case sparse && i == n-3:
				p.hasY = false
			}
			b.StartRow([]byte("m"), i+1)
			b.AddTag([]byte("host"), []byte(p.host))
			b.AddFloat([]byte("x"), p.x)
			if p.hasY {
				b.AddFloat([]byte("y"), p.y)
			}
			b.EndRow(p.t)
			pts = append(pts, p)
		}
		if _, err := e.Write("db", &b); err != nil {
			t.Fatal(err)
		}
		type last struct {
			t int64
			v float64
		}
		for _, c := range []struct {
			lo, hi int64
			hosts  []string
		}{
			{math.MinInt64, math.MaxInt64, nil},
			{100, int64(n/7) - 50, nil},
			{math.MinInt64, math.MaxInt64, []string{"h2", "h5"}},
			{int64(n/7) - 3, math.MaxInt64, []string{"h1"}},
			{math.MinInt64, math.MaxInt64, []string{"h0", "h1", "h3"}},
		} {
			want := map[[2]string]last{} // host, field → last
			for _, p := range pts {
				if p.t < c.lo || (p.t >= c.hi && c.hi != math.MaxInt64) {
					continue
				}
				if c.hosts != nil && !contains(c.hosts, p.host) {
					continue
				}
				for f, v := range map[string]float64{"x": p.x, "y": p.y} {
					if f == "y" && !p.hasY {
						continue
					}
					if w, ok := want[[2]string{p.host, f}]; !ok || p.t >= w.t {
						want[[2]string{p.host, f}] = last{p.t, v}
					}
				}
			}
			ts, err := e.OpenScanRange("db", "m", c.lo, c.hi)
			if err != nil {
				t.Fatal(err)
			}
			ts.Columns, ts.LastOnly = []string{"host", "x", "y"}, true
			if c.hosts != nil {
				ts.Tags = map[string][]string{"host": c.hosts}
			}
			got := map[[2]string]last{}
			err = ts.RunBatches(context.Background(), func(cb *columnar.ColumnBatch) error {
				host := -1
				for i, tv := range cb.Tags {
					if tv.Name == "host" {
						host = i
					}
				}
				for i := range cb.Len {
					h := cb.Tags[host].Dict[cb.Tags[host].IDs[i]]
					if c.hosts != nil && !contains(c.hosts, h) {
						continue // a hint: callers filter
					}
					for _, fv := range cb.Fields {
						if fv.IsNull(i) {
							continue
						}
						k := [2]string{h, fv.Name}
						if _, dup := got[k]; dup {
							t.Errorf("sparse %v %+v: %v twice", sparse, c, k)
						}
						got[k] = last{cb.Time[i], fv.F[i]}
					}
				}
				return nil
			})
			_ = ts.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("sparse %v %+v:\n got %v\nwant %v", sparse, c, got, want)
			}
		}
		// No field read: no last value, whichever way the scan goes
		// (these hosts' latest rows are one per series).
		ts, err := e.OpenScanRange("db", "m", math.MinInt64, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		ts.Columns, ts.LastOnly = []string{"host"}, true
		ts.Tags = map[string][]string{"host": {"h0", "h1", "h3"}}
		rows := 0
		if err := ts.RunBatches(context.Background(), func(cb *columnar.ColumnBatch) error {
			rows += cb.Len
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		_ = ts.Close()
		if rows != 0 {
			t.Errorf("sparse %v: %d rows with no field read, want none", sparse, rows)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
