package engine

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
)

// BenchmarkTablesUnderWrites: Tables (every query's planning) while four
// writers write 500-row batches, each holding the engine's lock for its
// WAL append and head appends, as under the dashboard benchmark's
// loaders, a call every 200 µs. p50-ns and p99-ns are the calls' latencies: under the lock
// they were the writers' critical sections; read from the published
// catalog they are a map copy.
//
//	go test ./engine -run '^$' -bench TablesUnderWrites -benchtime 5000x -count 3
func BenchmarkTablesUnderWrites(b *testing.B) {
	cfg := testConfig(b.TempDir())
	cfg.FlushBytes = 32 << 20
	e, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	const writers, rows, tables = 4, 500, 20
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch columnar.Batch
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				batch.Reset()
				table := []byte(fmt.Sprintf("t%d", (w+i)%tables))
				for r := range rows {
					batch.StartRow(table, r+1)
					batch.AddTag([]byte("host"), []byte(fmt.Sprintf("h%d", r%50)))
					batch.AddFloat([]byte("v"), float64(r))
					batch.AddFloat([]byte("u"), float64(i))
					batch.EndRow(int64(i*rows+r) * int64(time.Millisecond))
				}
				if _, err := e.Write("db", &batch); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for {
		if t, _ := e.Tables("db"); len(t) == tables {
			break
		}
		time.Sleep(time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if t, ok := e.Tables("db"); !ok || len(t) != tables {
			b.Fatalf("Tables: %d tables, %v", len(t), ok)
		}
		lat = append(lat, time.Since(t0))
		// A panel's think time: the writers run between the calls, as
		// they do between a dashboard's queries.
		time.Sleep(200 * time.Microsecond)
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1]), "max-ns")
}
