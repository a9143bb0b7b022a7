package segment_test

import (
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/segment"
)

// BenchmarkHeadAppendDense measures Head.AppendHashed as the engine calls
// it under its lock, on a dense live stream: TSBS cpu rows of 100 hosts a
// millisecond apart, as a dashboard's loaders write them, so that every
// sealed block (8192 rows, 82 ms) keeps one-second partials
// (head_block_rollup.go). cpu-ns/row is the process CPU per appended row,
// blocks' seals included; parts-ns/row the CPU a first reader then spends
// folding the rollups' parts the writer left (0 where the writer folded
// them itself, parts=seal). parts=queued is the server's way: the writer
// hands a View of each seal to the background folder (here a queue that
// folds after the appends, so that its CPU is not counted in theirs).
// rollups/op counts the block and span rollups.
func BenchmarkHeadAppendDense(b *testing.B) {
	const denseHosts, denseIntervals = 100, 2000
	g := bench.NewCPU(denseHosts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond, 1)
	var body []byte
	for i := 0; i < denseIntervals; i++ {
		body = g.AppendInterval(body)
	}
	var batch columnar.Batch
	lineprotocol.Decode(body, &batch, lineprotocol.Options{}, nil)
	s := columnar.NewTableSchema()
	hashes := make([]uint64, len(batch.Rows))
	var key []byte
	for r := range batch.Rows {
		if err := s.Admit(&batch, &batch.Rows[r]); err != nil {
			b.Fatal(err)
		}
		hashes[r], key = segment.RowTagsHash(key, &batch, &batch.Rows[r])
	}
	for _, mode := range []struct {
		name string
		mode int
	}{{"reader", segment.PartsByReader}, {"queued", segment.PartsQueued}, {"seal", segment.PartsAtSeal}} {
		b.Run("parts="+mode.name, func(b *testing.B) {
			defer segment.SetBlockParts(mode.mode)()
			var cpu, parts time.Duration
			rows, rollups := 0, 0
			for i := 0; i < b.N; i++ {
				h := segment.NewHead(s)
				before := processCPU(b)
				for r := range batch.Rows {
					h.AppendHashed(&batch, &batch.Rows[r], r > 0, hashes[r])
				}
				mid := processCPU(b)
				rollups += segment.FoldPendingParts(h)
				cpu += mid - before
				parts += processCPU(b) - mid
				rows += len(batch.Rows)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(rows), "cpu-ns/row")
			b.ReportMetric(float64(parts.Nanoseconds())/float64(rows), "parts-ns/row")
			b.ReportMetric(float64(rollups)/float64(b.N), "rollups/op")
		})
	}
}
