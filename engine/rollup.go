package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// RollupConfig says which rollups the engine keeps (segment/rollup.go):
// one rollup segment per width for every raw segment it writes.
type RollupConfig struct {
	// Widths are the window widths, each dividing a day (so windows never
	// straddle a segment's day window). Nil means DefaultRollups.
	Widths []time.Duration
	// Disabled keeps no rollups (--rollups=off).
	Disabled bool
	// MinRowsPerWindow: a segment gets a rollup of a width only when its
	// windows would hold at least this many rows each on average (0:
	// DefaultMinRowsPerWindow). A rollup row carries nine columns per
	// field, so sparser windows cost more bytes than the raw rows and save
	// little reading: 1m windows of 10 s data hold 6 rows.
	MinRowsPerWindow int64
}

// DefaultMinRowsPerWindow keeps a rollup where it reads at least ten times
// fewer rows than the raw data.
const DefaultMinRowsPerWindow = 10

// DefaultRollups are the widths kept unless configured: ten seconds for
// live dashboards over dense data (Grafana's 10 s and 30 s intervals over
// the last minutes, which otherwise fold every recent row on each
// refresh), a minute for dashboards over hours, an hour for dashboards
// over weeks. Each is kept only where its windows are dense
// (MinRowsPerWindow): data written every 10 s gets none of 10 s.
var DefaultRollups = []time.Duration{10 * time.Second, time.Minute, time.Hour}

func (c *RollupConfig) defaults() {
	if c.Widths == nil {
		c.Widths = DefaultRollups
	}
	if c.MinRowsPerWindow <= 0 {
		c.MinRowsPerWindow = DefaultMinRowsPerWindow
	}
}

// denseWidths returns the widths whose windows over raw would hold at
// least MinRowsPerWindow rows on average (counting every series in every
// window the segment spans: an overestimate of the windows, so sparse
// data errs toward no rollup).
func (c RollupConfig) denseWidths(raw segment.SegmentMeta, widths []int64) []int64 {
	var out []int64
	for _, w := range widths {
		windows := max(int64(raw.Series), 1) * (segment.WindowStart(raw.MaxTime, w)/w - segment.WindowStart(raw.MinTime, w)/w + 1)
		if raw.Rows >= c.MinRowsPerWindow*windows {
			out = append(out, w)
		}
	}
	return out
}

// ParseRollups reads rollup widths: comma-separated durations ("1m,1h"), or
// "off" (or "") for none.
func ParseRollups(s string) (RollupConfig, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "off") || strings.EqualFold(s, "none") {
		return RollupConfig{Disabled: true}, nil
	}
	var c RollupConfig
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return c, fmt.Errorf("bad rollup width %q: %w", part, err)
		}
		if err := checkRollupWidth(d); err != nil {
			return c, err
		}
		c.Widths = append(c.Widths, d)
	}
	slices.Sort(c.Widths)
	c.Widths = slices.Compact(c.Widths)
	return c, nil
}

func checkRollupWidth(d time.Duration) error {
	if d < time.Second || segment.WindowDuration%d != 0 {
		return fmt.Errorf("bad rollup width %s: it must be at least 1s and divide %s", d, segment.WindowDuration)
	}
	return nil
}

// RollupWidths returns the widths of the rollups kept, in nanoseconds,
// smallest first; nil when rollups are off.
func (e *Engine) RollupWidths() []int64 {
	if e.cfg.Rollups.Disabled {
		return nil
	}
	out := make([]int64, 0, len(e.cfg.Rollups.Widths))
	for _, w := range e.cfg.Rollups.Widths {
		out = append(out, int64(w))
	}
	slices.Sort(out)
	return out
}

// RollupWidthsIn returns the widths of which db.table has rollup segments
// overlapping [minT, maxT) (maxT == MaxInt64: unbounded), smallest first:
// what a scan of that range could read. Heads fold partials of any width
// as they are read (Head.ScanRollup), so a head in the range offers every
// configured width.
func (e *Engine) RollupWidthsIn(db, table string, minT, maxT int64) []int64 {
	if e.cfg.Rollups.Disabled {
		return nil
	}
	span := timeSpan{minT, maxT}
	if e.headOverlaps(db, table, span) {
		out := append(e.RollupWidths(), headRollupWidths...)
		slices.Sort(out)
		return slices.Compact(out)
	}
	var out []int64
	for _, s := range e.Manifest().Segments {
		if s.IsRollup() && s.DB == db && s.Table == table && !slices.Contains(out, s.Rollup) &&
			span.overlaps(s.MinTime, s.MaxTime+s.Rollup-1) {
			out = append(out, s.Rollup)
		}
	}
	slices.Sort(out)
	return out
}

// rollupMetrics count rollup work.
type rollupMetrics struct {
	Windows  *prometheus.CounterVec // windows written, by cause: flush (new rows), compaction (rebuilt)
	Segments prometheus.Counter
	Bytes    prometheus.Counter
	Failures prometheus.Counter
}

func newRollupMetrics(r prometheus.Registerer) *rollupMetrics {
	m := &rollupMetrics{
		Windows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "silt_rollup_windows_written_total",
			Help: "Rollup windows written, by cause: flush (windows of new rows) or compaction (windows rebuilt after merging late and duplicate points)."},
			[]string{"cause"}),
		Segments: prometheus.NewCounter(prometheus.CounterOpts{Name: "silt_rollup_segments_written_total",
			Help: "Rollup segments written."}),
		Bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "silt_rollup_bytes_written_total",
			Help: "Bytes of rollup segments written."}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "silt_rollup_failures_total",
			Help: "Raw segments left without rollups because building them failed (queries read their rows instead)."}),
	}
	r.MustRegister(m.Windows, m.Segments, m.Bytes, m.Failures)
	m.Windows.WithLabelValues("flush")
	m.Windows.WithLabelValues("compaction")
	return m
}

// buildRollups writes the rollups of raws, local raw segments just
// written and not yet named by the manifest, and returns their metas (to
// commit with raws). A raw segment whose rollups fail is logged and left
// without: its rows still answer every query.
//
// flushed, if not nil, names for a segment ID the head whose flush wrote
// it and which of its segments it was: those rollups are built from the
// head's live partials, and its rows where no partial is exact, instead
// of reading the file back.
func (e *Engine) buildRollups(raws []segment.SegmentMeta, newID func() uint64, cause string, flushed map[uint64]flushedSegment) []segment.SegmentMeta {
	widths := e.RollupWidths()
	if len(widths) == 0 {
		return nil
	}
	var out []segment.SegmentMeta
	for _, raw := range raws {
		ws := e.cfg.Rollups.denseWidths(raw, widths)
		if len(ws) == 0 {
			continue
		}
		var ms []segment.SegmentMeta
		var windows int64
		err := catch(func() (err error) {
			ms, windows, err = e.rollupSegment(raw, ws, newID, flushed[raw.ID])
			return err
		})
		if err != nil {
			e.rollupM.Failures.Inc()
			e.log.Warn("segment left without rollups; queries read its rows", "segment", raw.Path, "err", err)
			continue
		}
		for _, m := range ms {
			e.rollupM.Segments.Inc()
			e.rollupM.Bytes.Add(float64(m.Bytes))
		}
		e.rollupM.Windows.WithLabelValues(cause).Add(float64(windows))
		out = append(out, ms...)
	}
	return out
}

// flushedSegment is a segment a flush just wrote: the i-th of head h's.
type flushedSegment struct {
	h *segment.Head
	i int
}

// rollupSegment writes raw's rollups, one segment per width, from the
// head that wrote it (from.h not nil) or by reading it.
func (e *Engine) rollupSegment(raw segment.SegmentMeta, widths []int64, newID func() uint64, from flushedSegment) (metas []segment.SegmentMeta, windows int64, err error) {
	var build func(outs []segment.RollupWriter) ([]int64, error)
	var schema *columnar.TableSchema
	if from.h != nil {
		schema = segment.RollupSchema(from.h.FlushedSchema())
		build = func(outs []segment.RollupWriter) ([]int64, error) {
			return segment.BuildFlushedRollups(from.h, from.i, widths, outs)
		}
	} else {
		seg, err := segment.OpenSegment(filepath.Join(e.cfg.DataDir, filepath.FromSlash(raw.Path)))
		if err != nil {
			return nil, 0, err
		}
		defer seg.Close()
		schema = segment.RollupSchema(seg.Info.Tags, seg.Info.Fields)
		build = func(outs []segment.RollupWriter) ([]int64, error) {
			return segment.BuildRollups(seg, widths, outs)
		}
	}
	sws := make([]*segment.SegmentWriter, len(widths))
	outs := make([]segment.RollupWriter, len(widths))
	ids := make([]uint64, len(widths))
	defer func() {
		if err != nil {
			for _, sw := range sws {
				if sw != nil {
					_ = sw.Abort()
				}
			}
			for _, m := range metas {
				_ = os.Remove(filepath.Join(e.cfg.DataDir, filepath.FromSlash(m.Path)))
			}
			metas = nil
		}
	}()
	for i := range widths {
		ids[i] = newID()
		path := segment.RollupPath(raw.DB, raw.Table, raw.Window, ids[i])
		// Batches of a page: the writer cuts pages and row groups at the
		// same rows whatever its batch, and a rollup row has nine columns
		// per field, so a row group's worth of pending values grew tens of
		// megabytes per writer on every flush.
		sw, err := segment.NewSegmentWriter(filepath.Join(e.cfg.DataDir, filepath.FromSlash(path)), raw.DB, raw.Table, schema, segment.PageRows)
		if err != nil {
			return nil, 0, err
		}
		sws[i], outs[i] = sw, sw
	}
	counts, err := build(outs)
	if err != nil {
		return nil, 0, err
	}
	for i, sw := range sws {
		sws[i] = nil
		if sw.Rows() == 0 {
			if err := sw.Abort(); err != nil {
				return nil, 0, err
			}
			continue
		}
		m, err := sw.Close()
		if err != nil {
			return nil, 0, err
		}
		m.ID, m.Window, m.Rollup, m.Of = ids[i], raw.Window, widths[i], raw.ID
		m.Path = segment.RollupPath(raw.DB, raw.Table, raw.Window, ids[i])
		metas = append(metas, m)
		windows += counts[i]
	}
	return metas, windows, nil
}

// withRollupsOf returns segs and the rollups of segs in m.
func withRollupsOf(m *manifest.Manifest, segs []segment.SegmentMeta) []segment.SegmentMeta {
	ids := map[uint64]bool{}
	for _, s := range segs {
		if !s.IsRollup() {
			ids[s.ID] = true
		}
	}
	out := slices.Clone(segs)
	for _, s := range m.Segments {
		if s.IsRollup() && ids[s.Of] && !slices.ContainsFunc(segs, func(x segment.SegmentMeta) bool { return x.ID == s.ID }) {
			out = append(out, s)
		}
	}
	return out
}

// headRollupWidths are the widths a head offers besides the configured
// ones: its partials cost nothing to keep, so every common dashboard
// interval (Grafana's $__interval steps) can read them.
var headRollupWidths = []int64{int64(time.Second), int64(5 * time.Second), int64(10 * time.Second), int64(15 * time.Second),
	int64(30 * time.Second), int64(time.Minute), int64(5 * time.Minute), int64(10 * time.Minute), int64(15 * time.Minute),
	int64(30 * time.Minute), int64(time.Hour)}

// headOverlaps reports whether an active or frozen head of db.table holds
// rows in span.
// It reads the published heads (heads_pub.go), not under the engine's lock.
func (e *Engine) headOverlaps(db, table string, span timeSpan) bool {
	return e.snapHeads().headOverlapsIn(db, table, span)
}
