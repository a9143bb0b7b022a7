package engine

import (
	"maps"
	"sync/atomic"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// What a query reads, published without the engine's lock.
//
// A write holds Engine.mu across its WAL append and its head appends
// (block seals and their rollups included). Queries used to take mu to
// snapshot a table's sources (openScan), to ask whether a head offers
// rollups (headOverlaps) and for time bounds, so a writer descheduled
// inside its critical section held every dashboard panel back with it.
// Tables was moved off mu first (catalog_pub.go); this is the rest.
//
// headsView is everything a scan snapshots, in one value swapped in whole
// through an atomic.Pointer: the manifest, the published catalog, the
// frozen sets and the active heads. It is republished under mu whenever
// one of them changes — a manifest swap, a freeze, a flush retiring a
// frozen set, a drop, a new active head, a catalog change — and always at
// a point where they agree with each other, never in between. In
// particular a flush swaps its frozen set for its segments in one
// publication (flushSet stores the manifest and pops the set before
// publishing), so a reader sees the set's rows once: in the heads or in
// the segments, never in both or neither, as it did under mu.
//
// The active heads change with every write, so the view names them
// through a liveHead each, whose snap (a segment.Head View and the write
// stamps bounding its rows) the writer replaces under mu after appending
// and before releasing mu — before the write is acknowledged. A query
// loads the view and then the snaps of the heads it reads, so it sees
// every write acknowledged before it started: the write's snap was stored
// before its acknowledgement, and the atomic store and load order the two
// (a snap newer than the view is harmless: it only adds rows not yet
// acknowledged when the view was loaded, and schemas only grow).
//
// Segments are still referenced (segRefs.acquire) before compaction,
// retention, a drop or tiering can delete them: those store a new manifest
// under mu before they retire the old one's segments, so a scan acquires
// the segments of the view it loaded and then checks that the engine's
// manifest is still that one. If so the retire comes after the acquire
// and waits for the scan; if not the scan releases them and starts over
// (after a few tries, under mu, where the manifest cannot change).
//
// Nothing in a published view is written after publication: the maps are
// copied on change (a drop copies a frozen set's heads), the frozen heads
// are finished, and a View is read-only (shared by every query that loads
// it, as frozen heads are).

// headsView is one publication; see above.
type headsView struct {
	manifest *manifest.Manifest
	catalog  *catalogView
	active   map[string]map[string]*liveHead // db → table
	frozen   []*frozenView                   // oldest first, as Engine.frozen
}

// liveHead is an active head as queries see it.
type liveHead struct {
	h    *segment.Head // the writers' head; queries read snap only
	snap atomic.Pointer[headSnap]
}

// headSnap is a read-only View of an active head and the write stamps
// bounding the rows of the active heads when it was taken.
type headSnap struct {
	view               *segment.Head
	stampMin, stampMax int64
}

// frozenView is a frozen set as queries see it: its heads (a copy of the
// maps, which a drop changes) and its stamps.
type frozenView struct {
	heads              map[string]map[string]*segment.Head
	stampMin, stampMax int64
}

// headsPub is the published view and, under Engine.mu, what changed in
// the active heads since it was published.
type headsPub struct {
	view atomic.Pointer[headsView]
	// dirty: databases whose active heads were created or removed; all:
	// the active heads were replaced (freeze, recovery).
	dirty map[string]struct{}
	all   bool
	// touched: the heads the current write appended to (applyLocked),
	// whose snaps it replaces before releasing mu.
	touched map[*segment.Head]string
}

// newFrozenView copies fs's heads for publication. Call it under mu.
func newFrozenView(fs *frozenSet) *frozenView {
	heads := make(map[string]map[string]*segment.Head, len(fs.heads))
	for db, tables := range fs.heads {
		heads[db] = maps.Clone(tables)
	}
	return &frozenView{heads: heads, stampMin: fs.stampMin, stampMax: fs.stampMax}
}

// headsChangedLocked notes that db's active heads were created or removed.
func (e *Engine) headsChangedLocked(db string) {
	if e.hpub.dirty == nil {
		e.hpub.dirty = map[string]struct{}{}
	}
	e.hpub.dirty[db] = struct{}{}
}

// setManifestLocked installs m as the engine's manifest and publishes it.
// The caller holds e.mu. (flushSet installs its manifest itself: with the
// frozen set it replaces, in one publication.)
func (e *Engine) setManifestLocked(m *manifest.Manifest) {
	e.manifest.Store(m)
	e.publishHeadsLocked()
}

// publishHeadsLocked publishes the manifest, catalog, frozen sets and
// active heads as they are now. The caller holds e.mu.
func (e *Engine) publishHeadsLocked() {
	old := e.hpub.view.Load()
	v := &headsView{manifest: e.manifest.Load(), catalog: e.pub.view.Load()}
	switch {
	case old != nil && !e.hpub.all && len(e.hpub.dirty) == 0:
		v.active = old.active
	case old == nil || e.hpub.all:
		v.active = make(map[string]map[string]*liveHead, len(e.heads))
		for db := range e.heads {
			v.active[db] = e.liveHeadsLocked(db, nil)
		}
	default:
		// Unchanged databases keep their maps (and liveHeads).
		v.active = maps.Clone(old.active)
		for db := range e.hpub.dirty {
			if _, ok := e.heads[db]; ok {
				v.active[db] = e.liveHeadsLocked(db, old.active[db])
			} else {
				delete(v.active, db)
			}
		}
	}
	clear(e.hpub.dirty)
	e.hpub.all = false
	v.frozen = make([]*frozenView, len(e.frozen))
	for i, fs := range e.frozen {
		v.frozen[i] = fs.view
	}
	e.hpub.view.Store(v)
	if afterHeadsPublished != nil {
		afterHeadsPublished(e, v)
	}
}

// beforeSegmentsAcquired, set by tests, runs between a scan's load of the
// view and its references to the view's segments (not under mu).
var beforeSegmentsAcquired func()

// afterHeadsPublished, set by tests, sees every view published, under mu.
var afterHeadsPublished func(e *Engine, v *headsView)

// liveHeadsLocked returns db's active heads as liveHeads, keeping those
// of prev that are still the same heads.
func (e *Engine) liveHeadsLocked(db string, prev map[string]*liveHead) map[string]*liveHead {
	tables := e.heads[db]
	out := make(map[string]*liveHead, len(tables))
	for name, h := range tables {
		lh := prev[name]
		if lh == nil || lh.h != h {
			lh = &liveHead{h: h}
			lh.publish(e)
		}
		out[name] = lh
	}
	return out
}

// publish replaces lh's snap with a View of its head as it is now. The
// caller holds e.mu (View reads what Append writes).
func (lh *liveHead) publish(e *Engine) {
	lh.snap.Store(&headSnap{view: lh.h.View(), stampMin: e.stampMin, stampMax: e.stampMax})
}

// publishWriteLocked publishes what a write changed: new heads, and the
// snaps of the heads it appended to. The caller holds e.mu, and calls it
// before releasing mu, so before the write is acknowledged.
func (e *Engine) publishWriteLocked(db string) {
	if e.hpub.all || len(e.hpub.dirty) > 0 {
		e.publishHeadsLocked()
	}
	v := e.hpub.view.Load()
	for h, name := range e.hpub.touched {
		if lh := v.active[db][name]; lh != nil && lh.h == h {
			lh.publish(e)
		}
	}
	clear(e.hpub.touched)
}

// touchLocked notes that the current write appends to h (db's table name).
func (e *Engine) touchLocked(h *segment.Head, name string) {
	if e.hpub.touched == nil {
		e.hpub.touched = map[*segment.Head]string{}
	}
	e.hpub.touched[h] = name
}

// snapHeads returns the published view, for a reader without mu.
func (e *Engine) snapHeads() *headsView { return e.hpub.view.Load() }

// activeSnap returns the snap of db.table's active head in v, or nil.
func (v *headsView) activeSnap(db, table string) *headSnap {
	if lh := v.active[db][table]; lh != nil {
		return lh.snap.Load()
	}
	return nil
}

// tableSchema returns db.table's schema as a scan of v reads it: the
// published catalog's or, when newer, the one of the active head's snap
// (written after v was published; schemas only grow, so the longer one
// holds the other). nil: no such table.
func (v *headsView) tableSchema(db, table string, snap *headSnap) *columnar.TableSchema {
	var s *columnar.TableSchema
	if v.catalog != nil {
		s = v.catalog.dbs[db][table]
	}
	if snap != nil {
		if hs := snap.view.Schema; s == nil || len(hs.Tags)+len(hs.Fields) > len(s.Tags)+len(s.Fields) {
			s = hs
		}
	}
	return s
}

// headOverlapsIn reports whether an active or frozen head of db.table in v
// holds rows in span.
func (v *headsView) headOverlapsIn(db, table string, span timeSpan) bool {
	if s := v.activeSnap(db, table); s != nil && s.view.Len() > 0 && span.overlaps(s.view.TimeRange()) {
		return true
	}
	for _, fs := range v.frozen {
		if h := fs.heads[db][table]; h != nil && h.Len() > 0 && span.overlaps(h.TimeRange()) {
			return true
		}
	}
	return false
}

// acquireSegments takes references to the segments pick chooses from the
// manifest of a published view, and returns that view: one whose manifest
// was still the engine's after the references were taken, so that no
// segment of it can have been deleted (see above).
func (e *Engine) acquireSegments(pick func(m *manifest.Manifest) []segment.SegmentMeta) (*headsView, []segment.SegmentMeta) {
	for range 4 {
		v := e.snapHeads()
		metas := pick(v.manifest)
		if beforeSegmentsAcquired != nil {
			beforeSegmentsAcquired()
		}
		e.refs.acquire(metas)
		if e.manifest.Load() == v.manifest {
			return v, metas
		}
		// A manifest swap since the view was loaded: its retire may have
		// run before the acquire.
		e.refs.release(metas)
	}
	// Manifests swap a few times a second at most; this is for a reader
	// that keeps losing the race. Under mu the manifest cannot change.
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.snapHeads()
	metas := pick(v.manifest)
	e.refs.acquire(metas)
	return v, metas
}
