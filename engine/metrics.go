package engine

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/siltdb/silt/engine/wal"
)

// Metrics are the engine's Prometheus metrics, registered on one registry
// per engine (no globals, so tests can open several engines).
type Metrics struct {
	Registry *prometheus.Registry

	RowsWritten     *prometheus.CounterVec // by db
	BytesIngested   prometheus.Counter
	RowsRejected    *prometheus.CounterVec // by reason code
	WALFsync        prometheus.Histogram
	WALCorrupt      prometheus.Counter
	HeadBytes       prometheus.GaugeFunc
	HeadRows        prometheus.GaugeFunc
	SegmentsFlushed prometheus.Counter
	SegmentBytes    prometheus.Counter
	FlushErrors     prometheus.Counter
	// Quarantine (quarantine.go): batches moved aside because they could
	// not be flushed or replayed, and the entries present in the data dir.
	QuarantinedBatches prometheus.Counter
	QuarantinedRows    prometheus.Counter
	QuarantineEntries  prometheus.Gauge
	// FlushesRefusedBySource counts flushes a stream source stopped
	// because their rows include some another node now owns.
	FlushesRefusedBySource prometheus.Counter
	FlushDuration          prometheus.Histogram
	Backpressure           prometheus.Counter
	LiveSegments           prometheus.GaugeFunc
	WALBytes               prometheus.GaugeFunc
	// RaggedPieces counts the ragged ends of rollup scans (scan_ragged.go)
	// by what answered them: "partials" (the window's rollup row) or
	// "rows" (some series straddled the edge: read from rows).
	RaggedPieces *prometheus.CounterVec
}

func newMetrics(e *Engine) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		RowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_rows_written_total", Help: "Rows acknowledged (durable in the WAL)."}, []string{"db"}),
		BytesIngested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_ingest_bytes_total", Help: "Request body bytes received by ingest endpoints (after gzip)."}),
		RowsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_rows_rejected_total", Help: "Input lines rejected, by reason code."}, []string{"code"}),
		WALFsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "silt_wal_fsync_seconds", Help: "Latency of WAL fsyncs (one per group commit).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16)}),
		WALCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_wal_corrupt_records_total", Help: "Corrupt WAL stretches skipped during replay."}),
		SegmentsFlushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_segments_flushed_total", Help: "Segments written by head flushes."}),
		SegmentBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_segment_bytes_flushed_total", Help: "Bytes of segments written by head flushes."}),
		FlushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_flush_errors_total", Help: "Head flushes that failed and will be retried."}),
		QuarantinedBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_quarantined_batches_total", Help: "Batches of rows moved to the quarantine because they could not be flushed or replayed ('silt check' lists them)."}),
		QuarantinedRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_quarantined_rows_total", Help: "Rows moved to the quarantine."}),
		QuarantineEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "silt_quarantine_entries", Help: "Quarantined batches present in the data directory's quarantine."}),
		FlushesRefusedBySource: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_flushes_refused_by_source_total",
			Help: "Flushes refused because a stream source lost partitions with rows the group had not confirmed (retried after the rows are dropped)."}),
		FlushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "silt_flush_seconds", Help: "Duration of head flushes.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		Backpressure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_backpressure_rejections_total", Help: "Writes refused with 429 because the head was full."}),
		RaggedPieces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_scan_ragged_pieces_total",
			Help: "Pieces of a rollup window at the ends of a query's time range, by what answered them: partials (the window's rollup row) or rows (a series' rows straddled the edge)."}, []string{"answer"}),
	}
	m.HeadBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "silt_head_bytes", Help: "Estimated memory held by heads, including heads being flushed."},
		func() float64 { return float64(e.HeadBytes()) })
	m.HeadRows = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "silt_head_rows", Help: "Rows in heads not yet flushed."},
		func() float64 { return float64(e.headRows.Load()) })
	m.LiveSegments = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "silt_segments_live", Help: "Segments listed in the manifest, rollup segments included."},
		func() float64 { return float64(len(e.Manifest().Segments)) })
	m.WALBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "silt_wal_bytes", Help: "Bytes in WAL files (data not yet in segments, plus the file being written)."},
		func() float64 {
			if w := e.walForMetrics(); w != nil {
				return float64(w.Size())
			}
			return 0
		})
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.MustRegister(m.RowsWritten, m.BytesIngested, m.RowsRejected, m.WALFsync, m.WALCorrupt,
		m.HeadBytes, m.HeadRows, m.SegmentsFlushed, m.SegmentBytes, m.FlushErrors, m.QuarantinedBatches, m.QuarantinedRows, m.QuarantineEntries, m.FlushesRefusedBySource, m.FlushDuration,
		m.Backpressure, m.LiveSegments, m.WALBytes, m.RaggedPieces)
	return m
}

// walMetrics adapts Metrics to wal.Metrics.
type walMetrics struct{ h prometheus.Histogram }

func (w walMetrics) ObserveFsync(d time.Duration) { w.h.Observe(d.Seconds()) }

// walForMetrics returns the WAL once recovered (nil before and after
// Close). It takes no lock: a /metrics scrape must not wait behind writes
// and flushes holding e.mu, nor hold them up. Recover sets e.wal, once,
// before it publishes ready, and nothing sets it again, so a scrape that
// finds ready set reads the WAL Recover opened.
func (e *Engine) walForMetrics() *wal.WAL {
	if !e.ready.Load() {
		return nil
	}
	return e.wal
}

// LabelValue makes s safe as a Prometheus label value: the client library
// panics on invalid UTF-8, and label values often come from requests (a
// database name), so one hostile name must not take the process down after
// its write was made durable. Invalid bytes become U+FFFD; a valid s is
// returned as is, without allocating.
func LabelValue(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
