package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine/wal"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// Dropping a database or a table (InfluxQL DROP DATABASE / DROP
// MEASUREMENT) must hold across a crash at any moment, so it is a WAL
// record like a write, ordered with the writes:
//
//  1. Under flushMu (no flush, merge or tiering commit runs meanwhile, so
//     no frozen head can turn into segments of the dropped table behind
//     our back) and Engine.mu (the lock writes take): append a drop record
//     to the WAL and, in the same critical section, remove the table's
//     active and frozen heads, its schema, and its segments from the
//     in-memory manifest. Scans snapshot under Engine.mu, so they see the
//     table either whole or gone.
//  2. fsync the WAL: from here the drop survives a crash, because replay
//     applies the record in order — rows written before it go, rows
//     written after it recreate the table from scratch, and the manifest's
//     segments (all older than any record replay reads) go too.
//  3. Commit the manifest without the segments and retire their files
//     (deleted once no scan reads them; cold segments' objects are deleted
//     in the bucket by the next tiering pass, which deletes objects the
//     manifest no longer names).
//
// If the commit in 3 fails the drop still holds (the WAL record is durable
// and the next flush commits a manifest cloned from the in-memory one);
// the files stay until the next start removes them as orphans.

// recDrop is the WAL record type of a drop; see docs/format/wal.md.
const recDrop byte = 3

// ErrTableNotFound: DropTable of a table that does not exist.
var ErrTableNotFound = errors.New("measurement not found")

// DropDatabase deletes db with all its tables, data and settings
// (retention), durably: when it returns nil, no query sees them again,
// even after a crash. A later write recreates db from scratch. Dropping a
// database that does not exist is not an error (InfluxDB 1.x semantics).
func (e *Engine) DropDatabase(db string) error {
	_, err := e.drop(db, "")
	return err
}

// DropTable deletes table of db (an InfluxDB measurement) with its data and
// schema, durably; the database stays. A later write recreates the table
// from scratch, with any field types. It returns an error wrapping
// ErrTableNotFound when the table does not exist.
func (e *Engine) DropTable(db, table string) error {
	if err := sink.ValidateName("table", table); err != nil {
		return err
	}
	found, err := e.drop(db, table)
	if err == nil && !found {
		return fmt.Errorf("drop %s.%s: %w", db, table, ErrTableNotFound)
	}
	return err
}

// drop removes db.table (table "" for the whole database) and reports
// whether there was anything to remove.
func (e *Engine) drop(db, table string) (bool, error) {
	if e.stopping.Load() {
		return false, ErrClosed
	}
	if !e.ready.Load() {
		return false, ErrNotReady
	}
	if e.tier != nil && e.tier.cfg.ReadOnly {
		return false, ErrReadOnly
	}
	if err := sink.ValidateName("database", db); err != nil {
		return false, err
	}
	what := db
	if table != "" {
		what = db + "." + table
	}
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	pos, gone, found, err := e.dropApply(db, table)
	if err != nil || !found {
		return found, err
	}
	if err := e.wal.Sync(pos); err != nil {
		// Already gone in memory; whether the record reached the disk is
		// unknown, as for a write whose fsync failed.
		return true, fmt.Errorf("drop %s: sync wal (the drop may not survive a crash): %w", what, err)
	}
	m := e.Manifest().Clone() // Commit bumps the generation: never commit a published value
	if err := m.Commit(e.cfg.DataDir); err != nil {
		e.log.Warn("drop: manifest commit failed; the drop holds (WAL), its files go at the next start",
			"target", what, "err", err)
		return true, nil
	}
	e.mu.Lock()
	e.setManifestLocked(m)
	e.mu.Unlock()
	e.refs.retire(gone)
	e.log.Info("dropped", "target", what, "segments", len(gone))
	return true, nil
}

// dropApply is step 1: the WAL record and every in-memory removal, in one
// critical section of Engine.mu. It returns the WAL position to sync and
// the segments the manifest no longer names.
func (e *Engine) dropApply(db, table string) (pos wal.Pos, gone []segment.SegmentMeta, found bool, err error) {
	// Every manifest change holds flushMu, as the caller does: the new
	// manifest can be made before taking the lock writes wait for.
	m := e.manifest.Load()
	at := time.Now().UnixNano()
	nm, gone := dropFromManifest(m, db, table, at)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.stopping.Load() {
		return 0, nil, false, ErrClosed
	}
	if e.wal == nil {
		return 0, nil, false, ErrNotReady
	}
	if table == "" {
		found = e.catalog[db] != nil || m.Databases[db] != nil
	} else {
		found = e.catalog[db][table] != nil
	}
	if !found {
		return 0, nil, false, nil
	}
	e.walBuf = appendDropRecord(e.walBuf[:0], db, table, at)
	p, err := e.wal.Append(e.walBuf)
	if err != nil {
		return 0, nil, true, fmt.Errorf("drop: write wal: %w", err)
	}
	e.manifest.Store(nm)
	e.dropMemoryLocked(db, table)
	// Before the drop is acknowledged: a query after it no longer plans
	// over the table (catalog_pub.go) nor reads its rows (heads_pub.go:
	// manifest, heads and catalog published together).
	e.publishCatalogLocked()
	e.publishHeadsLocked()
	return p, gone, true, nil
}

// dropFromManifest returns a copy of m without db.table (table "": the
// whole database) and the segments it no longer names. A database whose
// DatabaseMeta was created after at (CREATE DATABASE after the drop, seen
// when replaying the drop) keeps that entry and loses only its data.
func dropFromManifest(m *manifest.Manifest, db, table string, at int64) (*manifest.Manifest, []segment.SegmentMeta) {
	nm := m.Clone()
	var gone []segment.SegmentMeta
	kept := nm.Segments[:0]
	for _, s := range nm.Segments {
		if s.DB == db && (table == "" || s.Table == table) {
			gone = append(gone, s)
			continue
		}
		kept = append(kept, s)
	}
	nm.Segments = kept
	if table != "" {
		delete(nm.Schemas[db], table)
		return nm, gone
	}
	delete(nm.Schemas, db)
	if dm := nm.Databases[db]; dm != nil {
		if dm.Created <= at {
			delete(nm.Databases, db)
		} else {
			nm.Schemas[db] = map[string]*columnar.TableSchema{}
		}
	}
	return nm, gone
}

// dropMemoryLocked removes db.table (table "": every table of db) from the
// active heads, the frozen sets and the catalog. The caller holds
// Engine.mu and flushMu (no flushSet is reading the frozen sets).
func (e *Engine) dropMemoryLocked(db, table string) {
	match := func(name string) bool { return table == "" || name == table }
	for name, h := range e.heads[db] {
		if match(name) {
			e.activeBytes.Add(-h.Bytes())
			e.headRows.Add(-int64(h.Len()))
			h.Retire()
			delete(e.heads[db], name)
			e.headsChangedLocked(db)
		}
	}
	if len(e.heads[db]) == 0 {
		delete(e.heads, db)
	}
	for _, fs := range e.frozen {
		for name, h := range fs.heads[db] {
			if !match(name) {
				continue
			}
			// fs.bytes is what flushSet takes off frozenBytes: keep the two
			// in step.
			b := min(h.Bytes(), fs.bytes)
			fs.bytes -= b
			e.frozenBytes.Add(-b)
			fs.rows -= int64(h.Len())
			e.headRows.Add(-int64(h.Len()))
			h.Retire()
			delete(fs.heads[db], name)
		}
		// flushSet writes fs.schemas into the manifest: it must not bring
		// the table (or the database) back.
		if table == "" {
			delete(fs.heads, db)
			delete(fs.schemas, db)
		} else {
			delete(fs.schemas[db], table)
		}
		// A copy: queries may be reading the published one.
		fs.view = newFrozenView(fs)
	}
	if table == "" {
		delete(e.catalog, db)
	} else {
		delete(e.catalog[db], table)
	}
	e.catalogChangedLocked(db)
}

// appendDropRecord encodes a drop: type, database, table ("" for the whole
// database), and the wall-clock time of the drop.
func appendDropRecord(dst []byte, db, table string, at int64) []byte {
	dst = append(dst, recDrop)
	dst = binary.AppendUvarint(dst, uint64(len(db)))
	dst = append(dst, db...)
	dst = binary.AppendUvarint(dst, uint64(len(table)))
	dst = append(dst, table...)
	return binary.AppendVarint(dst, at)
}

// isDropRecord reports whether a WAL payload is a drop record.
func isDropRecord(p []byte) bool { return len(p) > 0 && p[0] == recDrop }

func decodeDropRecord(p []byte) (db, table string, at int64, err error) {
	if !isDropRecord(p) {
		return "", "", 0, errors.New("not a drop record")
	}
	p = p[1:]
	str := func(what string) (string, error) {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return "", fmt.Errorf("bad drop record: %s name", what)
		}
		s := string(p[k : k+int(n)])
		p = p[k+int(n):]
		return s, nil
	}
	if db, err = str("database"); err != nil {
		return
	}
	if table, err = str("table"); err != nil {
		return
	}
	at, k := binary.Varint(p)
	if k <= 0 || k != len(p) {
		return "", "", 0, errors.New("bad drop record: time")
	}
	return db, table, at, nil
}

// dropReplay applies the drop records met while replaying the WAL, then
// commits the manifest once (recover.go).
type dropReplay struct {
	gone []segment.SegmentMeta
	n    int
}

// apply replays one drop record. The caller (recovery) holds Engine.mu.
// Every segment the manifest names holds rows from WAL files before the
// first one replayed, so older than this record: all of db.table's go.
func (d *dropReplay) apply(e *Engine, payload []byte) error {
	db, table, at, err := decodeDropRecord(payload)
	if err != nil {
		return err
	}
	nm, gone := dropFromManifest(e.manifest.Load(), db, table, at)
	e.setManifestLocked(nm)
	e.dropMemoryLocked(db, table)
	if table == "" && nm.Databases[db] != nil {
		e.catalog[db] = map[string]*columnar.TableSchema{} // created again after the drop
	}
	d.gone = append(d.gone, gone...)
	d.n++
	return nil
}

// commit writes the manifest without the replayed drops' segments and
// deletes their local files (cold ones' objects go at the next tiering
// pass). A failure leaves the drops in the WAL, replayed again next time.
func (d *dropReplay) commit(e *Engine) error {
	if d.n == 0 || (e.tier != nil && e.tier.cfg.ReadOnly) {
		return nil
	}
	m := e.manifest.Load().Clone()
	if err := m.Commit(e.cfg.DataDir); err != nil {
		return fmt.Errorf("commit manifest after replaying %d drops: %w", d.n, err)
	}
	e.setManifestLocked(m)
	for _, s := range d.gone {
		if !s.Cold() {
			_ = os.Remove(filepath.Join(e.cfg.DataDir, filepath.FromSlash(s.Path)))
		}
	}
	e.log.Info("replayed drops", "drops", d.n, "segments_removed", len(d.gone))
	return nil
}

// segmentPaths returns the paths (relative to the data directory) of metas.
func segmentPaths(metas []segment.SegmentMeta) []string {
	out := make([]string, len(metas))
	for i, m := range metas {
		out[i] = m.Path
	}
	return out
}
