package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// TierConfig configures tiering to an object store (docs/tiering.md).
// Tiering is off when Tier is nil.
type TierConfig struct {
	Tier *tiering.Tier
	// After (--tier.after): a day window is moved once it ended this long
	// ago and compaction has nothing left to do in it. 0 means 24h.
	After time.Duration
	// Interval (--tier.interval) is how often the background loop looks
	// for work; 0 means a minute.
	Interval time.Duration
	// DeleteGrace (--tier.delete-grace) is how long an object that left
	// the bucket manifest (compaction, retention or a drop retired its
	// segment) stays in the bucket before a pass deletes it: a query node
	// or read-only node that loaded the manifest before may still read
	// it. 0 deletes at the first pass after the manifest stopped naming
	// it.
	DeleteGrace time.Duration
	// MaxSegmentsPerPass bounds one pass (and so one bucket manifest
	// upload and one local commit); 0 means 64.
	MaxSegmentsPerPass int
	// ReadOnly (--s3.read-only) serves the bucket's manifest: no writes, no
	// local segments, no compaction, retention or uploads. The data
	// directory must not hold a manifest of its own.
	ReadOnly bool
	// Manifests, if set on a read-only node, replaces the bucket's
	// manifest with the one it returns, at open and at every reload (a
	// query node's union of every writer's manifest, package cluster).
	// Its segment paths are keys in Tier's store.
	Manifests func(context.Context) (*manifest.Manifest, error)
	// Guard, if set, is called before every write to the bucket (a pass,
	// the manifest upload, deletes); an error stops the write (a writer
	// that lost its node id's lease to another process, package cluster).
	Guard func(context.Context) error
	// Overlay, if set on a read-only node, adds to every scan the rows
	// other nodes hold outside the bucket (a query node's live writers'
	// heads and local segments, package cluster), as heads built on a copy
	// of the table's schema, latest last; missing names the nodes whose
	// rows could not be had (the scan's Missing). It runs before the scan
	// reads the manifest, and must reload the manifest after fetching:
	// a writer publishes a segment in the bucket before it stops counting
	// it as local, so rows are then in one or the other (or both: the
	// merge keeps one).
	Overlay func(ctx context.Context, db, table string, minT, maxT int64, schema *columnar.TableSchema) (heads []*segment.Head, missing []string, err error)
	// Publish, if set, is called with the manifest at the end of every
	// pass and before retired objects are deleted from the bucket (the
	// Iceberg tables, package iceberg): while it fails, nothing is
	// deleted, so what it published stays readable.
	Publish func(ctx context.Context, m *manifest.Manifest) error
}

// DefaultDeleteGrace is --tier.delete-grace's default: five of the
// default tiering intervals, which is how often a query node reloads the
// manifests at the least (it also reloads before every scan), with room
// for a scan that started on the previous manifest.
const DefaultDeleteGrace = 5 * time.Minute

// BucketManifestKey is the bucket manifest's key under --s3.prefix.
const BucketManifestKey = manifest.ManifestFile

// Errors of tiered operation, with stable codes in the HTTP layer.
var (
	// ErrColdUnavailable: a query needs segments held in the object store,
	// and the store cannot be reached. Queries over local data still work.
	ErrColdUnavailable = errors.New("cold data unavailable: the object store holding tiered segments cannot be reached")
	// ErrReadOnly: the node serves a bucket read-only (--s3.read-only).
	ErrReadOnly = errors.New("this node is read-only (--s3.read-only): it serves the bucket's tiered segments and takes no writes")
)

// IsColdUnavailable reports whether err means cold data could not be read
// because the object store is unreachable (at open or mid-scan), or
// because objects the query needed were gone even after it was run again
// on reloaded manifests (ErrObjectGone): either way the answer is refused,
// and asking again later may succeed.
func IsColdUnavailable(err error) bool {
	return errors.Is(err, ErrColdUnavailable) || errors.Is(err, tiering.ErrUnavailable) || errors.Is(err, ErrObjectGone)
}

// tierer is the state of the background tiering loop.
type tierer struct {
	cfg    TierConfig
	ctx    context.Context // ends at Close: cancels uploads and cold reads
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
	m      *tierMetrics

	mu sync.Mutex // serializes passes (loop and TierNow)
	// reload serializes ReloadBucketManifest, so that of two concurrent
	// reloads the later fetch is the one left in place.
	reload sync.Mutex
	// published is the set of cold segments the bucket manifest names
	// (id → key); unknown (nil) after a start, so the first pass reads the
	// bucket's and republishes it. What leaves it goes to the ledger
	// (tier_ledger.go) before the bucket manifest stops naming it.
	published map[uint64]string
	// failAt is the tests' crash hook (tierer.failpoint).
	failAt atomic.Pointer[func(step string) error]
}

func newTierer(e *Engine) *tierer {
	cfg := e.cfg.Tiering
	if cfg.Tier == nil {
		return nil
	}
	if cfg.After <= 0 {
		cfg.After = 24 * time.Hour
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.MaxSegmentsPerPass <= 0 {
		cfg.MaxSegmentsPerPass = 64
	}
	if cfg.ReadOnly {
		// Retention and merges would commit a local manifest of segments
		// this node does not own.
		e.cfg.Compaction.Disabled = true
	}
	e.cfg.Tiering = cfg
	ctx, cancel := context.WithCancel(context.Background())
	t := &tierer{cfg: cfg, ctx: ctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	t.m = newTierMetrics(e)
	e.refs.openCold = e.openColdSegment
	return t
}

// startTierer starts the background loop (after recovery).
func (e *Engine) startTierer() {
	if e.tier == nil {
		return
	}
	go e.tierLoop()
}

// stopTierer cancels running uploads and waits for the loop to end.
func (e *Engine) stopTierer() {
	if e.tier == nil {
		return
	}
	select {
	case <-e.tier.stop:
		return
	default:
		close(e.tier.stop)
	}
	e.tier.cancel()
	select {
	case <-e.tier.done:
	case <-time.After(time.Minute):
		e.log.Warn("tiering loop did not stop within a minute")
	}
}

// tierLoop runs tiering passes (or, read-only, manifest reloads), backing
// off after failures: an unreachable store keeps everything local and is
// retried, up to every five minutes.
func (e *Engine) tierLoop() {
	t := e.tier
	defer close(t.done)
	var backoff time.Duration
	wait := t.cfg.Interval
	for {
		timer := time.NewTimer(wait)
		select {
		case <-t.stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		var err error
		if t.cfg.ReadOnly {
			err = e.ReloadBucketManifest(t.ctx)
		} else {
			_, err = e.TierNow(t.ctx)
		}
		if err == nil {
			backoff, wait = 0, t.cfg.Interval
			continue
		}
		if errors.Is(err, context.Canceled) {
			return
		}
		backoff = min(max(2*backoff, t.cfg.Interval), 5*time.Minute)
		wait = backoff
		e.log.Error("tiering pass failed; local data stays local, retrying", "err", err, "retry_in", backoff)
	}
}

// TierStats reports one tiering pass.
type TierStats struct {
	Segments      int   // moved to the object store and marked cold
	Bytes         int64 // their size
	Resumed       int   // of them, already in the store from an interrupted pass
	BucketDeletes int   // objects deleted in the bucket (retention, compaction)
}

// TierNow runs one tiering pass: it publishes the bucket manifest and
// deletes objects no segment names any more (retired cold segments), then
// moves the windows that are due. Order, so that a crash anywhere leaves
// every segment either local or verified in the bucket, named by the local
// manifest:
//
//  1. upload each segment and verify it (size and CRC-64/NVME);
//  2. upload the bucket manifest naming them (and the earlier cold ones);
//  3. commit the local manifest marking them cold;
//  4. retire the local files (deleted once no scan reads them).
//
// A failure before 3 changes nothing locally; the next pass resumes (an
// object already verified in the bucket is not sent again).
func (e *Engine) TierNow(ctx context.Context) (TierStats, error) {
	var st TierStats
	t := e.tier
	if t == nil {
		return st, errors.New("tiering is not configured (--s3.endpoint)")
	}
	if t.cfg.ReadOnly {
		return st, ErrReadOnly
	}
	if !e.ready.Load() {
		return st, ErrNotReady
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.failpoint("pass.start"); err != nil {
		return st, err
	}
	if err := t.guard(ctx); err != nil {
		t.m.Failures.WithLabelValues("fenced").Inc()
		return st, err
	}
	n, err := e.syncBucket(ctx)
	st.BucketDeletes = n
	if err != nil {
		t.m.Failures.WithLabelValues(failureClass(err)).Inc()
		return st, err
	}
	cands := e.tierCandidates(time.Now())
	if len(cands) == 0 {
		return st, e.publishTables(ctx)
	}
	u := t.cfg.Tier.Uploader
	uploads := make([]tiering.Upload, len(cands))
	keys := make([]string, len(cands))
	for i, s := range cands {
		uploads[i] = tiering.Upload{Path: filepath.Join(e.cfg.DataDir, filepath.FromSlash(s.Path)), Key: s.Path}
		keys[i] = s.Path
	}
	// The keys go to the ledger before a byte is sent: whatever happens
	// to the pass or to its segments, the next pass finds the objects.
	if err := e.recordUploads(keys); err != nil {
		t.m.Failures.WithLabelValues("commit").Inc()
		return st, err
	}
	if err := t.failpoint("pass.recorded"); err != nil {
		return st, err
	}
	res, err := u.UploadSegments(ctx, uploads...)
	if err != nil {
		cands, res, err = e.dropReplaced(cands, res)
		if err != nil {
			t.m.Failures.WithLabelValues(failureClass(err)).Inc()
			return st, fmt.Errorf("tier %d segments: %w", len(cands), err)
		}
		if len(cands) == 0 {
			return st, nil
		}
	}
	cold := make([]segment.SegmentMeta, len(cands))
	for i, s := range cands {
		s.Tier, s.Checksum, s.Bytes = segment.TierS3, res[i].Checksum, res[i].Size
		cold[i] = s
		if res[i].Resumed {
			st.Resumed++
		}
	}
	if err := t.failpoint("pass.uploaded"); err != nil {
		return st, err
	}
	// Cold segments a merge or retention retired since the sync above are
	// named by the bucket manifest now in place (published) and not by
	// the one about to replace it: into the ledger first, from the very
	// manifest the new bucket manifest is built from, or nothing would
	// remember their objects.
	m, err := e.recordRetired(t.published, nil)
	if err != nil {
		t.m.Failures.WithLabelValues("commit").Inc()
		return st, err
	}
	bm, ids, err := bucketManifestOf(m, cold)
	if err != nil {
		return st, err
	}
	if err := t.guard(ctx); err != nil {
		// The uploads stay in the ledger until a pass may write again.
		t.m.Failures.WithLabelValues("fenced").Inc()
		return st, err
	}
	if r := u.PutManifest(ctx, BucketManifestKey, bm, res); r.Err != nil {
		// The put may have reached the store (the answer was lost), so
		// the bucket manifest may name these uploads: the next pass
		// reads it back and republishes it from the local manifest.
		t.published = nil
		t.m.Failures.WithLabelValues(failureClass(r.Err)).Inc()
		return st, fmt.Errorf("tier: bucket manifest: %w", r.Err)
	}
	t.published = ids
	if err := t.failpoint("pass.manifest"); err != nil {
		return st, err
	}
	if err := e.stampUnlisted(); err != nil {
		t.m.Failures.WithLabelValues("commit").Inc()
		return st, err
	}
	locals, colds, err := e.markCold(cold)
	if err != nil {
		t.m.Failures.WithLabelValues("commit").Inc()
		return st, err
	}
	e.refs.demote(locals, colds)
	if err := t.failpoint("pass.committed"); err != nil {
		return st, err
	}
	for _, s := range colds {
		st.Segments++
		st.Bytes += s.Bytes
	}
	t.m.Segments.Add(float64(st.Segments))
	t.m.Bytes.Add(float64(st.Bytes))
	e.log.Info("tiered segments to the object store", "segments", st.Segments, "bytes", st.Bytes, "resumed", st.Resumed)
	return st, e.publishTables(ctx)
}

// publishTables runs the Publish hook on the current manifest.
func (e *Engine) publishTables(ctx context.Context) error {
	t := e.tier
	if t.cfg.Publish == nil {
		return nil
	}
	if err := t.guard(ctx); err != nil {
		return err
	}
	if err := t.cfg.Publish(ctx, e.Manifest()); err != nil {
		t.m.Failures.WithLabelValues("publish").Inc()
		return fmt.Errorf("tier: publish tables: %w", err)
	}
	return nil
}

// dropReplaced takes out of a pass the uploads that failed because
// compaction or retention replaced their segment meanwhile (its file is
// gone and the manifest no longer names it): with writes arriving in a
// window that is not cold yet, merges replace segments while a slow pass
// uploads them, and failing the whole pass for that would back off and
// try again with the same race, never tiering the window. Any other
// failure fails the pass.
func (e *Engine) dropReplaced(cands []segment.SegmentMeta, res []tiering.UploadResult) ([]segment.SegmentMeta, []tiering.UploadResult, error) {
	live := map[uint64]bool{}
	for _, s := range e.Manifest().Segments {
		live[s.ID] = true
	}
	var keptC []segment.SegmentMeta
	var keptR []tiering.UploadResult
	var errs []error
	for i, r := range res {
		switch {
		case r.Err == nil:
			keptC, keptR = append(keptC, cands[i]), append(keptR, r)
		case live[cands[i].ID]:
			errs = append(errs, r.Err)
		}
	}
	if len(errs) > 0 {
		return cands, res, errors.Join(errs...)
	}
	return keptC, keptR, nil
}

// guard runs the configured Guard, if any.
func (t *tierer) guard(ctx context.Context) error {
	if t.cfg.Guard == nil {
		return nil
	}
	if err := t.cfg.Guard(ctx); err != nil {
		return fmt.Errorf("tier: bucket writes refused: %w", err)
	}
	return nil
}

func failureClass(err error) string {
	switch {
	case errors.Is(err, tiering.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, tiering.ErrChecksum):
		return "checksum"
	case errors.Is(err, tiering.ErrAccessDenied):
		return "access_denied"
	case errors.Is(err, tiering.ErrNotFound):
		return "not_found"
	}
	return "other"
}

// tierCandidates returns the local segments due for the object store:
// their window ended more than After ago, retention keeps some of their
// rows, and compaction has nothing left to do in the window (the same plan
// the compactor makes; compaction leaves windows with cold segments alone,
// so a late write into a cold window is tiered as it is).
func (e *Engine) tierCandidates(now time.Time) []segment.SegmentMeta {
	e.flushMu.Lock()
	m := e.manifest.Load()
	e.flushMu.Unlock()
	limit := now.Add(-e.tier.cfg.After).UnixNano()
	byWin := map[windowKey][]segment.SegmentMeta{}
	rolls := map[windowKey][]segment.SegmentMeta{} // tiered with their window
	for _, s := range m.Segments {
		k := windowKey{s.DB, s.Table, s.Window}
		if s.IsRollup() {
			rolls[k] = append(rolls[k], s)
			continue
		}
		byWin[k] = append(byWin[k], s)
	}
	pol := e.cfg.Compaction.Policy
	var out []segment.SegmentMeta
	for k, segs := range byWin {
		start := segment.WindowOf(segs[0].MinTime)
		if start+int64(segment.WindowDuration) > limit {
			continue
		}
		cutoff := e.cutoff(m, k.db, now.UnixNano())
		hasCold := slices.ContainsFunc(segs, segment.SegmentMeta.Cold)
		if !hasCold && !e.cfg.Compaction.Disabled {
			slices.SortFunc(segs, func(a, b segment.SegmentMeta) int { return cmp.Compare(a.ID, b.ID) })
			plan := make([]compaction.Seg, len(segs))
			for i, s := range segs {
				plan[i] = compaction.Seg{Rows: s.Rows, MinTime: s.MinTime, MaxTime: s.MaxTime}
			}
			if pol.Plan(plan) < len(segs) || compaction.TrimDue(plan, start, int64(segment.WindowDuration), cutoff) {
				continue // a merge is still due: tier its output instead
			}
		}
		for _, s := range append(segs, rolls[k]...) {
			if !s.Cold() && s.MaxTime >= cutoff {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b segment.SegmentMeta) int { return cmp.Compare(a.ID, b.ID) })
	if len(out) > e.tier.cfg.MaxSegmentsPerPass {
		out = out[:e.tier.cfg.MaxSegmentsPerPass]
	}
	return out
}

// bucketManifestOf encodes the manifest the bucket gets: local's
// databases and schemas, and its cold segments plus extra (about to be
// marked cold). WAL state and the ledger are local and left out. It
// returns the segments named (id → key).
func bucketManifestOf(local *manifest.Manifest, extra []segment.SegmentMeta) ([]byte, map[uint64]string, error) {
	m := local.Clone()
	ids := map[uint64]string{}
	var segs []segment.SegmentMeta
	for _, s := range m.Segments {
		if s.Cold() {
			segs = append(segs, s)
			ids[s.ID] = s.Path
		}
	}
	for _, s := range extra {
		if _, ok := ids[s.ID]; !ok {
			segs = append(segs, s)
			ids[s.ID] = s.Path
		}
	}
	slices.SortFunc(segs, func(a, b segment.SegmentMeta) int { return cmp.Compare(a.ID, b.ID) })
	// The ledger is this directory's own state, and the bucket manifest
	// stays in the version every reader (query nodes, older builds) reads.
	m.Segments, m.WALSeq, m.Bucket, m.Version = segs, 0, nil, manifest.VersionBase
	raw, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, nil, fmt.Errorf("encode bucket manifest: %w", err)
	}
	return raw, ids, nil
}

// markCold commits the local manifest with cold's segments marked cold
// (those still there: compaction or retention may have replaced some
// meanwhile; their objects are then orphans the next pass deletes). It
// returns the local metas replaced and their cold versions.
func (e *Engine) markCold(cold []segment.SegmentMeta) (locals, colds []segment.SegmentMeta, err error) {
	byID := map[uint64]segment.SegmentMeta{}
	for _, s := range cold {
		byID[s.ID] = s
	}
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	m := e.manifest.Load().Clone()
	for i, s := range m.Segments {
		if c, ok := byID[s.ID]; ok && !s.Cold() {
			locals = append(locals, s)
			colds = append(colds, c)
			m.Segments[i] = c
		}
	}
	if len(colds) == 0 {
		return nil, nil, nil
	}
	settleUploads(m) // in the same commit: a key is named by a segment or the ledger throughout
	if err := m.Commit(e.cfg.DataDir); err != nil {
		return nil, nil, fmt.Errorf("tier: commit manifest marking %d segments cold: %w", len(colds), err)
	}
	e.mu.Lock()
	e.setManifestLocked(m)
	e.mu.Unlock()
	return locals, colds, nil
}

// syncBucket makes the bucket match the local manifest. In this order,
// so that a crash between any two steps leaves every object named by the
// local manifest, by its ledger, or by nothing the node wrote:
//
//  1. record in the ledger (one local commit) the objects no segment names
//     any more: cold segments the bucket manifest names and the local one
//     no longer does (compaction or retention replaced them), uploads whose
//     segment left, and, once per start, objects a listing finds;
//  2. republish the bucket manifest when the cold set changed (always
//     after a start), so it never names a deleted object;
//  3. record when that manifest was put (PendingDelete.Unlisted);
//  4. once --tier.delete-grace has passed since, publish the tables
//     (Iceberg) without them, delete them, and commit the ledger without
//     them.
func (e *Engine) syncBucket(ctx context.Context) (int, error) {
	t := e.tier
	m := e.Manifest()
	prev := t.published
	first := prev == nil
	var listed []string
	if first {
		bm, err := e.checkBucketOwner(ctx, m)
		if err != nil {
			return 0, err
		}
		prev = map[uint64]string{}
		if bm != nil {
			for _, s := range bm.Segments {
				prev[s.ID] = s.Path
			}
		}
		// The safety net: objects a build without the ledger left behind.
		objs, err := t.cfg.Tier.Store.List(ctx, "segments/")
		if err != nil {
			return 0, fmt.Errorf("list bucket segments: %w", err)
		}
		for _, o := range objs {
			listed = append(listed, o.Key)
		}
	}
	// The bucket manifest is built from the manifest the ledger was
	// checked against: a cold segment retired after it is still named by
	// the new bucket manifest, and so found by the next pass.
	m, err := e.recordRetired(prev, listed)
	if err != nil {
		t.m.Failures.WithLabelValues("commit").Inc()
		return 0, err
	}
	if err := t.failpoint("sync.recorded"); err != nil {
		return 0, err
	}
	cur := map[uint64]bool{}
	for _, s := range m.Segments {
		if s.Cold() {
			cur[s.ID] = true
		}
	}
	changed := first || len(cur) != len(prev)
	for id := range prev {
		if !cur[id] {
			changed = true
		}
	}
	if changed {
		raw, ids, err := bucketManifestOf(m, nil)
		if err != nil {
			return 0, err
		}
		if r := t.cfg.Tier.Uploader.PutManifest(ctx, BucketManifestKey, raw, nil); r.Err != nil {
			t.published = nil // read it back next pass
			return 0, fmt.Errorf("publish bucket manifest: %w", r.Err)
		}
		t.published = ids
		if err := t.failpoint("sync.published"); err != nil {
			return 0, err
		}
	}
	// The bucket manifest in place (put now, or unchanged) names none of
	// the ledger's deletes: the cold segments it names are all still
	// cold here, and recordRetired keeps only keys no segment names. So
	// the grace of those not stamped yet (an upload whose segment left
	// before any manifest named it) starts now.
	if err := e.stampUnlisted(); err != nil {
		t.m.Failures.WithLabelValues("commit").Inc()
		return 0, err
	}
	return e.deleteRetired(ctx)
}

// checkBucketOwner refuses to manage a bucket whose manifest names
// segments this data directory never had (ids it has not handed out):
// another node's bucket, or this node's after it lost its disk while the
// bucket was unreachable at start. Republishing or deleting there would
// destroy that data.
//
// It returns the bucket's manifest (nil if there is none).
func (e *Engine) checkBucketOwner(ctx context.Context, m *manifest.Manifest) (*manifest.Manifest, error) {
	bm, err := e.fetchBucketManifest(ctx)
	if errors.Is(err, tiering.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	known := map[uint64]bool{}
	for _, s := range m.Segments {
		known[s.ID] = true
	}
	for _, s := range bm.Segments {
		if !known[s.ID] && s.ID >= m.NextSegmentID {
			return nil, fmt.Errorf("bucket manifest names segment %d (%s) this data directory never wrote: "+
				"refusing to tier into another node's bucket (use another --s3.prefix, or --s3.read-only to serve it)", s.ID, s.Path)
		}
	}
	return bm, nil
}

// segmentID parses the id out of a segment key (…/<id>.parquet).
func segmentID(key string) (uint64, bool) {
	base, ok := strings.CutSuffix(path.Base(key), ".parquet")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(base, 10, 64)
	return id, err == nil
}

// openColdSegment opens a cold segment through the tiering layer: one
// ranged GET of the footer (none when the footer cache has it); columns are
// fetched when scanned. The name is the local path, so per-segment caches
// (last values) survive the move.
func (e *Engine) openColdSegment(m segment.SegmentMeta) (*segment.Segment, error) {
	t := e.tier
	rf, err := t.cfg.Tier.OpenSegment(t.ctx, m.Path, &tiering.ObjectInfo{Size: m.Bytes, Checksum: m.Checksum})
	if err != nil {
		return nil, coldError(m, err)
	}
	seg, err := segment.OpenSegmentReader(rf, filepath.Join(e.cfg.DataDir, filepath.FromSlash(m.Path)), rf)
	if err != nil {
		return nil, coldError(m, err)
	}
	t.m.ColdOpens.Inc()
	return seg, nil
}

func coldError(m segment.SegmentMeta, err error) error {
	if errors.Is(err, tiering.ErrUnavailable) {
		return fmt.Errorf("%w: segment %s: %w", ErrColdUnavailable, m.Path, err)
	}
	return fmt.Errorf("open cold segment %s: %w", m.Path, err)
}

// loadManifest returns the manifest recovery starts from: the data
// directory's, or on a read-only node the bucket's.
func (e *Engine) loadManifest() (*manifest.Manifest, error) {
	if e.tier == nil {
		return manifest.LoadManifest(e.cfg.DataDir)
	}
	_, statErr := os.Stat(filepath.Join(e.cfg.DataDir, manifest.ManifestFile))
	if !e.tier.cfg.ReadOnly {
		if !errors.Is(statErr, os.ErrNotExist) {
			return manifest.LoadManifest(e.cfg.DataDir)
		}
		return e.adoptBucketManifest()
	}
	if statErr == nil {
		return nil, fmt.Errorf("read-only node: data directory %s holds a manifest of its own; give --s3.read-only a fresh --data-dir", e.cfg.DataDir)
	}
	return e.readOnlyManifest(e.tier.ctx)
}

// readOnlyManifest is the manifest a read-only node serves: the bucket's,
// or the one TierConfig.Manifests composes.
func (e *Engine) readOnlyManifest(ctx context.Context) (*manifest.Manifest, error) {
	if f := e.tier.cfg.Manifests; f != nil {
		return f(ctx)
	}
	return e.fetchBucketManifest(ctx)
}

// adoptBucketManifest starts a data directory without a manifest from the
// bucket's, if it has one: a node that lost its disk serves every tiered
// segment again (and replays the WAL it kept on top). The adopted manifest
// is committed locally at once.
func (e *Engine) adoptBucketManifest() (*manifest.Manifest, error) {
	ctx, cancel := context.WithTimeout(e.tier.ctx, 30*time.Second)
	defer cancel()
	bm, err := e.fetchBucketManifest(ctx)
	switch {
	case errors.Is(err, tiering.ErrNotFound):
		return manifest.NewManifest(), nil
	case err != nil:
		// Start anyway: local ingest must not depend on the store. The
		// first tiering pass checks the bucket before touching it.
		e.log.Warn("could not read the bucket manifest for a new data directory; starting empty", "err", err)
		return manifest.NewManifest(), nil
	case len(bm.Segments) == 0:
		return manifest.NewManifest(), nil
	}
	if err := bm.Commit(e.cfg.DataDir); err != nil {
		return nil, fmt.Errorf("adopt bucket manifest: %w", err)
	}
	e.log.Info("new data directory: adopted the bucket's manifest; its tiered segments are served from the bucket",
		"segments", len(bm.Segments))
	return bm, nil
}

// fetchBucketManifest reads and parses the bucket's manifest.
func (e *Engine) fetchBucketManifest(ctx context.Context) (*manifest.Manifest, error) {
	store := e.tier.cfg.Tier.Store
	info, err := store.Stat(ctx, BucketManifestKey)
	if err != nil {
		return nil, fmt.Errorf("bucket manifest: %w", err)
	}
	rc, err := store.GetRange(ctx, BucketManifestKey, 0, info.Size)
	if err != nil {
		return nil, fmt.Errorf("bucket manifest: %w", err)
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("bucket manifest: %w", err)
	}
	m := manifest.NewManifest()
	if err := json.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("parse bucket manifest: %w", err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("bucket manifest has version %d, this build reads 1", m.Version)
	}
	for _, s := range m.Segments {
		if !s.Cold() {
			return nil, fmt.Errorf("bucket manifest names segment %d that is not in the bucket", s.ID)
		}
	}
	for _, tables := range m.Schemas {
		for _, s := range tables {
			s.Reindex()
		}
	}
	return m, nil
}

// ReloadBucketManifest makes a read-only node serve the bucket's current
// manifest: segments tiered since appear, retired ones go (their handles
// close once no scan reads them).
func (e *Engine) ReloadBucketManifest(ctx context.Context) error {
	if e.tier == nil || !e.tier.cfg.ReadOnly {
		return errors.New("not a read-only node")
	}
	e.tier.reload.Lock()
	defer e.tier.reload.Unlock()
	m, err := e.readOnlyManifest(ctx)
	if err != nil {
		return err
	}
	old := e.Manifest()
	if m.Generation == old.Generation {
		return nil
	}
	live := map[uint64]bool{}
	for _, s := range m.Segments {
		live[s.ID] = true
	}
	var gone []segment.SegmentMeta
	for _, s := range old.Segments {
		if !live[s.ID] {
			gone = append(gone, s)
		}
	}
	e.flushMu.Lock()
	e.mu.Lock()
	e.setManifestLocked(m)
	for db, tables := range m.Schemas {
		if e.catalog[db] == nil {
			e.catalog[db] = map[string]*columnar.TableSchema{}
		}
		for name, s := range tables {
			e.catalog[db][name] = s.Clone()
		}
		e.catalogChangedLocked(db)
	}
	for db := range m.Databases {
		if e.catalog[db] == nil {
			e.catalog[db] = map[string]*columnar.TableSchema{}
			e.catalogChangedLocked(db)
		}
	}
	e.publishCatalogLocked() // the bucket's new tables, for the next query
	e.mu.Unlock()
	e.flushMu.Unlock()
	e.refs.retire(gone) // cold: no local file to delete; closes handles
	return nil
}
