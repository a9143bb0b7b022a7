package server

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/segment"
)

// Gauges for the console's Status view (and any dashboard): what bounds
// the head, the work compaction and tiering have before them, and the
// rollup widths. They are read from the engine's configuration and its
// in-memory manifest at each scrape: nothing is kept between scrapes.

// statusWindow is one table's day window of raw segments.
type statusWindow struct{ db, table, window string }

// registerStatusMetrics adds the gauges to eng's registry.
func registerStatusMetrics(eng *engine.Engine) {
	cfg := eng.Config()
	reg := eng.Metrics().Registry
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_head_max_bytes",
		Help: "The bound of silt_head_bytes (--max-head-bytes): above it writes get 429 head-full."},
		func() float64 { return float64(eng.Config().MaxHeadBytes) }))

	// With --compaction.disabled nothing runs the merges: the backlog
	// shows what piles up.
	backlog := func() (windows, segments int) {
		for _, segs := range rawWindows(eng) {
			if slices.ContainsFunc(segs, segment.SegmentMeta.Cold) {
				continue // tiered windows are not merged
			}
			plan := make([]compaction.Seg, len(segs))
			for i, s := range segs {
				plan[i] = compaction.Seg{Rows: s.Rows, MinTime: s.MinTime, MaxTime: s.MaxTime}
			}
			if from := cfg.Compaction.Policy.Plan(plan); from < len(segs) {
				windows++
				segments += len(segs) - from
			}
		}
		return windows, segments
	}
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

// rawWindows groups the manifest's raw (not rollup) segments by window,
// each in write (id) order, as compaction plans them.
func rawWindows(eng *engine.Engine) map[statusWindow][]segment.SegmentMeta {
	out := map[statusWindow][]segment.SegmentMeta{}
	for _, s := range eng.Manifest().Segments {
		if s.IsRollup() {
			continue
		}
		k := statusWindow{s.DB, s.Table, s.Window}
		out[k] = append(out[k], s)
	}
	for _, segs := range out {
		slices.SortFunc(segs, func(a, b segment.SegmentMeta) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out
}
