package engine

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
)

// BenchmarkOpenScanUnderWrites: what a panel's query does in the engine
// before reading a row — RollupWidthsIn (headOverlaps), TimeBounds and
// OpenScanRange, then Close — while four writers write 500-row batches,
// each holding the engine's lock for its WAL append and head appends, a
// call every 200 µs as in BenchmarkTablesUnderWrites. p50-ns and p99-ns
// are the calls' latencies: under the lock they queued behind the
// writers' critical sections; from the published heads view
// (heads_pub.go) they are the snapshot's own cost.
//
//	go test ./engine -run '^$' -bench OpenScanUnderWrites -benchtime 5000x -count 3
func BenchmarkOpenScanUnderWrites(b *testing.B) {
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
	for i := range b.N {
		table := fmt.Sprintf("t%d", i%tables)
		t0 := time.Now()
		widths := e.RollupWidthsIn("db", table, 0, math.MaxInt64)
		if _, _, ok := e.TimeBounds("db", table); !ok {
			b.Fatalf("no time bounds for %s", table)
		}
		ts, err := e.OpenScanRange("db", table, 0, math.MaxInt64)
		if err != nil {
			b.Fatal(err)
		}
		if err := ts.Close(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		if len(widths) == 0 {
			b.Fatalf("no rollup widths for %s with rows in its head", table)
		}
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

// BenchmarkPublishWrite: what publishing a write's head costs the writer
// inside its critical section (a View of the head and its slot's store),
// for a TSBS cpu-like table of 10 tags and 10 fields. The cost is per
// write and per table written, not per row.
//
//	go test ./engine -run '^$' -bench PublishWrite
func BenchmarkPublishWrite(b *testing.B) {
	e, err := Open(testConfig(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	var batch columnar.Batch
	for r := range 5000 {
		batch.StartRow([]byte("cpu"), r+1)
		for k := range 10 {
			batch.AddTag([]byte(fmt.Sprintf("tag%d", k)), []byte(fmt.Sprintf("v%d", (r+k)%100)))
		}
		for k := range 10 {
			batch.AddFloat([]byte(fmt.Sprintf("f%d", k)), float64(r*k))
		}
		batch.EndRow(int64(r) * int64(time.Second))
	}
	if _, err := e.Write("db", &batch); err != nil {
		b.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.heads["db"]["cpu"]
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.touchLocked(h, "cpu")
		e.publishWriteLocked("db")
	}
}
