package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/segment"
)

// Gauges for the console's Status view (and any dashboard): what bounds
// the head, the work compaction and tiering have before them, and the
// rollup widths. They are read from the engine's configuration and its
// in-memory manifest at each scrape: nothing is kept between scrapes.

// registerStatusMetrics adds the gauges to eng's registry.
func registerStatusMetrics(eng *engine.Engine) {
	cfg := eng.Config()
	reg := eng.Metrics().Registry
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_head_max_bytes",
		Help: "The bound of silt_head_bytes (--max-head-bytes): above it writes get 429 head-full."},
		func() float64 { return float64(eng.Config().MaxHeadBytes) }))

	// With --compaction.disabled nothing runs the merges: the backlog
	// shows what piles up.
	backlog := eng.CompactionBacklog
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_compaction_backlog_windows",
			Help: "Table windows whose segments compaction's policy would merge now (its backlog)."},
			func() float64 { w, _ := backlog(); return float64(w) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_compaction_backlog_segments",
			Help: "Segments those merges would take in."},
			func() float64 { _, n := backlog(); return float64(n) }))

	if cfg.Tiering.Tier != nil && !cfg.Tiering.ReadOnly {
		after := cfg.Tiering.After
		if after <= 0 {
			after = 24 * time.Hour
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_tier_backlog_segments",
			Help: "Local segments of windows that ended more than --tier.after ago: tiering's backlog (a window still being compacted waits for it)."},
			func() float64 {
				limit := time.Now().Add(-after).UnixNano()
				n := 0
				for _, s := range eng.Manifest().Segments {
					if !s.Cold() && segment.WindowOf(s.MinTime)+int64(segment.WindowDuration) <= limit {
						n++
					}
				}
				return float64(n)
			}))
	}

	widths := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "silt_rollup_width_seconds",
		Help: "The rollup widths kept for every segment (--rollups), one series each, labeled in seconds (\"60s\")."}, []string{"width"})
	for _, w := range eng.RollupWidths() {
		sec := time.Duration(w).Seconds()
		widths.WithLabelValues(strconv.FormatFloat(sec, 'f', -1, 64) + "s").Set(sec)
	}
	reg.MustRegister(widths)
}
