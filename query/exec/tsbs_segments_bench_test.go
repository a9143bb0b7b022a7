package exec

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/query/sql"
)

// BenchmarkTSBSSegments runs the TSBS query types as `silt bench query`
// generates them (random hosts, windows starting on a random minute, so
// their ends are ragged: not on the 1 h rollup's boundaries) over the
// dataset `silt bench load` writes (100 hosts, one day at 10 s, integer
// fields), flushed into one segment with its rollups, as the bench-peers
// comparison reads it after its restart. Each sub-benchmark cycles through
// five instances of its type, each run once before the timer (as the
// comparison's untimed run warms the page cache). It reports the CPU time
// of the process per query (cpu-ms/op), steadier than wall time on a
// shared machine. SILT_BENCH_TYPES (comma-separated) picks the types.
//
//	go test ./query/exec -run '^$' -bench TSBSSegments -benchtime 200x -benchmem
func BenchmarkTSBSSegments(b *testing.B) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(24 * time.Hour)
	eng, err := engine.Open(engine.Config{DataDir: b.TempDir(), FlushInterval: time.Hour, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	ds := bench.Dataset{Hosts: 100, Start: start, End: end, Interval: 10 * time.Second, Seed: 123, Format: bench.LineProtocol}
	var body []byte
	write := func() {
		var batch columnar.Batch
		var lerr []columnar.LineError
		lineprotocol.Decode(body, &batch, lineprotocol.Options{}, func(e columnar.LineError) { lerr = append(lerr, e) })
		if len(lerr) > 0 {
			b.Fatalf("line protocol: %v", lerr[0])
		}
		if _, err := eng.Write("benchmark", &batch); err != nil {
			b.Fatal(err)
		}
		body = body[:0]
	}
	if err := ds.Generate(func(chunk []byte) error {
		if body = append(body, chunk...); len(body) > 4<<20 {
			write()
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	write()
	if err := eng.Flush(); err != nil {
		b.Fatal(err)
	}
	types := []string{"single-groupby-1-1-1", "single-groupby-1-1-12", "single-groupby-1-8-1", "double-groupby-1"}
	if v := os.Getenv("SILT_BENCH_TYPES"); v != "" {
		types = strings.Split(v, ",")
	}
	const perType = 5
	qs, err := bench.NewQueryGen(100, start, end, 123).Generate(types, perType)
	if err != nil {
		b.Fatal(err)
	}
	schemas, _ := eng.Tables("benchmark")
	cat, names := Catalog(schemas)
	src := EngineSource{Engine: eng, DB: "benchmark"}
	ctx := context.Background()
	for _, typ := range types {
		b.Run(typ, func(b *testing.B) {
			var plans []*sql.Query
			for _, q := range qs {
				if q.Type != typ {
					continue
				}
				p, err := sql.Compile(strings.TrimSuffix(q.Text("sql"), ";"), cat, end)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Run(ctx, p, src, names); err != nil {
					b.Fatal(err)
				}
				plans = append(plans, p)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				if _, err := Run(ctx, plans[i%len(plans)], src, names); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}
