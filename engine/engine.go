// Package engine wires Silt's storage parts: the WAL, the Arrow heads, the
// segment flusher and the manifest. It owns the write path and hands
// consistent snapshots to readers.
//
// Write path: rows are checked against the table schemas, appended to the
// WAL and the heads under one lock (so WAL order is head order and replay
// reproduces last-write-wins exactly), then the caller waits outside the lock
// for the group-commit fsync and only then acknowledges.
//
// Flush: the active heads are frozen together with a WAL rotation, written
// as segments, named by a new manifest (which records the first WAL file not
// covered), and only then are the covered WAL files deleted.
package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine/wal"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// Config configures an Engine.
type Config struct {
	DataDir       string
	MaxHeadBytes  int64         // memory bound of all heads; writes above it get sink.ErrBackpressure
	FlushBytes    int64         // flush when active heads hold this much
	FlushInterval time.Duration // flush rows at the latest this long after the first unflushed write
	WALSegment    int64         // WAL file size before rotation
	NoSync        bool          // ack level "none": skip fsync (loses acknowledged writes on power loss)
	Logger        *slog.Logger
	Retention     time.Duration    // default retention of databases without their own; 0 keeps forever
	Compaction    CompactionConfig // see compact.go
	Tiering       TierConfig       // see tier.go; off without a store
	Rollups       RollupConfig     // see rollup.go
	Sources       sink.SourceHooks // see source.go: stream hand-over reconciliation; optional
	// MaxOpenSegments bounds the segment handles kept open between scans
	// (segref.go); 0 means DefaultMaxOpenSegments.
	MaxOpenSegments int
	// MemoryLimit is the Go runtime's soft memory limit a server runs
	// under (ApplyMemoryLimit, config.go); 0 takes GOMEMLIMIT, else
	// none; MemoryLimitBounds (the flag's default) GOMEMLIMIT, else
	// DefaultMemoryLimit following the queries' reservations;
	// MemoryLimitAuto the same following the heads too; MemoryLimitOff none.
	MemoryLimit int64
	// Limits bound lines, tables and writes (limits.go); zero fields take
	// the defaults.
	Limits Limits
	// QueryCacheBytes bounds the cache of decoded segment pages
	// (query_cache.go); 0 means segment.DefaultPageCacheBytes, negative
	// turns it off.
	QueryCacheBytes int64
	// Peers, on a cluster writer, are the other writers' segments: a cold
	// segment holding older copies of points one of them holds is
	// rewritten without them (peer_dedupe.go). nil: a standalone node.
	Peers Peers
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.DataDir == "" {
		c.DataDir = "silt-data"
	}
	if c.MaxHeadBytes <= 0 {
		c.MaxHeadBytes = DefaultMaxHeadBytes
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = min(DefaultFlushBytes, c.MaxHeadBytes/2)
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.WALSegment <= 0 {
		c.WALSegment = DefaultWALSegment
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxOpenSegments <= 0 {
		c.MaxOpenSegments = DefaultMaxOpenSegments
	}
	c.Compaction.defaults()
	c.Rollups.defaults()
	c.Limits.defaults()
}

// Errors returned by Write, with stable codes in the HTTP layer (besides
// sink.ErrBackpressure and sink.ErrBadName, which sources share).
var (
	// ErrNotReady: the engine is still replaying its WAL.
	ErrNotReady = errors.New("engine is replaying its WAL")
	// ErrClosed: the engine is shutting down.
	ErrClosed = errors.New("engine is closed")
)

// The engine is the sink stream sources write to.
var _ sink.Sink = (*Engine)(nil)

// Engine is an open Silt storage engine; all methods are safe for
// concurrent use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	lock    *os.File // flock on the data directory

	flushMu sync.Mutex // serializes flushes

	mu       sync.Mutex
	wal      *wal.WAL
	manifest atomic.Pointer[manifest.Manifest] // replaced under mu
	maxTimes tableMaxTimes                     // under mu: head_older.go
	ready    atomic.Bool                       // WAL replayed, accepting writes
	catalog  map[string]map[string]*columnar.TableSchema
	// pub is the catalog as Tables reads it without mu (catalog_pub.go):
	// every change to catalog is noted there and republished before mu
	// is released.
	pub catalogPub
	// hpub is what scans snapshot — manifest, catalog, frozen sets and
	// active heads — as they read it without mu (heads_pub.go).
	hpub        headsPub
	heads       map[string]map[string]*segment.Head
	frozen      []*frozenSet
	activeBytes atomic.Int64 // written under mu; read anywhere (metrics, backpressure)
	firstWrite  time.Time    // of the oldest unflushed row in the active heads
	// clock stamps writes (clock.go); stampMin and stampMax (under mu)
	// bound the write stamps of the rows in the active heads.
	clock              *writeClock
	stampMin, stampMax int64
	// flushUnstamped: recovery replayed records without write stamps,
	// to be flushed before the engine takes writes (Recover).
	flushUnstamped bool
	walBuf         []byte
	closed         bool
	// stopping: shutdown has begun (StopWrites); writes and drops are
	// refused with ErrClosed. Set under mu, so that every write the WAL
	// took before it is in a head the final flush freezes.
	stopping atomic.Bool

	sources sink.SourceOffsets // guarded by mu: positions covered by every durable write (see WriteFrom)

	// Scratch of admitLocked, guarded by mu.
	shape, prevShape []byte
	sameShape        []bool

	lastCache lastCache    // per-segment last values, for LastOnly scans
	windows   *windowCache // rollup windows at ranges' ragged ends (scan_ragged_cache.go)

	frozenBytes atomic.Int64
	// copyBytes is what queries added to the heads in memory: the
	// block-ordered column copies their folds make (segment.Head.CopyBytes),
	// kept within keepCopy's room.
	copyBytes atomic.Int64
	headRows  atomic.Int64
	nextID    atomic.Uint64

	stop chan struct{}
	done chan struct{}
	kick chan struct{}

	refs    *segRefs   // scans' references to segments (segref.go)
	comp    *compactor // compaction and retention (compact.go)
	rollupM *rollupMetrics
	tier    *tierer // tiering to the object store (tier.go); nil when off
}

// frozenSet is a set of heads that no longer take writes and are being
// flushed; walSeq is the first WAL file not covered by them.
type frozenSet struct {
	heads   map[string]map[string]*segment.Head
	walSeq  uint64
	bytes   int64
	rows    int64
	schemas map[string]map[string]*columnar.TableSchema
	sources map[string]int64 // source positions covered by this set and all before it
	// quarantined names the heads ("db\x00table") moved to the quarantine
	// by a failed flush of this set, so a retry does not write them again.
	// Only the flusher (under flushMu) uses it.
	quarantined map[string]bool
	// stampMin and stampMax bound the write stamps of the set's rows: its
	// segments record them (segment.SegmentMeta.WriteMin).
	stampMin, stampMax int64
	// view is the set as queries read it (heads_pub.go): set at freeze,
	// replaced by a drop, under mu.
	view *frozenView
}

// Open opens (creating if needed) the data directory, replays the WAL and
// starts the background flusher: New followed by Recover.
func Open(cfg Config) (*Engine, error) {
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := e.Recover(); err != nil {
		return nil, err
	}
	return e, nil
}

// New creates the data directory if needed and locks it. The engine answers
// ErrNotReady (and Ready false) until Recover has replayed the WAL, so a
// server can listen — and report /ready — while a long replay runs.
func New(cfg Config) (*Engine, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("engine settings: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := removeSnapshots(cfg.DataDir); err != nil {
		return nil, errors.Join(fmt.Errorf("remove stale backup snapshots: %w", err), lock.Close())
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, lock: lock,
		heads: map[string]map[string]*segment.Head{}, clock: newWriteClock(),
		stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1)}
	e.sources = sink.SourceOffsets{}
	e.manifest.Store(manifest.NewManifest())
	e.catalog = map[string]map[string]*columnar.TableSchema{}
	e.publishHeadsLocked() // nothing yet; no reader before Recover
	e.metrics = newMetrics(e)
	e.refs = newSegRefs(cfg.DataDir, cfg.MaxOpenSegments)
	e.refs.forget = func(ms []segment.SegmentMeta) { e.lastCache.forget(cfg.DataDir, ms) }
	e.refs.cache = segment.NewPageCache(cfg.queryCacheBytes())
	registerQueryCacheMetrics(e.metrics.Registry, e.refs.cache)
	// A sixteenth of the page cache's bound: a window is a row per series,
	// and a dashboard's ragged ends are a few windows per panel.
	e.windows = newWindowCache(cfg.queryCacheBytes() / 16)
	e.windows.register(e.metrics.Registry)
	e.tier = newTierer(e)
	e.comp = newCompactor(e)
	e.rollupM = newRollupMetrics(e.metrics.Registry)
	return e, nil
}

// Recover loads the manifest, replays the WAL and starts the flusher. On
// error the data directory is unlocked and the engine unusable.
func (e *Engine) Recover() error {
	e.mu.Lock()
	err := e.recover()
	if err == nil {
		// Before ready: Tables reads the published catalog from then on.
		e.catalogReplacedLocked()
		e.publishCatalogLocked()
		// And the heads replay filled (heads_pub.go).
		clear(e.hpub.touched)
		e.hpub.all = true
		e.publishHeadsLocked()
	}
	e.mu.Unlock()
	if err != nil {
		return errors.Join(err, e.lock.Close())
	}
	if e.flushUnstamped {
		// Rows of records logged before stamps took theirs at this
		// replay, from the clock now. Were they left in the WAL, a crash
		// after this node stamps new writes would replay them again with
		// a stamp later than those writes', and another writer's copy of
		// a point written in between would lose to the older value. So
		// they go to segments, with the stamps they took, before any
		// write is accepted.
		e.flushUnstamped = false
		if err := e.Flush(); err != nil {
			e.log.Error("flush of the rows replayed from records without write stamps failed: a crash before the next flush stamps them anew, later than this node's writes after this start",
				"err", err)
		}
	}
	e.ready.Store(true)
	go e.flushLoop()
	e.startCompactor()
	e.startTierer()
	return nil
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, errors.Join(fmt.Errorf("lock data dir %s (is another silt running on it?): %w", dir, err), f.Close())
	}
	return f, nil
}

// Metrics returns the engine's metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Config returns the configuration in force.
func (e *Engine) Config() Config { return e.cfg }

// Manifest returns the current manifest; callers must not modify it.
func (e *Engine) Manifest() *manifest.Manifest { return e.manifest.Load() }

// keepCopy reports whether a head may keep a copy of n more bytes that a
// query's fold made (segment.Head.CountCopiesIn): copies take at most half
// of --flush-bytes, and never so much that the heads come within half of
// --flush-bytes of --max-head-bytes, so reads neither push writes into
// backpressure nor start flushes; past that a fold copies for itself only.
func (e *Engine) keepCopy(n int64) bool {
	copies := e.copyBytes.Load()
	return copies+n <= e.cfg.FlushBytes/2 && e.HeadBytes()+n <= e.cfg.MaxHeadBytes-e.cfg.FlushBytes/2
}

// HeadBytes returns the memory held by active and frozen heads, the
// copies queries added to them included.
func (e *Engine) HeadBytes() int64 {
	return e.activeBytes.Load() + e.frozenBytes.Load() + e.copyBytes.Load()
}

// WAL record types.
const recBatch byte = 1

// Write admits the rows of b into database db. Rows that conflict with the
// schema are rejected individually (in sink.WriteResult.Rejected); the rest are
// durable when Write returns nil. Write filters b.Rows in place.
func (e *Engine) Write(db string, b *columnar.Batch) (sink.WriteResult, error) {
	return e.write(db, b, nil)
}

// write is Write and, with offs, WriteFrom.
func (e *Engine) write(db string, b *columnar.Batch, offs sink.SourceOffsets) (sink.WriteResult, error) {
	return e.writeRecord(db, b, offs, nil)
}

// writeRecord is write with an optional encoder of the WAL record (for
// WriteParts); nil encodes a type 1 or type 2 record.
func (e *Engine) writeRecord(db string, b *columnar.Batch, offs sink.SourceOffsets, encode func(dst []byte) []byte) (sink.WriteResult, error) {
	var res sink.WriteResult
	if e.stopping.Load() {
		return res, ErrClosed // before ErrNotReady: Close clears ready
	}
	if !e.ready.Load() {
		return res, ErrNotReady
	}
	if e.tier != nil && e.tier.cfg.ReadOnly {
		return res, ErrReadOnly
	}
	if err := sink.ValidateName("database", db); err != nil {
		return res, err
	}
	if e.HeadBytes() >= e.cfg.MaxHeadBytes {
		e.metrics.Backpressure.Inc()
		e.kickFlush()
		return res, sink.ErrBackpressure
	}
	if e.comp.behind.Load() { // compact.go: flushes must not outrun merges
		e.metrics.Backpressure.Inc()
		return res, ErrCompactionBehind
	}
	// Encode the record before taking the lock, assuming every row is
	// admitted, as nearly every write's are: writers queue on the lock,
	// and encoding was about a tenth of the time each held it. Admission only
	// drops rows (it changes no value), so when it keeps them all the
	// bytes are those encoded under the lock.
	//
	// It is compressed before the lock too (wal.Prepare), all but the stamp
	// header, which is sealed in under the lock: s2 compression of the
	// records was about a tenth of the server's CPU under a dashboard's
	// load, all of it inside the writers' critical section.
	var pre *wal.Record
	rows := len(b.Rows)
	// Which rows have the shape of the row before them, and each row's
	// tag hash (segment.RowTagsHash), before the lock too: they depend on
	// the batch alone, and building each row's shape was most of
	// admitLocked's time under the lock, hashing its tags a tenth of
	// Head.Append's.
	shapes := shapePool.Get().(*shapeScratch)
	defer shapes.release()
	shapes.mark(b)
	if encode == nil && len(offs) == 0 && rows > 0 {
		buf := recordPool.Get().(*[]byte)
		// The stamp header's room first: the stamp is taken under the lock.
		*buf = appendRecord(appendStampHeader((*buf)[:0], 0), db, b)
		pre, _ = wal.Prepare(*buf, stampedLen) // only a record too large fails: then encoded under the lock, and refused there
		if cap(*buf) <= walBufKeep {
			recordPool.Put(buf)
		}
		if pre != nil {
			defer pre.Release()
		}
	}
	e.mu.Lock()
	if e.closed || e.stopping.Load() {
		e.mu.Unlock()
		return res, ErrClosed
	}
	if e.wal == nil {
		e.mu.Unlock()
		return res, ErrNotReady
	}
	var undo schemaUndo
	res.Rejected = e.admitLocked(db, b, shapes.same, shapes.hashes, &undo, true)
	shapes.hashes = shapes.hashes[:len(b.Rows)] // admitLocked kept the admitted rows' hashes in front
	for _, r := range res.Rejected {
		e.metrics.RowsRejected.WithLabelValues(r.Code).Inc()
	}
	if len(b.Rows) == 0 && len(offs) == 0 {
		e.undoLocked(&undo) // nothing written: no new database, table or column either
		e.publishCatalogLocked()
		e.mu.Unlock()
		return res, nil
	}
	if len(b.Rows) == 0 {
		e.undoLocked(&undo) // only offsets are written
	}
	// One stamp a batch, logged with it (write_stamp.go): its rows are
	// written at once, and replay gives them the same stamp. It is taken
	// under the lock, so stamps follow the log's order.
	st := e.clock.Now()
	var rec []byte
	switch {
	case pre != nil && len(b.Rows) == rows:
		// rec stays nil: the prepared record is appended below.
	case encode != nil:
		e.walBuf = encode(appendStampHeader(e.walBuf[:0], st))
		rec = e.walBuf
	case len(offs) > 0:
		e.walBuf = appendOffsetsRecord(appendStampHeader(e.walBuf[:0], st), db, b, offs)
		rec = e.walBuf
	default:
		e.walBuf = appendRecord(appendStampHeader(e.walBuf[:0], st), db, b)
		rec = e.walBuf
	}
	var pos wal.Pos
	var err error
	if rec == nil {
		var stamp [stampedLen]byte
		putStampHeader(stamp[:], st)
		if err = pre.Seal(stamp[:]); err == nil {
			pos, err = e.wal.AppendRecord(pre)
		}
	} else {
		pos, err = e.wal.Append(rec)
	}
	if cap(e.walBuf) > walBufKeep {
		// One large write would otherwise keep a record buffer of its
		// size (about 1.5 times its body) for the life of the process.
		e.walBuf = nil
	}
	if err != nil {
		e.undoLocked(&undo)
		e.publishCatalogLocked()
		e.mu.Unlock()
		return res, fmt.Errorf("write wal: %w", err)
	}
	e.applyLocked(db, b, st, shapes.hashes)
	e.sources.Advance(offs)
	// Before the write is acknowledged: a query after it plans over its
	// new tables and columns (catalog_pub.go) and reads its rows
	// (heads_pub.go).
	e.publishCatalogLocked()
	e.publishWriteLocked(db)
	e.mu.Unlock()

	if err := e.wal.Sync(pos); err != nil {
		return res, fmt.Errorf("sync wal: %w", err)
	}
	res.Written = len(b.Rows)
	e.metrics.RowsWritten.WithLabelValues(LabelValue(db)).Add(float64(res.Written))
	return res, nil
}

// admitLocked checks every row of b against its table's schema, extending
// schemas with new columns, and filters b.Rows in place down to the admitted
// rows. e.sameShape[i] records whether admitted row i has the shape of
// admitted row i-1, for Head.Append.
//
// undo records the schema as it was, so that a batch that ends up not
// written (every row rejected, or the WAL append failed) leaves no trace.
// limit applies the Limits (new writes); replayed rows were acknowledged
// already and are admitted whatever the limits are now. same, when not
// nil, says for each row of b whether its shape is that of the row before
// it (shapeScratch.mark); nil: admitLocked finds out itself. hashes, when
// not nil, holds a value per row of b (the rows' tag hashes), filtered in
// place as b.Rows is: the first len(b.Rows) after are the admitted rows'.
func (e *Engine) admitLocked(db string, b *columnar.Batch, same []bool, hashes []uint64, undo *schemaUndo, limit bool) []columnar.LineError {
	tables := e.catalog[db]
	undo.db = db
	if tables == nil {
		tables = map[string]*columnar.TableSchema{}
		e.catalog[db] = tables
		undo.newDB = true
		e.catalogChangedLocked(db)
	}
	var rejected []columnar.LineError
	kept := b.Rows[:0]
	e.sameShape = e.sameShape[:0]
	prevOK := false
	var series *seriesCounter
	if limit && len(b.Rows) > e.cfg.Limits.MaxNewSeriesPerWrite {
		series = &seriesCounter{max: e.cfg.Limits.MaxNewSeriesPerWrite, seen: map[string]bool{}}
	}
	for i := range b.Rows {
		r := b.Rows[i]
		if series != nil && !series.admit(e.heads[db][string(b.Bytes(r.Table))], b, &r) {
			rejected = append(rejected, columnar.LineError{Line: int(r.Line), Code: CodeTooManyNewSeries,
				Reason: fmt.Sprintf("this write adds more than %d new series (--max-new-series-per-write); split it", series.max)})
			prevOK = false
			continue
		}
		var sameShape bool
		if same != nil {
			sameShape = same[i]
		} else {
			e.shape = columnar.RowShape(e.shape[:0], b, &r)
			sameShape = i > 0 && string(e.shape) == string(e.prevShape)
			e.shape, e.prevShape = e.prevShape, e.shape
		}
		if sameShape && prevOK {
			// Same shape as the admitted row before it: admitted too.
			e.sameShape = append(e.sameShape, true)
			if hashes != nil {
				hashes[len(kept)] = hashes[i]
			}
			kept = append(kept, r)
			continue
		}
		name := b.Bytes(r.Table)
		if err := sink.ValidateName("table", string(name)); err != nil {
			rejected = append(rejected, columnar.LineError{Line: int(r.Line), Code: "bad-table-name", Reason: err.Error()})
			prevOK = false
			continue
		}
		s := tables[string(name)]
		if s == nil {
			s = columnar.NewTableSchema()
			tables[string(name)] = s
			e.catalogChangedLocked(db)
		}
		if limit {
			if lerr := e.cfg.Limits.checkRow(b, &r, s); lerr != nil {
				rejected = append(rejected, *lerr)
				prevOK = false
				if len(s.Tags)+len(s.Fields) == 0 && e.heads[db][string(name)] == nil {
					delete(tables, string(name)) // created above for this row only
				}
				continue
			}
		}
		undo.note(string(name), s)
		cols := len(s.Tags) + len(s.Fields)
		if lerr := s.Admit(b, &r); lerr != nil {
			rejected = append(rejected, *lerr)
			prevOK = false
			continue
		}
		if len(s.Tags)+len(s.Fields) != cols {
			e.catalogChangedLocked(db)
		}
		e.sameShape = append(e.sameShape, false)
		if hashes != nil {
			hashes[len(kept)] = hashes[i]
		}
		kept = append(kept, r)
		prevOK = true
	}
	b.Rows = kept
	return rejected
}

// schemaUndo remembers the catalog's state before a batch was admitted.
type schemaUndo struct {
	db     string
	newDB  bool
	tables map[string]tableUndo
}

type tableUndo struct {
	s              *columnar.TableSchema
	nTags, nFields int
}

// note records table's schema the first time the batch touches it.
func (u *schemaUndo) note(table string, s *columnar.TableSchema) {
	if _, ok := u.tables[table]; ok {
		return
	}
	if u.tables == nil {
		u.tables = map[string]tableUndo{}
	}
	u.tables[table] = tableUndo{s: s, nTags: len(s.Tags), nFields: len(s.Fields)}
}

// undoLocked restores the catalog recorded in u. A table that had no
// columns before the batch did not exist (every written row has a field).
func (e *Engine) undoLocked(u *schemaUndo) {
	if len(u.tables) > 0 || u.newDB {
		e.catalogChangedLocked(u.db)
	}
	for name, t := range u.tables {
		if t.nFields == 0 && e.heads[u.db][name] == nil {
			delete(e.catalog[u.db], name)
			continue
		}
		t.s.Truncate(t.nTags, t.nFields)
	}
	if u.newDB && len(e.catalog[u.db]) == 0 {
		delete(e.catalog, u.db)
	}
}

// shapeScratch says which rows of a batch have the shape of the row
// before them (columnar.RowShape), and hashes their tags
// (segment.RowTagsHash), before the engine lock.
type shapeScratch struct {
	same     []bool
	hashes   []uint64
	cur, prv []byte
	key      []byte // RowTagsHash's buffer
}

var shapePool = sync.Pool{New: func() any { return new(shapeScratch) }}

// release gives s back to the pool, unless one huge write grew it.
func (s *shapeScratch) release() {
	if cap(s.hashes)*8 <= walBufKeep && cap(s.key) <= walBufKeep { // s.same is no longer than s.hashes
		shapePool.Put(s)
	}
}

// mark fills s.same and s.hashes for b's rows. Rows of one source mostly
// share the previous row's key strings in the arena (columnar.Batch reuses
// them), so equal spans tell most rows apart from their shape at once; the
// others compare the shapes' bytes. A row whose tags are the previous
// row's spans (the same series, another table or time) has its hash.
func (s *shapeScratch) mark(b *columnar.Batch) {
	s.same, s.hashes = s.same[:0], s.hashes[:0]
	for i := range b.Rows {
		if i == 0 {
			var h uint64
			h, s.key = segment.RowTagsHash(s.key, b, &b.Rows[i])
			s.same, s.hashes = append(s.same, false), append(s.hashes, h)
			continue
		}
		p, r := &b.Rows[i-1], &b.Rows[i]
		if slices.Equal(b.RowTags(p), b.RowTags(r)) {
			s.hashes = append(s.hashes, s.hashes[i-1])
		} else {
			var h uint64
			h, s.key = segment.RowTagsHash(s.key, b, r)
			s.hashes = append(s.hashes, h)
		}
		same := sameKeySpans(b, p, r)
		if !same {
			s.prv = columnar.RowShape(s.prv[:0], b, p)
			s.cur = columnar.RowShape(s.cur[:0], b, r)
			same = string(s.prv) == string(s.cur)
		}
		s.same = append(s.same, same)
	}
}

// sameKeySpans reports whether rows p and r of b name their table, tag
// keys and field keys with the same spans, and their fields have the same
// types: then they have the same shape.
func sameKeySpans(b *columnar.Batch, p, r *columnar.Row) bool {
	if p.Table != r.Table || p.TagEnd-p.TagStart != r.TagEnd-r.TagStart || p.FieldEnd-p.FieldStart != r.FieldEnd-r.FieldStart {
		return false
	}
	pt, rt := b.RowTags(p), b.RowTags(r)
	for j := range rt {
		if pt[j].Key != rt[j].Key {
			return false
		}
	}
	pf, rf := b.RowFields(p), b.RowFields(r)
	for j := range rf {
		if pf[j].Key != rf[j].Key || pf[j].Type != rf[j].Type {
			return false
		}
	}
	return true
}

// recordPool holds the buffers writes encode their WAL records into before
// taking the engine lock.
var recordPool = sync.Pool{New: func() any { return new([]byte) }}

// walBufKeep is the largest WAL record buffer the engine keeps between
// writes: the records of Telegraf-sized batches (5000 lines, about 1 MiB)
// fit, a 64 MiB request's does not stay.
const walBufKeep = 4 << 20

func appendRecord(dst []byte, db string, b *columnar.Batch) []byte {
	dst = append(dst, recBatch)
	dst = binary.AppendUvarint(dst, uint64(len(db)))
	dst = append(dst, db...)
	return b.AppendBinary(dst)
}

func decodeRecord(p []byte, b *columnar.Batch) (string, error) {
	if len(p) < 1 || p[0] != recBatch {
		return "", fmt.Errorf("unknown wal record type")
	}
	n, k := binary.Uvarint(p[1:])
	if k <= 0 || uint64(len(p)-1-k) < n {
		return "", fmt.Errorf("bad wal record database name")
	}
	db := string(p[1+k : 1+k+int(n)])
	return db, b.UnmarshalBinary(p[1+k+int(n):])
}

// applyLocked appends admitted rows to the active heads, each with the
// batch's write stamp st. hashes, when not nil, holds each row's
// segment.RowTagsHash, computed before the lock; nil (replay): the heads
// hash the rows themselves.
func (e *Engine) applyLocked(db string, b *columnar.Batch, st int64, hashes []uint64) {
	heads := e.heads[db]
	if heads == nil {
		heads = map[string]*segment.Head{}
		e.heads[db] = heads
	}
	if e.activeBytes.Load() == 0 {
		e.firstWrite = time.Now()
		e.stampMin = st
	}
	e.stampMax = st
	var prev *segment.Head
	for i := range b.Rows {
		r := &b.Rows[i]
		name := b.Bytes(r.Table)
		h := heads[string(name)]
		if h == nil {
			h = e.newHeadLocked(db, string(name))
			heads[string(name)] = h
			e.activeBytes.Add(h.Bytes()) // the room reserved for its rows
			e.headsChangedLocked(db)
		}
		if i == 0 || h != prev {
			e.touchLocked(h, string(name))
			prev = h
		}
		before := h.Bytes()
		h.StampNext(st)
		if hashes != nil {
			h.AppendHashed(b, r, e.sameShape[i], hashes[i])
		} else {
			h.Append(b, r, e.sameShape[i])
		}
		e.activeBytes.Add(h.Bytes() - before)
	}
	e.headRows.Add(int64(len(b.Rows)))
	if e.activeBytes.Load() >= e.cfg.FlushBytes {
		e.kickFlush()
	}
}

func (e *Engine) kickFlush() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Ready reports whether the WAL has been replayed.
func (e *Engine) Ready() bool { return e.ready.Load() }

// StopWrites begins a shutdown: from its return every write (and drop)
// is refused with ErrClosed — "shutting-down" to HTTP clients, at once
// rather than after the final flush — while queries are still answered.
// Every write acknowledged before it is in a head or frozen set that the
// next Flush writes out (the check is made under the lock writes append
// to the WAL under), so a Flush after StopWrites leaves the WAL holding
// nothing acknowledged that is not in a segment.
func (e *Engine) StopWrites() {
	e.mu.Lock()
	e.stopping.Store(true)
	e.mu.Unlock()
}

// Stopping reports whether StopWrites (or Close) was called.
func (e *Engine) Stopping() bool { return e.stopping.Load() }

// Close stops the flusher, flushes every head and closes the WAL. After a
// clean Close the WAL is empty. Writes are refused from its start
// (StopWrites).
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.stopping.Store(true)
	e.mu.Unlock()
	if !e.ready.Swap(false) {
		// Never recovered (or recovery failed): nothing to flush.
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		return e.lock.Close()
	}
	e.stopTierer()
	e.stopCompactor()
	close(e.stop)
	<-e.done
	ferr := e.Flush()
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	werr := e.wal.Close()
	return errors.Join(ferr, werr, e.refs.closeAll(), e.lock.Close())
}
