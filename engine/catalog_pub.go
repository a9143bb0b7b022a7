package engine

import (
	"maps"
	"sort"
	"sync/atomic"

	"github.com/siltdb/silt/columnar"
)

// The catalog as queries read it, published without the engine's lock.
//
// Every query plans over Tables (InfluxQL, SQL, PromQL, Flight SQL), and
// under a dashboard's load most of the time queries spent waiting for
// Engine.mu was spent there: a write holds mu across its WAL append and
// its head appends (block seals and their rollups included), so a writer
// descheduled inside that section held every panel's planning back.
//
// So the catalog has a second, read-only form: each database's tables as
// TableSchema snapshots (already read-only and shared), in maps that are
// never changed once published, swapped in whole through an
// atomic.Pointer. Writers still change e.catalog under mu, note the
// database they changed (catalogChangedLocked) and republish before they
// release mu (publishCatalogLocked) — before a write or drop is
// acknowledged, so a query started after the acknowledgement loads a view
// that has its columns (the atomic store and load order the two).
// Republishing rebuilds only the databases that changed; a write adding no
// table or column (almost all of them) publishes nothing.

// catalogView is one published catalog: database → table → read-only
// schema snapshot. Neither map is written after publication.
type catalogView struct {
	dbs map[string]map[string]*columnar.TableSchema
}

// catalogPub is the engine's published catalog and what changed since.
type catalogPub struct {
	view atomic.Pointer[catalogView]
	// Under Engine.mu: the databases changed since the last publication,
	// or all of them (the catalog was replaced: recovery).
	dirty map[string]struct{}
	all   bool
}

// catalogChangedLocked notes that db's tables or their columns changed
// (or db was created or dropped). The caller holds e.mu and publishes
// before releasing it.
func (e *Engine) catalogChangedLocked(db string) {
	if e.pub.dirty == nil {
		e.pub.dirty = map[string]struct{}{}
	}
	e.pub.dirty[db] = struct{}{}
}

// catalogReplacedLocked notes that e.catalog was replaced as a whole.
func (e *Engine) catalogReplacedLocked() { e.pub.all = true }

// publishCatalogLocked publishes the databases changed since the last
// publication. The caller holds e.mu (Snapshot caches its copy in the
// schema it is called on).
func (e *Engine) publishCatalogLocked() {
	old := e.pub.view.Load()
	if old != nil && !e.pub.all && len(e.pub.dirty) == 0 {
		return
	}
	var dbs map[string]map[string]*columnar.TableSchema
	if old == nil || e.pub.all {
		dbs = make(map[string]map[string]*columnar.TableSchema, len(e.catalog))
		for db, tables := range e.catalog {
			dbs[db] = snapshotTables(tables)
		}
	} else {
		// Unchanged databases keep their published maps: their schemas'
		// snapshots are the ones Snapshot would return now.
		dbs = maps.Clone(old.dbs)
		for db := range e.pub.dirty {
			if tables, ok := e.catalog[db]; ok {
				dbs[db] = snapshotTables(tables)
			} else {
				delete(dbs, db)
			}
		}
	}
	clear(e.pub.dirty)
	e.pub.all = false
	e.pub.view.Store(&catalogView{dbs: dbs})
	// Scans read the catalog of the heads' view (heads_pub.go).
	e.publishHeadsLocked()
}

func snapshotTables(tables map[string]*columnar.TableSchema) map[string]*columnar.TableSchema {
	out := make(map[string]*columnar.TableSchema, len(tables))
	for name, s := range tables {
		out[name] = s.Snapshot()
	}
	return out
}

// Tables returns read-only copies of the schemas of db's tables
// (TableSchema.Snapshot: Clone one to change it), or false if db does not
// exist. It does not take the engine's lock: it reads the published
// catalog, which has every write and drop acknowledged before the call.
func (e *Engine) Tables(db string) (map[string]*columnar.TableSchema, bool) {
	if !e.ready.Load() {
		return nil, false
	}
	v := e.pub.view.Load()
	if v == nil {
		return nil, false
	}
	tables, ok := v.dbs[db]
	if !ok {
		return nil, false
	}
	// The caller gets its own map (callers may change it); the schemas
	// are the shared snapshots.
	return maps.Clone(tables), true
}

// Databases returns the names of all databases, sorted.
func (e *Engine) Databases() []string {
	if !e.ready.Load() {
		return []string{}
	}
	v := e.pub.view.Load()
	if v == nil {
		return []string{}
	}
	names := make([]string, 0, len(v.dbs))
	for db := range v.dbs {
		names = append(names, db)
	}
	sort.Strings(names)
	return names
}
