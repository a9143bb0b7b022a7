package engine

import (
	"github.com/prometheus/client_golang/prometheus"
)

// tierMetrics are the tiering loop's metrics, on the engine's registry
// (the object store's own, silt_objstore_*, come from the tiering layer).
type tierMetrics struct {
	Segments  prometheus.Counter
	Bytes     prometheus.Counter
	Failures  *prometheus.CounterVec
	Deletes   prometheus.Counter
	ColdOpens prometheus.Counter
	// GoneRetries and GoneFailures count queries run again because an
	// object they read was gone from the store, and those that still
	// failed (RetryGone, gone.go).
	GoneRetries  prometheus.Counter
	GoneFailures prometheus.Counter
}

func newTierMetrics(e *Engine) *tierMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &tierMetrics{
		Segments: c("silt_tier_segments_total", "Segments moved to the object store (uploaded, verified, marked cold)."),
		Bytes:    c("silt_tier_bytes_total", "Bytes of the segments moved to the object store."),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "silt_tier_failures_total",
			Help: "Tiering passes that failed, by class (unavailable: retried with backoff; commit: local manifest)."},
			[]string{"class"}),
		Deletes:   c("silt_tier_bucket_deletes_total", "Objects deleted in the bucket after retention or compaction retired their segments."),
		ColdOpens: c("silt_tier_cold_opens_total", "Cold segments opened for queries (footer read through the footer cache or one GET)."),
		GoneRetries: c("silt_query_object_gone_retries_total",
			"Queries run again, on reloaded manifests, because an object they read was gone from the object store (replaced by a writer after --tier.delete-grace)."),
		GoneFailures: c("silt_query_object_gone_failures_total",
			"Queries that failed because an object they read was gone, after their retries or once part of a streamed answer was sent."),
	}
	cold := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_tier_cold_segments", Help: "Segments held in the object store."},
		func() float64 {
			n := 0
			for _, s := range e.Manifest().Segments {
				if s.Cold() {
					n++
				}
			}
			return float64(n)
		})
	// The deletes in the ledger: waiting for their --tier.delete-grace,
	// for a scan that still reads them, or for a pass that can delete.
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_tier_bucket_pending_deletes",
		Help: "Objects in the bucket no segment names any more, not deleted yet (within --tier.delete-grace, still read, or deletes failing)."},
		func() float64 {
			if l := e.Manifest().Bucket; l != nil {
				return float64(len(l.Deletes))
			}
			return 0
		})
	e.metrics.Registry.MustRegister(m.Segments, m.Bytes, m.Failures, m.Deletes, m.ColdOpens, m.GoneRetries, m.GoneFailures, cold, pending)
	return m
}
