package segment_test

import (
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// stampedHead is BenchmarkFlush's head with a write stamp per 5,000 rows
// (Telegraf-sized write batches), or none.
func stampedHead(batch *columnar.Batch, stamped bool) *segment.Head {
	s := columnar.NewTableSchema()
	h := segment.NewHead(s)
	st := int64(1_765_000_000_000_000_000)
	for r := range batch.Rows {
		_ = s.Admit(batch, &batch.Rows[r])
		if stamped && r%5000 == 0 {
			st += 1_000_003
			h.StampNext(st)
		}
		h.Append(batch, &batch.Rows[r], r > 0)
	}
	return h
}

// BenchmarkFlushStamps is BenchmarkFlush and BenchmarkFlushBytes with and
// without the stamp column: what per-point write stamps cost a flush, in
// CPU per row and bytes per row.
func BenchmarkFlushStamps(b *testing.B) {
	batch := cpuBatch()
	for _, c := range []struct {
		name    string
		stamped bool
	}{{"unstamped", false}, {"stamped", true}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			var id uint64
			var cpu, bytes int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h := stampedHead(batch, c.stamped)
				b.StartTimer()
				before := processCPU(b)
				ms, err := segment.WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
				if err != nil {
					b.Fatal(err)
				}
				cpu += int64(processCPU(b) - before)
				bytes = ms[0].Bytes
			}
			rows := float64(hosts * intervals)
			b.ReportMetric(float64(cpu)/float64(b.N)/rows, "cpu-ns/row")
			b.ReportMetric(float64(bytes)/rows, "bytes/row")
		})
	}
}
