package engine

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// flushLoop flushes when the active heads are large or old enough, and
// retries failed flushes with backoff.
func (e *Engine) flushLoop() {
	defer close(e.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	backoff := time.Duration(0)
	var retryAt time.Time
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		case <-e.kick:
		}
		if time.Now().Before(retryAt) {
			continue
		}
		e.mu.Lock()
		active := e.activeBytes.Load()
		due := active >= e.cfg.FlushBytes ||
			(active > 0 && time.Since(e.firstWrite) >= e.cfg.FlushInterval) ||
			len(e.frozen) > 0 ||
			active+e.frozenBytes.Load()+e.copyBytes.Load() >= e.cfg.MaxHeadBytes
		e.mu.Unlock()
		if !due {
			continue
		}
		if err := e.Flush(); err != nil {
			e.metrics.FlushErrors.Inc()
			backoff = min(max(2*backoff, time.Second), time.Minute)
			retryAt = time.Now().Add(backoff)
			e.log.Error("flush failed; heads stay in memory and the WAL is kept", "err", err, "retry_in", backoff)
			continue
		}
		backoff = 0
	}
}

// Flush freezes the active heads and writes every frozen head to segments,
// oldest first. It returns when they are durable and named by the manifest,
// or with the first error (the heads then stay frozen and readable, and a
// later Flush retries them).
func (e *Engine) Flush() error {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	if err := e.freeze(); err != nil {
		return err
	}
	for {
		e.mu.Lock()
		if len(e.frozen) == 0 {
			e.mu.Unlock()
			return nil
		}
		fs := e.frozen[0]
		e.mu.Unlock()
		if err := e.flushSet(fs); err != nil {
			return err
		}
	}
}

// freeze turns the active heads into a frozen set, rotating the WAL so that
// the set covers exactly the WAL files before the new one.
func (e *Engine) freeze() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.activeBytes.Load() == 0 || e.wal == nil {
		return nil
	}
	seq, err := e.wal.Rotate()
	if err != nil {
		return fmt.Errorf("rotate wal for flush: %w", err)
	}
	fs := &frozenSet{heads: e.heads, walSeq: seq, bytes: e.activeBytes.Load(),
		schemas: map[string]map[string]*columnar.TableSchema{}, sources: cloneOffsets(e.sources),
		stampMin: e.stampMin, stampMax: e.stampMax}
	for db, tables := range e.catalog {
		fs.schemas[db] = map[string]*columnar.TableSchema{}
		for name, s := range tables {
			fs.schemas[db][name] = s.Clone()
		}
	}
	// A frozen head gets its own copy of the schema: the catalog keeps
	// growing with later writes, the frozen columns do not.
	for db, tables := range fs.heads {
		for name, h := range tables {
			h.Schema = fs.schemas[db][name]
			h.Finish()
			fs.rows += int64(h.Len())
		}
	}
	fs.view = newFrozenView(fs)
	e.frozen = append(e.frozen, fs)
	e.frozenBytes.Add(fs.bytes)
	e.heads = map[string]map[string]*segment.Head{}
	e.activeBytes.Store(0)
	// The rows move from the active heads to the frozen set in one
	// publication (heads_pub.go).
	e.hpub.all = true
	e.publishHeadsLocked()
	return nil
}

// flushSet writes fs's heads to segments, commits a manifest naming them and
// then retires fs and the WAL files it covers.
func (e *Engine) flushSet(fs *frozenSet) (err error) {
	start := time.Now()
	newID := func() uint64 { return e.nextID.Add(1) - 1 }
	var metas []segment.SegmentMeta
	flushed := map[uint64]flushedSegment{} // rollups are built from the heads
	defer func() {
		if err != nil {
			// Segments not named by a manifest do not exist; remove them
			// now rather than at the next start.
			e.removeSegmentFiles(metas)
		}
	}()
	for db, tables := range fs.heads {
		for table, h := range tables {
			key := db + "\x00" + table
			if fs.quarantined[key] {
				continue
			}
			var ms []segment.SegmentMeta
			err := catch(func() (err error) {
				ms, err = segment.WriteSegments(e.cfg.DataDir, db, table, h, newID)
				return err
			})
			if err == nil {
				// Read alone by scans when the head repeats no older point.
				if !h.RepeatsOlderIn(math.MinInt64, math.MaxInt64) {
					for k := range ms {
						ms[k].Fresh = true
					}
				}
				metas = append(metas, ms...)
				e.lastCache.fromHead(e.cfg.DataDir, ms, h)
				for i, m := range ms {
					flushed[m.ID] = flushedSegment{h, i}
				}
				continue
			}
			e.removeSegmentFiles(ms)
			err = fmt.Errorf("flush %s.%s: %w", db, table, err)
			if transientFlushError(err) {
				return err // the disk's fault, not the rows': retry them all
			}
			// These rows cannot be written: move them aside so that the
			// other tables' rows are flushed and the WAL moves on.
			if qerr := e.quarantineHead(db, table, h, err); qerr != nil {
				return fmt.Errorf("%w; and the rows could not be quarantined: %w", err, qerr)
			}
			if p := (*errPanic)(nil); errors.As(err, &p) {
				e.log.Error("flush panicked", "db", db, "table", table, "stack", string(p.stack))
			}
			if fs.quarantined == nil {
				fs.quarantined = map[string]bool{}
			}
			fs.quarantined[key] = true
		}
	}
	metas = append(metas, e.buildRollups(metas, newID, "flush", flushed)...)
	for k := range metas {
		metas[k].WriteMin, metas[k].WriteMax = fs.stampMin, fs.stampMax
	}
	if beforeFlushCommit != nil {
		beforeFlushCommit()
	}
	// source.go: upstream confirms before the manifest names the rows.
	if err := e.awaitSourcesCommitted(fs.sources); err != nil {
		return err
	}
	e.mu.Lock()
	m := e.manifest.Load().Clone()
	e.mu.Unlock()
	m.Segments = append(m.Segments, metas...)
	m.WALSeq = fs.walSeq
	// The offsets go into the same manifest as the segments holding the
	// rows they cover; the WAL files that logged them are deleted only after.
	m.Sources = fs.sources
	m.NextSegmentID = e.nextID.Load()
	m.Clock = max(m.Clock, fs.stampMax)
	for db, tables := range fs.schemas {
		if m.Databases[db] == nil {
			m.Databases[db] = &manifest.DatabaseMeta{Created: time.Now().UnixNano()}
		}
		m.Schemas[db] = tables
	}
	if err := m.Commit(e.cfg.DataDir); err != nil {
		return fmt.Errorf("commit manifest: %w", err)
	}
	e.mu.Lock()
	e.manifest.Store(m)
	// The popped slot is cleared: the backing array outlives the pop
	// (until an append outgrows it), and through it a flushed set's heads
	// — up to --max-head-bytes of them — would stay reachable.
	e.forgetOlderLocked(fs)
	e.frozen[0] = nil
	e.frozen = e.frozen[1:]
	// The segments in and the frozen set out in one publication: a scan
	// reads the set's rows once (heads_pub.go).
	e.publishHeadsLocked()
	e.mu.Unlock()
	e.frozenBytes.Add(-fs.bytes)
	e.headRows.Add(-fs.rows)
	for _, tables := range fs.heads {
		for _, h := range tables {
			h.Retire()
		}
	}
	var bytes int64
	for _, s := range metas {
		bytes += s.Bytes
	}
	e.metrics.SegmentsFlushed.Add(float64(len(metas)))
	e.metrics.SegmentBytes.Add(float64(bytes))
	e.metrics.FlushDuration.Observe(time.Since(start).Seconds())
	e.log.Info("flushed heads", "rows", fs.rows, "segments", len(metas), "bytes", bytes, "elapsed", time.Since(start).Round(time.Millisecond))
	if err := e.wal.RemoveBefore(fs.walSeq); err != nil && !errors.Is(err, os.ErrNotExist) {
		// Harmless for correctness: replay skips files below the
		// manifest's WALSeq, and the next start deletes them.
		e.log.Warn("remove flushed wal files", "err", err)
	}
	return nil
}

// beforeFlushCommit, set by tests, runs once a flush has written its
// segments and before a manifest names them.
var beforeFlushCommit func()

// removeSegmentFiles deletes the files of segments no manifest names, and
// the last-value summaries cached for them.
func (e *Engine) removeSegmentFiles(metas []segment.SegmentMeta) {
	e.lastCache.forget(e.cfg.DataDir, metas)
	for _, m := range metas {
		_ = os.Remove(filepath.Join(e.cfg.DataDir, filepath.FromSlash(m.Path)))
	}
}
