package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// cutoff returns the first visible time of db under m's retention at now
// (ns), or math.MinInt64 when db keeps everything.
func (e *Engine) cutoff(m *manifest.Manifest, db string, now int64) int64 {
	r := int64(e.cfg.Retention)
	if d := m.Databases[db]; d != nil && d.Retention != 0 {
		r = d.Retention
	}
	if r <= 0 || now < math.MinInt64+r { // forever, or further back than time goes
		return math.MinInt64
	}
	return now - r
}

// VisibleMin returns the earliest time (ns) of db that queries may see: rows
// before it have expired under the database's retention and are invisible
// even before compaction trims them. math.MinInt64 means no retention.
// Scans clip their range to it.
func (e *Engine) VisibleMin(db string) int64 {
	return e.cutoff(e.Manifest(), db, time.Now().UnixNano())
}

// Retention returns db's retention: the database's own, or the server
// default (isDefault). 0 means data is kept forever. ok is false when db
// does not exist.
func (e *Engine) Retention(db string) (d time.Duration, isDefault, ok bool) {
	if !e.ready.Load() {
		return 0, false, false
	}
	if v := e.pub.view.Load(); v != nil { // catalog_pub.go: not under the engine's lock
		_, ok = v.dbs[db]
	}
	if !ok {
		return 0, false, false
	}
	dm := e.Manifest().Databases[db]
	switch {
	case dm == nil || dm.Retention == 0:
		return e.cfg.Retention, true, true
	case dm.Retention == manifest.RetentionInfinite:
		return 0, false, true
	}
	return time.Duration(dm.Retention), false, true
}

// SetRetention creates db if needed and sets its retention: d > 0 drops rows
// older than d, d == 0 keeps them forever (InfluxQL's DURATION INF),
// whatever the server default. The setting is durable (in the manifest)
// when SetRetention returns; the compactor drops expired windows at its next
// pass and queries stop seeing expired rows at once. For InfluxQL's CREATE
// RETENTION POLICY ... DEFAULT and POST /api/v1/databases.
func (e *Engine) SetRetention(db string, d time.Duration) error {
	return e.setDatabase(db, func(dm *manifest.DatabaseMeta) {
		dm.Retention = int64(d)
		if d <= 0 {
			dm.Retention = manifest.RetentionInfinite
		}
	})
}

// CreateDatabase creates db (with the server's default retention) if it
// does not exist; it is durable when CreateDatabase returns.
func (e *Engine) CreateDatabase(db string) error {
	return e.setDatabase(db, func(*manifest.DatabaseMeta) {})
}

func (e *Engine) setDatabase(db string, set func(*manifest.DatabaseMeta)) error {
	if !e.ready.Load() {
		return ErrNotReady
	}
	if e.tier != nil && e.tier.cfg.ReadOnly {
		return ErrReadOnly
	}
	if err := sink.ValidateName("database", db); err != nil {
		return err
	}
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	m := e.manifest.Load().Clone()
	dm := m.Databases[db]
	if dm == nil {
		dm = &manifest.DatabaseMeta{Created: time.Now().UnixNano()}
		m.Databases[db] = dm
	}
	set(dm)
	if m.Schemas[db] == nil {
		m.Schemas[db] = map[string]*columnar.TableSchema{}
	}
	if err := m.Commit(e.cfg.DataDir); err != nil {
		return fmt.Errorf("set database %s: commit manifest: %w", db, err)
	}
	e.mu.Lock()
	e.setManifestLocked(m)
	if e.catalog[db] == nil {
		e.catalog[db] = map[string]*columnar.TableSchema{}
		e.catalogChangedLocked(db)
		e.publishCatalogLocked() // before CreateDatabase returns
	}
	e.mu.Unlock()
	return nil
}

// applyRetention drops every segment whose rows have all expired — whole
// expired windows, and older segments of the window the cutoff falls in —
// with one manifest commit; the files go once no scan reads them.
func (e *Engine) applyRetention() error {
	now := time.Now().UnixNano()
	e.flushMu.Lock()
	m := e.manifest.Load()
	var drop []segment.SegmentMeta
	for _, s := range m.Segments {
		if s.MaxTime < e.cutoff(m, s.DB, now) {
			drop = append(drop, s)
		}
	}
	if len(drop) == 0 {
		e.flushMu.Unlock()
		return nil
	}
	e.flushMu.Unlock()
	if err := e.swapSegments(drop, nil); err != nil {
		return fmt.Errorf("retention: drop %d expired segments: %w", len(drop), err)
	}
	var bytes int64
	for _, s := range drop {
		bytes += s.Bytes
	}
	e.comp.m.RetentionDrops.Add(float64(len(drop)))
	e.comp.m.RetentionBytes.Add(float64(bytes))
	e.log.Info("retention dropped expired segments", "segments", len(drop), "bytes", bytes)
	return nil
}

// ParseRetention reads a retention duration as users write it: Go
// durations (720h, 90m), whole days or weeks (30d, 2w, InfluxQL's
// spelling), and "inf" or "0" for forever (returned as 0).
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "0", "inf", "infinite", "forever":
		return 0, nil
	}
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil || v < 0 || v > int64(math.MaxInt64/u.unit) {
				return 0, fmt.Errorf("bad retention %q: want e.g. 30d, 2w, 720h or inf", s)
			}
			return time.Duration(v) * u.unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad retention %q: want e.g. 30d, 2w, 720h or inf", s)
	}
	return d, nil
}
