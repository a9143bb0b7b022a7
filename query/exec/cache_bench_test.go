package exec

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

// BenchmarkQueryCache repeats TSBS queries over the 100-host, one-day
// dataset (864,000 points) flushed into segments, with the engine's query
// cache of decoded pages off and on (default bound): what a dashboard
// refreshing the same panels costs. Rollups are off, so the aggregates
// read raw pages. Run with
//
//	go test ./query/exec -run '^$' -bench QueryCache -count 6
func BenchmarkQueryCache(b *testing.B) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) string { return "'" + start.Add(time.Duration(h)*time.Hour).Format(time.RFC3339) + "'" }
	cols := append([]string{"time"}, pgoracle.CPUTags...)
	for _, f := range pgoracle.CPUFields {
		cols = append(cols, f.Name)
	}
	cases := []struct{ name, q string }{
		{"single-groupby-1-1-1", fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user) FROM cpu WHERE hostname = 'host_7' AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, at(3), at(4))},
		{"double-groupby-1", fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS hour, hostname, avg(usage_user) FROM cpu WHERE time >= %s AND time < %s GROUP BY 1, 2 ORDER BY 1, 2`, origin, at(0), at(12))},
		{"high-cpu-all", fmt.Sprintf(`SELECT %s FROM cpu WHERE usage_user > 90 AND time >= %s AND time < %s`, strings.Join(cols, ", "), at(4), at(16))},
	}
	for _, cache := range []struct {
		name  string
		bytes int64
	}{{"off", -1}, {"on", 0}} {
		cfg := engine.Config{DataDir: b.TempDir(), FlushInterval: time.Hour, NoSync: true, QueryCacheBytes: cache.bytes}
		cfg.Rollups.Disabled = true
		eng, err := engine.Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		// The points are generated per engine and dropped once written:
		// held, their maps would make every collection of the queries'
		// garbage scan a few hundred MB more.
		points := pgoracle.CPUDataset(100, start, 10*time.Second, 8640, 1, pgoracle.DatasetOptions{})
		for lo := 0; lo < len(points); lo += 50000 {
			writeLP(b, eng, pgoracle.CPUTable, points[lo:min(lo+50000, len(points))])
		}
		points = nil
		if err := eng.Flush(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		schemas, _ := eng.Tables(testDB)
		cat, names := Catalog(schemas)
		for _, c := range cases {
			b.Run(c.name+"/cache-"+cache.name, func(b *testing.B) {
				q, err := sql.Compile(c.q, cat, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				src := EngineSource{Engine: eng, DB: testDB}
				cpu0 := cpuTime()
				for b.Loop() {
					if _, err := Run(context.Background(), q, src, names); err != nil {
						b.Fatal(err)
					}
				}
				// CPU time (all goroutines, the collector's included): on
				// a shared machine steadier than the wall clock.
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			})
		}
		if st := eng.QueryCacheStats(); cache.bytes >= 0 {
			b.Logf("cache: %d hits, %d misses, %d evictions, %d pages, %d MiB", st.Hits, st.Misses, st.Evictions, st.Pages, st.Bytes>>20)
		}
		eng.Close()
	}
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
