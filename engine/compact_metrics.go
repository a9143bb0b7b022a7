package engine

import (
	"github.com/prometheus/client_golang/prometheus"
)

// compactionMetrics are the compactor's and retention's metrics, on the
// engine's registry.
type compactionMetrics struct {
	Runs              prometheus.Counter
	SegmentsIn        prometheus.Counter
	SegmentsOut       prometheus.Counter
	RowsIn, RowsOut   prometheus.Counter
	BytesIn, BytesOut prometheus.Counter
	Errors            *prometheus.CounterVec // by class: retry, halt
	Halted            prometheus.Gauge
	Duration          prometheus.Histogram
	RetentionDrops    prometheus.Counter
	RetentionBytes    prometheus.Counter
	RetentionTrims    prometheus.Counter
	WindowSegmentsMax prometheus.GaugeFunc
	Windows           prometheus.GaugeFunc
	PendingDeletes    prometheus.GaugeFunc
}

func newCompactionMetrics(e *Engine) *compactionMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &compactionMetrics{
		Runs:        c("silt_compactions_total", "Merges committed (including retention trims)."),
		SegmentsIn:  c("silt_compaction_segments_in_total", "Segments replaced by merges."),
		SegmentsOut: c("silt_compaction_segments_out_total", "Segments written by merges."),
		RowsIn:      c("silt_compaction_rows_in_total", "Rows of the segments merges replaced."),
		RowsOut:     c("silt_compaction_rows_out_total", "Rows merges wrote (inputs less duplicates and expired rows)."),
		BytesIn:     c("silt_compaction_bytes_in_total", "Bytes of the segments merges read."),
		BytesOut:    c("silt_compaction_bytes_out_total", "Bytes of the segments merges wrote."),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "silt_compaction_errors_total",
			Help: "Compaction and retention errors by class: retry (backoff, tried again) or halt (the window is left alone until restart)."},
			[]string{"class"}),
		Halted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "silt_compaction_halted_windows",
			Help: "Windows whose compaction halted on a corrupt or inconsistent input."}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "silt_compaction_seconds",
			Help: "Duration of merges.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		RetentionDrops: c("silt_retention_dropped_segments_total", "Segments dropped because all their rows expired."),
		RetentionBytes: c("silt_retention_dropped_bytes_total", "Bytes of segments dropped by retention."),
		RetentionTrims: c("silt_retention_trims_total", "Window rewrites that removed expired rows of a partly expired window."),
	}
	m.WindowSegmentsMax = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_window_segments_max",
		Help: "Most live segments in one table window (compaction keeps it bounded, see docs/compaction.md)."},
		func() float64 { mx, _ := e.windowStats(); return float64(mx) })
	m.Windows = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_windows",
		Help: "Table windows with live segments (silt_segments_live / silt_windows is the mean per window)."},
		func() float64 { _, n := e.windowStats(); return float64(n) })
	m.PendingDeletes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_segments_pending_delete",
		Help: "Replaced segments kept on disk until the scans reading them close."},
		func() float64 { return float64(e.refs.pending()) })
	e.metrics.Registry.MustRegister(m.Runs, m.SegmentsIn, m.SegmentsOut, m.RowsIn, m.RowsOut, m.BytesIn, m.BytesOut,
		m.Errors, m.Halted, m.Duration, m.RetentionDrops, m.RetentionBytes, m.RetentionTrims,
		m.WindowSegmentsMax, m.Windows, m.PendingDeletes)
	m.Errors.WithLabelValues("retry")
	m.Errors.WithLabelValues("halt")
	return m
}

// windowStats returns the most segments in one window and the number of
// windows.
func (e *Engine) windowStats() (maxSegs, windows int) {
	count := map[windowKey]int{}
	for _, s := range e.Manifest().Segments {
		if s.IsRollup() {
			continue
		}
		k := windowKey{s.DB, s.Table, s.Window}
		count[k]++
		maxSegs = max(maxSegs, count[k])
	}
	return maxSegs, len(count)
}
