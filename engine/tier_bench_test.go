package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// BenchmarkTierQueries: TSBS cpu queries over the same three days of data
// (50 hosts, every 30 s: 432,000 rows) when local, when cold and read for
// the first time (fresh block and footer caches, a new engine), and when
// cold and cached. getB/op is what the object store sent; segB/op the
// size of the segments the query's time range touches.
//
//	go test ./engine -run '^$' -bench TierQueries -benchtime 5x -count 5
func BenchmarkTierQueries(b *testing.B) {
	f := newTierFixture(b)
	dir := b.TempDir()
	start := time.Unix(0, f.today-3*int64(segment.WindowDuration)).UTC()
	tierOf := func() *tiering.Tier {
		tr := f.tier(b)
		return tr
	}
	cfg := func(tr *tiering.Tier) engine.Config {
		c := f.config(b, dir, tr, false)
		c.Tiering.After = time.Nanosecond // every finished window
		return c
	}
	tr := tierOf()
	e := openEngine(b, cfg(tr))
	g := bench.NewCPU(50, start, 30*time.Second, 1)
	for i := 0; i < 3*2880; i += 720 {
		var body []byte
		for range 720 {
			body = g.AppendInterval(body)
		}
		var batch columnar.Batch
		lineprotocol.Decode(body, &batch, lineprotocol.Options{}, nil)
		if _, err := e.Write(tierDB, &batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := e.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	t0 := start.Add(30 * time.Hour).UnixNano()
	type query struct {
		name, sql string
		lo, hi    int64
	}
	qs := []query{
		{"single-groupby-1-1-1", fmt.Sprintf("SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user) FROM cpu "+
			"WHERE hostname = 'host_7' AND time >= %d AND time < %d GROUP BY minute ORDER BY minute", t0, t0+int64(time.Hour)), t0, t0 + int64(time.Hour)},
		{"double-groupby-1", fmt.Sprintf("SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS hour, hostname, avg(usage_user) FROM cpu "+
			"WHERE time >= %d AND time < %d GROUP BY hour, hostname ORDER BY hour, hostname", t0, t0+12*int64(time.Hour)), t0, t0 + 12*int64(time.Hour)},
		{"lastpoint", "SELECT hostname, last(usage_user, time) AS usage_user, max(time) AS time FROM cpu GROUP BY hostname ORDER BY hostname", 0, 1 << 62},
	}
	segBytes := func(q query) int64 {
		var n int64
		for _, s := range e.Manifest().Segments {
			if s.MaxTime >= q.lo && s.MinTime < q.hi {
				n += s.Bytes
			}
		}
		return n
	}
	run := func(b *testing.B, q query) {
		if _, err := runSQL(e, q.sql); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range qs {
		b.Run("local/"+q.name, func(b *testing.B) {
			for range b.N {
				run(b, q)
			}
			b.ReportMetric(float64(segBytes(q)), "segB/op")
		})
	}
	if st, err := e.TierNow(context.Background()); err != nil || st.Segments == 0 {
		b.Fatalf("tier: %+v %v", st, err)
	}
	got := func() float64 { return testutil.ToFloat64(tr.Metrics.Bytes.WithLabelValues("get")) }
	for _, q := range qs {
		b.Run("cold-first/"+q.name, func(b *testing.B) {
			var fetched float64
			for range b.N {
				b.StopTimer()
				if err := e.Close(); err != nil {
					b.Fatal(err)
				}
				tr = tierOf() // fresh block cache and footer cache
				e = openEngine(b, cfg(tr))
				b.StartTimer()
				run(b, q)
				fetched += got()
			}
			b.ReportMetric(fetched/float64(b.N), "getB/op")
			b.ReportMetric(float64(segBytes(q)), "segB/op")
		})
		b.Run("cold-cached/"+q.name, func(b *testing.B) {
			run(b, q)
			before := got()
			b.ResetTimer()
			for range b.N {
				run(b, q)
			}
			b.ReportMetric((got()-before)/float64(b.N), "getB/op")
			b.ReportMetric(float64(segBytes(q)), "segB/op")
		})
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
}
