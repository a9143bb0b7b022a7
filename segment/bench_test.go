package segment_test

import (
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/segment"
)

const hosts, intervals = 1000, 200

// cpuBatch decodes hosts × intervals TSBS cpu rows.
func cpuBatch() *columnar.Batch {
	g := bench.NewCPU(hosts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Second, 1)
	var body []byte
	for i := 0; i < intervals; i++ {
		body = g.AppendInterval(body)
	}
	var batch columnar.Batch
	lineprotocol.Decode(body, &batch, lineprotocol.Options{}, nil)
	return &batch
}

// BenchmarkFlush measures turning a head of TSBS cpu rows (1000 hosts,
// arrival order) into a Parquet segment: sort, dedupe, encode, zstd, fsync.
// rows/s is the sustained ingest rate a flush can keep up with; cpu-ns/row
// is the process CPU time (garbage collection included) the flushes took,
// which, unlike the wall clock, a busy machine does not inflate.
func BenchmarkFlush(b *testing.B) {
	batch := cpuBatch()
	dir := b.TempDir()
	var id uint64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := columnar.NewTableSchema()
		h := segment.NewHead(s)
		for r := range batch.Rows {
			if err := s.Admit(batch, &batch.Rows[r]); err != nil {
				b.Fatal(err)
			}
			h.Append(batch, &batch.Rows[r], r > 0)
		}
		b.StartTimer()
		before := processCPU(b)
		if _, err := segment.WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id }); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - before
	}
	b.ReportMetric(float64(b.N*hosts*intervals)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*hosts*intervals), "cpu-ns/row")
}

// processCPU returns the user and system CPU time the process has used.
var processCPU = segment.ProcessCPU

func BenchmarkFlushBytes(b *testing.B) {
	batch := cpuBatch()
	s := columnar.NewTableSchema()
	h := segment.NewHead(s)
	for r := range batch.Rows {
		_ = s.Admit(batch, &batch.Rows[r])
		h.Append(batch, &batch.Rows[r], r > 0)
	}
	ms, err := segment.WriteSegments(b.TempDir(), "db", "cpu", h, func() uint64 { return 1 })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(ms[0].Bytes)/float64(hosts*intervals*10), "bytes/value")
}

// BenchmarkHeadAppend measures ingest into the head: TSBS cpu rows (1000
// hosts, ten float fields) appended to a head that grows to a million rows
// an op, the size at which re-growing whole columns would copy tens of
// megabytes. ns/row is the append cost per row.
func BenchmarkHeadAppend(b *testing.B) {
	batch := cpuBatch()
	const rows = 1_000_000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := columnar.NewTableSchema()
		h := segment.NewHead(s)
		for n := 0; n < rows; n += len(batch.Rows) {
			for r := range batch.Rows {
				row := batch.Rows[r]
				row.Time += int64(n) * int64(time.Second) // later rounds stay in time order
				if err := s.Admit(batch, &row); err != nil {
					b.Fatal(err)
				}
				h.Append(batch, &row, r > 0)
			}
		}
		if i == b.N-1 {
			b.ReportMetric(float64(h.Bytes())/float64(h.Len()), "headbytes/row")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkHeadAppendRows measures Append alone, as the engine calls it
// under its lock (rows admitted before the timer starts): TSBS cpu rows of
// series the head already holds, the steady state of a live head. cpu-ns/row
// is the process CPU time per row, which a busy machine does not inflate.
func BenchmarkHeadAppendRows(b *testing.B) {
	batch := cpuBatch()
	s := columnar.NewTableSchema()
	for r := range batch.Rows {
		if err := s.Admit(batch, &batch.Rows[r]); err != nil {
			b.Fatal(err)
		}
	}
	rows := 0
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := segment.NewHead(s)
		for r := range batch.Rows {
			h.Append(batch, &batch.Rows[r], r > 0) // the series, before the timed rounds
		}
		b.StartTimer()
		before := processCPU(b)
		for round := 1; round <= 4; round++ {
			for r := range batch.Rows {
				row := batch.Rows[r]
				row.Time += int64(round*intervals) * int64(10*time.Second) // later rounds stay in time order
				h.Append(batch, &row, r > 0)
			}
			rows += len(batch.Rows)
		}
		cpu += processCPU(b) - before
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(rows), "cpu-ns/row")
}

// BenchmarkHeadAppendRowsHashed is BenchmarkHeadAppendRows with each row's
// tag hash computed before the timer, as a write computes it before the
// engine lock (Head.AppendHashed): the CPU per row left under the lock.
func BenchmarkHeadAppendRowsHashed(b *testing.B) {
	batch := cpuBatch()
	s := columnar.NewTableSchema()
	hashes := make([]uint64, len(batch.Rows))
	var key []byte
	for r := range batch.Rows {
		if err := s.Admit(batch, &batch.Rows[r]); err != nil {
			b.Fatal(err)
		}
		hashes[r], key = segment.RowTagsHash(key, batch, &batch.Rows[r])
	}
	rows := 0
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := segment.NewHead(s)
		for r := range batch.Rows {
			h.AppendHashed(batch, &batch.Rows[r], r > 0, hashes[r]) // the series, before the timed rounds
		}
		b.StartTimer()
		before := processCPU(b)
		for round := 1; round <= 4; round++ {
			for r := range batch.Rows {
				row := batch.Rows[r]
				row.Time += int64(round*intervals) * int64(10*time.Second) // later rounds stay in time order
				h.AppendHashed(batch, &row, r > 0, hashes[r])
			}
			rows += len(batch.Rows)
		}
		cpu += processCPU(b) - before
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(rows), "cpu-ns/row")
}
