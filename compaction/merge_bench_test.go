package compaction_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/segment"
)

const (
	benchHosts     = 1000
	benchIntervals = 100 // per input segment
	benchInputs    = 8
)

// writeInputs writes benchInputs segments of TSBS cpu rows (1000 hosts, 100
// intervals each, consecutive in time: every input holds every series, so
// the merge interleaves all of them), plus one that rewrites every tenth
// interval of the first input (duplicates to resolve). Returns the paths,
// oldest first, the schema and the total rows.
func writeInputs(b *testing.B, dir string) ([]string, *columnar.TableSchema, int64) {
	g := bench.NewCPU(benchHosts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Second, 1)
	schema := columnar.NewTableSchema()
	var paths []string
	var rows int64
	var id uint64
	var first []byte
	write := func(body []byte) {
		var batch columnar.Batch
		lineprotocol.Decode(body, &batch, lineprotocol.Options{}, nil)
		h := segment.NewHead(schema)
		for r := range batch.Rows {
			if err := schema.Admit(&batch, &batch.Rows[r]); err != nil {
				b.Fatal(err)
			}
			h.Append(&batch, &batch.Rows[r], false)
		}
		ms, err := segment.WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range ms {
			paths = append(paths, filepath.Join(dir, m.Path))
			rows += m.Rows
		}
	}
	for s := 0; s < benchInputs; s++ {
		var body []byte
		for i := 0; i < benchIntervals; i++ {
			start := len(body)
			body = g.AppendInterval(body)
			if s == 0 && i%10 == 0 {
				first = append(first, body[start:]...)
			}
		}
		write(body)
	}
	write(first)
	return paths, schema, rows
}

// BenchmarkMerge merges 9 segments (830k TSBS cpu rows, 21 columns) into
// one with the default memory bound (256 MiB) and reports rows/s of input
// and the process's peak RSS during the merge (MiB, including the Go
// runtime's baseline). -merge-memory is not a flag: set SILT_MERGE_MEMORY
// (bytes) to try other bounds.
func BenchmarkMerge(b *testing.B) {
	dir := b.TempDir()
	paths, schema, rows := writeInputs(b, dir)
	mem := int64(256 << 20)
	if v, err := strconv.ParseInt(os.Getenv("SILT_MERGE_MEMORY"), 10, 64); err == nil {
		mem = v
	}
	cfg := compaction.Config{MemoryBytes: mem, TargetRows: compaction.DefaultPolicy.TargetRows}
	var inBytes int64
	for _, p := range paths {
		fi, _ := os.Stat(p)
		inBytes += fi.Size()
	}
	b.SetBytes(inBytes)
	b.ReportAllocs()
	var peak int64
	var fanIn int
	base := bench.PeakRSS()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bench.ResetPeakRSS()
		base = min(base, bench.PeakRSS())
		out := uint64(1000 + i*10)
		job := compaction.Job{DB: "db", Table: "cpu", Inputs: paths, TagOrder: schema.Tags, Schema: schema,
			DropBefore: -1 << 63,
			NewOutput: func() (uint64, string) {
				out++
				return out, filepath.Join(dir, fmt.Sprintf("out-%d.parquet", out))
			},
			RunPath: func(k int) string { return filepath.Join(dir, fmt.Sprintf("run-%d-%d.tmp", i, k)) },
		}
		b.StartTimer()
		outs, st, err := compaction.Merge(context.Background(), cfg, job)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		peak = max(peak, bench.PeakRSS())
		fanIn = st.FanIn
		if st.RowsOut != rows-int64(benchHosts*benchIntervals/10) {
			b.Fatalf("merged %d rows, want %d (inputs less the duplicates)", st.RowsOut, rows-int64(benchHosts*benchIntervals/10))
		}
		for _, o := range outs {
			_ = os.Remove(o.Meta.Path)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(int64(b.N)*rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(base)/(1<<20), "base-RSS-MiB")
	b.ReportMetric(float64(fanIn), "fan-in")
}
