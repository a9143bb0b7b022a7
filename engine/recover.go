package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine/wal"
	"github.com/siltdb/silt/ingest/sink"
)

// recover loads the manifest, removes files it does not name, and replays
// the WAL files it does not cover into fresh heads. The caller holds e.mu.
func (e *Engine) recover() error {
	m, err := e.loadManifest() // tier.go: the bucket's on a read-only node
	if err != nil {
		return err
	}
	e.setManifestLocked(m)
	e.nextID.Store(max(m.NextSegmentID, 1))
	// The write clock restarts past every stamp the node made durable,
	// whatever the wall clock did meanwhile.
	e.clock.Observe(m.Clock)
	for _, s := range m.Segments {
		e.clock.Observe(s.WriteMax)
	}
	e.catalog = map[string]map[string]*columnar.TableSchema{}
	e.catalogReplacedLocked() // published by Recover, before ready
	for db, tables := range m.Schemas {
		e.catalog[db] = map[string]*columnar.TableSchema{}
		for name, s := range tables {
			e.catalog[db][name] = s.Clone()
		}
	}
	for db := range m.Databases {
		if e.catalog[db] == nil {
			e.catalog[db] = map[string]*columnar.TableSchema{}
		}
	}
	if err := e.removeOrphans(); err != nil {
		return err
	}

	walDir := filepath.Join(e.cfg.DataDir, "wal")
	e.sources = sink.SourceOffsets(cloneOffsets(m.Sources))
	offs := sink.SourceOffsets{}
	var b columnar.Batch
	var replayed, skipped int
	var drops dropReplay // drop.go
	var parts []sink.SourcePart
	capped := map[string]int64{}
	dropped := 0
	unstamped := false // a record without a stamp was replayed
	st, err := wal.Replay(walDir, func(seq uint64, payload []byte) error {
		if seq < m.WALSeq {
			return nil // already in segments
		}
		if isDropRecord(payload) {
			return drops.apply(e, payload)
		}
		// write_stamp.go: a stamped record carries its batch's stamp;
		// older records take one at recovery, after every stamp made
		// durable before (the clock observed them above) and in log order.
		rec, st, err := unwrapStamp(payload)
		if err != nil {
			return e.quarantineRecords(QuarantineEntry{Stage: "replay", WALFile: seq,
				Reason: fmt.Sprintf("decode wal record: %v", err)}, [][]byte{payload})
		}
		if st != 0 {
			e.clock.Observe(st)
		} else {
			unstamped = true
		}
		var db string
		if len(rec) > 0 && rec[0] == recSourceParts {
			// source.go: rows a later owner of their partition consumed
			// again are dropped, positions capped at the hand-over.
			clear(offs)
			if db, err = decodeParts(rec, &b, &parts); err == nil {
				dropped += e.replayLimits(&b, parts, offs, capped)
			}
		} else {
			db, err = decodeAnyRecord(rec, &b, offs)
		}
		if err != nil {
			// The checksum held, so this is a bug or a foreign file, not a
			// torn write: keep the record aside rather than guess, and go on.
			return e.quarantineRecords(QuarantineEntry{Stage: "replay", WALFile: seq,
				Reason: fmt.Sprintf("decode wal record: %v", err)}, [][]byte{payload})
		}
		// Offsets logged with rows advance the manifest's: after replay the
		// engine's positions cover exactly the rows it holds.
		e.sources.Advance(offs)
		if len(b.Rows) == 0 {
			return nil // a record of offsets only
		}
		rows := len(b.Rows)
		err = catch(func() error {
			var undo schemaUndo
			rejected := e.admitLocked(db, &b, nil, nil, &undo, false)
			skipped += len(rejected)
			if st == 0 {
				st = e.clock.Now()
			}
			e.applyLocked(db, &b, st, nil)
			replayed += len(b.Rows)
			return nil
		})
		if err != nil {
			// A record that cannot be applied must not stop every start:
			// keep it aside (its rows already applied stay; replaying it
			// again would be last-write-wins idempotent).
			if p := (*errPanic)(nil); errors.As(err, &p) {
				e.log.Error("wal record panicked at replay", "stack", string(p.stack))
			}
			return e.quarantineRecords(QuarantineEntry{Stage: "replay", DB: db, WALFile: seq, Rows: rows,
				Reason: fmt.Sprintf("apply wal record: %v", err)}, [][]byte{payload})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay wal: %w", err)
	}
	if err := drops.commit(e); err != nil {
		return err
	}
	if replayed > 0 && unstamped {
		// Rows of unstamped records (write_stamp.go) were written after
		// the manifest's last flush (its Clock) and before now, not when
		// they were replayed: their range starts there (1, the oldest
		// stamp, when the manifest predates stamps). Stamped records
		// brought their own.
		e.stampMin = max(m.Clock, 1)
		e.flushUnstamped = true
	}
	e.logReplayLimits(m.Sources, capped, dropped) // source.go
	if q, err := ListQuarantine(e.cfg.DataDir); err == nil {
		e.metrics.QuarantineEntries.Set(float64(len(q)))
		if len(q) > 0 {
			e.log.Warn("the quarantine holds batches that could not be stored ('silt check' lists them)", "batches", len(q))
		}
	}
	for _, c := range st.Corrupted {
		e.metrics.WALCorrupt.Inc()
		e.log.Error("wal corruption skipped during replay: the rows in this stretch are lost",
			"file", c.File, "offset", c.Offset, "bytes", c.Bytes, "reason", c.Reason)
	}
	if st.TornTail > 0 {
		e.log.Warn("truncated torn wal tail (an unacknowledged write cut short by a crash)", "bytes", st.TornTail)
	}
	if skipped > 0 {
		e.log.Error("wal rows no longer fit the schema and were skipped", "rows", skipped)
	}
	w, err := wal.Open(walDir, wal.Options{SegmentBytes: e.cfg.WALSegment, NoSync: e.cfg.NoSync,
		Metrics: walMetrics{e.metrics.WALFsync}})
	if err != nil {
		return err
	}
	if err := w.RemoveBefore(m.WALSeq); err != nil {
		return errors.Join(err, w.Close())
	}
	e.wal = w
	e.log.Info("opened data directory", "dir", e.cfg.DataDir, "segments", len(m.Segments),
		"wal_files", st.Files, "wal_records", st.Records, "rows_replayed", replayed)
	return nil
}

// removeOrphans deletes segment files the manifest does not name: leftovers
// of a flush that crashed before its manifest commit (their rows are still in
// the WAL) and temporary files.
func (e *Engine) removeOrphans() error {
	live := map[string]bool{}
	for _, s := range e.manifest.Load().Segments {
		if !s.Cold() { // a cold segment's local file is a copy left by a crash after the commit
			live[filepath.FromSlash(s.Path)] = true
		}
	}
	root := filepath.Join(e.cfg.DataDir, "segments")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(e.cfg.DataDir, path)
		if err != nil {
			return err
		}
		if live[rel] {
			return nil
		}
		if strings.HasSuffix(path, ".parquet") || strings.HasSuffix(path, ".tmp") {
			e.log.Info("removing segment file not named by the manifest", "path", path)
			return os.Remove(path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove orphan segments: %w", err)
	}
	return nil
}
