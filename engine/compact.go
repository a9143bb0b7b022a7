package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// CompactionConfig configures the background compactor.
type CompactionConfig struct {
	Disabled    bool
	Interval    time.Duration // how often to look for work
	MemoryBytes int64         // bound on a merge's buffers (--compaction.max-memory)
	Policy      compaction.Policy
	// MaxWindowSegments is the hard bound: while a window (not halted) has
	// more segments, writes get ErrCompactionBehind (429) so that flushes
	// cannot outrun merges forever.
	MaxWindowSegments int
	// ColdAfter: a window whose end is this long past, and whose segments
	// still overlap (late points), is merged whole (coldOverlap).
	ColdAfter time.Duration
}

// ErrCompactionBehind: a window holds more than MaxWindowSegments segments;
// writes resume once merges catch up. It is a kind of sink.ErrBackpressure.
var ErrCompactionBehind = fmt.Errorf("%w: compaction is behind (a day window holds more than --compaction.max-window-segments segments); retry shortly", sink.ErrBackpressure)

func (c *CompactionConfig) defaults() {
	if c.Interval <= 0 {
		// Planning reads only the in-memory manifest: cheap enough to do
		// every second, which keeps a trickle's window short of MaxTail.
		c.Interval = time.Second
	}
	if c.MemoryBytes <= 0 {
		// 256 MiB: a fan-in of about 25 for TSBS's 21 columns, more than a
		// window's tail ever holds, in a fraction of the head's 1 GiB.
		c.MemoryBytes = 256 << 20
	}
	if c.Policy == (compaction.Policy{}) {
		c.Policy = compaction.DefaultPolicy
	}
	if c.ColdAfter <= 0 {
		c.ColdAfter = time.Hour
	}
	if c.MaxWindowSegments <= 0 {
		// 8× the tail bound: far above anything a caught-up compactor
		// leaves, so it only bites when flushes outrun merges for long.
		c.MaxWindowSegments = 8 * c.Policy.MaxTail
	}
}

// compactor is the state of the background compaction loop.
type compactor struct {
	mu     sync.Mutex // serializes passes: the loop and Engine.Compact
	halted map[windowKey]error
	stop   chan struct{}
	done   chan struct{}
	cancel context.CancelFunc
	ctx    context.Context
	m      *compactionMetrics
	behind atomic.Bool // a window exceeds MaxWindowSegments: writes wait
	// apart: the segment pairs read and found to share no point, or
	// not (scan_apart.go).
	apart     apartState
	apartDone chan struct{} // closed when apartLoop ends
	// peersDone: the peers list and manifest generation of the last peer
	// dedupe pass that finished without error (peer_dedupe.go), so that
	// passes with nothing new cost nothing.
	peersDone struct {
		peers []segment.Peer
		gen   uint64
	}
}

type windowKey struct{ db, table, window string }

func newCompactor(e *Engine) *compactor {
	ctx, cancel := context.WithCancel(context.Background())
	c := &compactor{halted: map[windowKey]error{}, stop: make(chan struct{}), done: make(chan struct{}), apartDone: make(chan struct{}),
		ctx: ctx, cancel: cancel}
	c.m = newCompactionMetrics(e)
	return c
}

// startCompactor starts the background loop (after recovery).
func (e *Engine) startCompactor() {
	if e.cfg.Compaction.Disabled {
		close(e.comp.done)
		close(e.comp.apartDone)
		return
	}
	go e.apartLoop() // scan_apart.go
	go e.compactLoop()
}

// stopCompactor cancels a running merge and waits for the loop to end.
func (e *Engine) stopCompactor() {
	e.comp.cancel()
	select {
	case <-e.comp.stop:
	default:
		close(e.comp.stop)
	}
	<-e.comp.done
	<-e.comp.apartDone
}

// compactLoop applies retention and compacts, backing off after errors
// that may pass (retry); halted windows are skipped until restart.
func (e *Engine) compactLoop() {
	defer close(e.comp.done)
	tick := time.NewTicker(e.cfg.Compaction.Interval)
	defer tick.Stop()
	var backoff time.Duration
	var retryAt time.Time
	var lastGen uint64
	lastRetention := time.Time{}
	for {
		select {
		case <-e.comp.stop:
			return
		case <-tick.C:
		}
		if time.Now().Before(retryAt) {
			continue
		}
		gen := e.Manifest().Generation
		// Retention moves with the clock: look at least once a minute even
		// when nothing was written.
		if gen == lastGen && time.Since(lastRetention) < time.Minute {
			continue
		}
		lastRetention = time.Now()
		err := e.Compact(e.comp.ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			backoff = min(max(2*backoff, time.Second), time.Minute)
			retryAt = time.Now().Add(backoff)
			e.log.Error("compaction failed; retrying", "err", err, "retry_in", backoff)
			continue
		}
		backoff = 0
		lastGen = e.Manifest().Generation
	}
}

// Compact applies retention and merges segments until the policy has
// nothing left to do (or ctx ends). A window whose merge fails with a halt
// error is skipped from then on (logged and counted); a window failing with
// a retry error is skipped for the rest of the call, the other windows are
// merged, and the first such error is returned. Safe to call while the
// background loop runs.
func (e *Engine) Compact(ctx context.Context) error {
	if !e.ready.Load() {
		return ErrNotReady
	}
	e.comp.mu.Lock()
	defer e.comp.mu.Unlock()
	if err := e.applyRetention(); err != nil {
		e.comp.m.Errors.WithLabelValues("retry").Inc()
		return err
	}
	defer e.checkBehindLocked()
	// A window whose merge fails with a retry error is left for the next
	// call, and the other windows are merged meanwhile: one table's failure
	// must not stop every other table's compaction.
	var failed map[windowKey]bool
	var firstErr error
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		did := false
		for _, k := range e.windowsByCount() {
			e.checkBehindLocked()
			if _, ok := e.comp.halted[k]; ok || failed[k] {
				continue
			}
			var merged bool
			err := catch(func() (err error) {
				merged, err = e.compactWindow(ctx, k)
				return err
			})
			if p := (*errPanic)(nil); errors.As(err, &p) {
				e.log.Error("compaction panicked", "db", k.db, "table", k.table, "window", k.window, "stack", string(p.stack))
				err = compaction.Halt(err)
			}
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				class := compaction.Class(err)
				e.comp.m.Errors.WithLabelValues(class).Inc()
				if class == "halt" {
					e.comp.halted[k] = err
					e.comp.m.Halted.Set(float64(len(e.comp.halted)))
					e.log.Error("compaction halted for a window: its segments stay as they are and are still queried; inspect them and restart",
						"db", k.db, "table", k.table, "window", k.window, "err", err)
					continue
				}
				if failed == nil {
					failed = map[windowKey]bool{}
				}
				failed[k] = true
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			did = did || merged
		}
		if !did {
			// Windows the merges left settled: rewritten without the
			// points other writers hold newer copies of (peer_dedupe.go).
			return errors.Join(firstErr, e.dedupePeers(ctx))
		}
	}
}

// checkBehindLocked sets the write throttle from the current manifest;
// halted windows do not count (they would block writes until a restart).
// The caller holds e.comp.mu.
func (e *Engine) checkBehindLocked() {
	count := map[windowKey]int{}
	behind := false
	for _, s := range e.Manifest().Segments {
		// Cold segments are not counted: compaction merges a tiered
		// window only when its segments may hold a point twice (late
		// writes into one are tiered as segments of their own), so
		// counting them could grow past the bound and refuse every
		// write for good.
		if s.IsRollup() || s.Cold() {
			continue
		}
		k := windowKey{s.DB, s.Table, s.Window}
		count[k]++
		if _, h := e.comp.halted[k]; !h && count[k] > e.cfg.Compaction.MaxWindowSegments {
			behind = true
		}
	}
	if behind != e.comp.behind.Swap(behind) && behind {
		e.log.Warn("compaction is behind: writes get 429 until merges catch up", "max_window_segments", e.cfg.Compaction.MaxWindowSegments)
	}
}

// windowsByCount lists the windows with segments, most segments first.
func (e *Engine) windowsByCount() []windowKey {
	count := map[windowKey]int{}
	for _, s := range e.Manifest().Segments {
		if s.IsRollup() {
			continue
		}
		count[windowKey{s.DB, s.Table, s.Window}]++
	}
	keys := make([]windowKey, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b windowKey) int {
		if c := cmp.Compare(count[b], count[a]); c != 0 {
			return c
		}
		return cmp.Compare(a.db+"\x00"+a.table+"\x00"+a.window, b.db+"\x00"+b.table+"\x00"+b.window)
	})
	return keys
}

// windowSegments returns k's segments in m, in write (id) order.
func windowSegments(m *manifest.Manifest, k windowKey) []segment.SegmentMeta {
	var segs []segment.SegmentMeta
	for _, s := range m.Segments {
		if s.DB == k.db && s.Table == k.table && s.Window == k.window && !s.IsRollup() {
			segs = append(segs, s)
		}
	}
	slices.SortFunc(segs, func(a, b segment.SegmentMeta) int { return cmp.Compare(a.ID, b.ID) })
	return segs
}

// compactWindow plans and runs one merge of window k and reports whether it
// merged anything.
//
// Order matters for last-write-wins: a scan ranks segments by id, newest
// last. The plan takes the newest segments of the window (a suffix) and is
// made under flushMu, so no flush holds an id it has not committed; the
// output ids are reserved there too, so every later flush ranks above the
// outputs, and the outputs rank above every older segment of the window —
// exactly where their inputs ranked.
func (e *Engine) compactWindow(ctx context.Context, k windowKey) (bool, error) {
	pol := e.cfg.Compaction.Policy
	e.flushMu.Lock()
	m := e.manifest.Load()
	segs := windowSegments(m, k)
	tiered := slices.ContainsFunc(segs, segment.SegmentMeta.Cold)
	if tiered && !e.tieredMergeDue(m, k, segs) {
		// Windows in the object store are merged only to take out points
		// held twice (tieredMergeDue): otherwise their segments stay as
		// tiered (late writes into them are tiered alongside), and
		// expired ones go whole (retention).
		e.flushMu.Unlock()
		return false, nil
	}
	plan := make([]compaction.Seg, len(segs))
	for i, s := range segs {
		plan[i] = compaction.Seg{Rows: s.Rows, MinTime: s.MinTime, MaxTime: s.MaxTime}
	}
	from := pol.Plan(plan)
	cutoff := e.cutoff(m, k.db, time.Now().UnixNano())
	trim := false
	if len(segs) > 0 {
		start := segment.WindowOf(segs[0].MinTime)
		if compaction.TrimDue(plan, start, int64(segment.WindowDuration), cutoff) {
			from, trim = 0, true
		}
	}
	if tiered || (from >= len(segs) && e.coldOverlap(m, k, segs)) {
		from = 0
	}
	if from >= len(segs) {
		e.flushMu.Unlock()
		return false, nil
	}
	inputs := segs[from:]
	var rows int64
	for _, s := range inputs {
		rows += s.Rows
	}
	nOut := uint64(rows/pol.TargetRows) + 2
	base := e.nextID.Add(nOut) - nOut
	ts := m.Schemas[k.db][k.table]
	if ts == nil {
		e.flushMu.Unlock()
		return false, compaction.Haltf("no schema for %s.%s in the manifest", k.db, k.table)
	}
	tagOrder := slices.Clone(ts.Tags)
	full := ts.Clone()
	e.refs.acquire(inputs)
	e.flushMu.Unlock()
	defer e.refs.release(inputs)

	start := time.Now()
	paths, cleanup, err := e.mergeInputs(ctx, k, base, inputs)
	if err != nil {
		return false, err
	}
	defer cleanup()
	schema, err := e.unionSchema(full, inputs, paths)
	if err != nil {
		return false, err
	}
	dir := filepath.Dir(segment.SegmentPath(k.db, k.table, k.window, base))
	job := compaction.Job{DB: k.db, Table: k.table, TagOrder: tagOrder, Schema: schema,
		DropBefore: math.MinInt64,
		RunPath: func(i int) string {
			// Ends in .tmp: never mistaken for a segment, removed as an
			// orphan after a crash.
			return filepath.Join(e.cfg.DataDir, dir, fmt.Sprintf("%020d.run%d.tmp", base, i))
		},
	}
	if trim {
		job.DropBefore = cutoff
	}
	next := base
	job.NewOutput = func() (uint64, string) {
		if next >= base+nOut {
			panic("compaction wrote more outputs than reserved") // broken invariant: rows/TargetRows+2 bounds them
		}
		id := next
		next++
		return id, filepath.Join(e.cfg.DataDir, filepath.FromSlash(segment.SegmentPath(k.db, k.table, k.window, id)))
	}
	stamped := false
	for _, s := range inputs {
		job.InputRows = append(job.InputRows, s.Rows)
		stamped = stamped || s.Stamped()
	}
	if stamped {
		// Outputs keep each point's write stamp (the query node of a
		// cluster orders two writers' copies by them): an input without
		// the stamp column gives its points its newest write.
		for _, s := range inputs {
			job.Stamps = append(job.Stamps, s.WriteMax)
		}
	}
	job.Inputs = paths
	last, written := e.lastCache.forCompaction(job.Inputs, slices.Clone(schema.Fields), tagOrder, !trim)
	job.Written = written
	outs, st, err := compaction.Merge(ctx, compaction.Config{MemoryBytes: e.cfg.Compaction.MemoryBytes, TargetRows: pol.TargetRows}, job)
	if err != nil {
		return false, fmt.Errorf("compact %s.%s window %s (%d segments): %w", k.db, k.table, k.window, len(inputs), err)
	}
	// The age of the rows the outputs hold: the newest and oldest flushes
	// they came from; fresh when every input was (head_older.go).
	var seq uint64
	seqMin, fresh := uint64(math.MaxUint64), true
	for _, s := range inputs {
		seq, seqMin = max(seq, s.DataSeq()), min(seqMin, s.DataSeqMin())
		fresh = fresh && s.Fresh
	}
	// Their write times: the inputs' (a cluster's query node orders
	// writers' copies of a point by them).
	wmin, wmax := segment.StampRange(inputs)
	var metas []segment.SegmentMeta
	for _, o := range outs {
		mt := o.Meta
		mt.ID, mt.Window, mt.Seq, mt.SeqMin, mt.Fresh = o.ID, k.window, seq, seqMin, fresh
		mt.WriteMin, mt.WriteMax = wmin, wmax
		mt.Path = segment.SegmentPath(k.db, k.table, k.window, o.ID)
		metas = append(metas, mt)
	}
	lastSums := last.result(metas)
	// The outputs' rollups replace the inputs': windows with late or
	// duplicate points are rebuilt from the merged rows.
	metas = append(metas, e.buildRollups(metas, func() uint64 { return e.nextID.Add(1) - 1 }, "compaction", nil)...)
	for k := range metas {
		metas[k].WriteMin, metas[k].WriteMax = wmin, wmax
	}
	// Cached before the outputs go live, so that no last-value query finds
	// them live without a summary (it would read each output whole).
	e.lastCache.install(e.cfg.DataDir, metas[:len(outs)], lastSums)
	if err := e.swapSegments(inputs, metas); err != nil {
		// The outputs stay on disk: if the manifest did reach the disk they
		// are live after a restart, else they are orphans recovery removes.
		// Their summaries go either way: a restart starts with none.
		e.lastCache.forget(e.cfg.DataDir, metas)
		return false, fmt.Errorf("compact %s.%s window %s: %w", k.db, k.table, k.window, err)
	}
	var rowsIn int64
	for _, s := range inputs {
		rowsIn += s.Rows
	}
	cm := e.comp.m
	cm.Runs.Inc()
	if trim {
		cm.RetentionTrims.Inc()
	}
	cm.SegmentsIn.Add(float64(len(inputs)))
	cm.SegmentsOut.Add(float64(len(metas)))
	cm.RowsIn.Add(float64(rowsIn))
	cm.RowsOut.Add(float64(st.RowsOut))
	cm.BytesIn.Add(float64(st.BytesIn))
	cm.BytesOut.Add(float64(st.BytesOut))
	cm.Duration.Observe(time.Since(start).Seconds())
	e.log.Debug("compacted window", "db", k.db, "table", k.table, "window", k.window,
		"segments_in", len(inputs), "segments_out", len(metas), "rows_in", rowsIn, "rows_out", st.RowsOut,
		"passes", st.Passes, "trim", trim, "elapsed", time.Since(start).Round(time.Millisecond))
	return true, nil
}

// coldOverlap reports whether window k, quiet for ColdAfter, still holds
// segments that share series and time: late or rewritten points next to
// the segments the size-tiered policy has finished with. Such a window is
// merged whole, once, so that scans read it without merging and its
// rollups — rebuilt from the merged rows — answer for it again. (InfluxDB's
// TSM engine makes the same full compaction of shards gone cold.)
func (e *Engine) coldOverlap(m *manifest.Manifest, k windowKey, segs []segment.SegmentMeta) bool {
	if len(segs) < 2 {
		return false
	}
	end := segment.WindowOf(segs[0].MinTime) + int64(segment.WindowDuration)
	if time.Now().UnixNano() < end+int64(e.cfg.Compaction.ColdAfter) {
		return false
	}
	var tagOrder []string
	if ts := m.Schemas[k.db][k.table]; ts != nil {
		tagOrder = ts.Tags
	}
	for i := range segs {
		for j := i + 1; j < len(segs); j++ {
			if segmentsMayShare(segs[i], segs[j], tagOrder) {
				return true
			}
		}
	}
	return false
}

// segmentsMayShare reports whether a and b may hold the same point: their
// times overlap and so do their series ranges (unknown ranges overlap).
func segmentsMayShare(a, b segment.SegmentMeta, tagOrder []string) bool {
	if a.MaxTime < b.MinTime || b.MaxTime < a.MinTime {
		return false
	}
	if !a.SeriesKnown() || !b.SeriesKnown() {
		return true
	}
	return segment.CompareSeries(a.LastSeries, b.FirstSeries, tagOrder) >= 0 &&
		segment.CompareSeries(b.LastSeries, a.FirstSeries, tagOrder) >= 0
}

// unionSchema is full restricted to the columns the inputs have, in full's
// order: the output has no column none of its inputs had.
func (e *Engine) unionSchema(full *columnar.TableSchema, inputs []segment.SegmentMeta, paths []string) (*columnar.TableSchema, error) {
	have := map[string]bool{}
	for i, s := range inputs {
		seg, err := segment.OpenSegment(paths[i])
		if err != nil {
			return nil, compaction.Halt(fmt.Errorf("%w: open %s: %w", compaction.ErrCorrupt, s.Path, err))
		}
		for _, t := range seg.Info.Tags {
			have["t\x00"+t] = true
		}
		for _, f := range seg.Info.Fields {
			if j, ok := full.Field([]byte(f.Name)); !ok || full.Fields[j].Type != f.Type {
				_ = seg.Close()
				return nil, compaction.Haltf("segment %s has field %s of type %s, the table schema does not", s.Path, f.Name, f.Type)
			}
			have["f\x00"+f.Name] = true
		}
		if err := seg.Close(); err != nil {
			return nil, err
		}
	}
	out := columnar.NewTableSchema()
	for _, t := range full.Tags {
		if have["t\x00"+t] {
			out.AddTag(t)
		}
	}
	for _, f := range full.Fields {
		if have["f\x00"+f.Name] {
			out.AddField(f.Name, f.Type)
		}
	}
	return out, nil
}

// swapSegments commits a manifest without olds (and their rollups) and
// with news, then retires olds (deleted once no scan reads them).
func (e *Engine) swapSegments(olds, news []segment.SegmentMeta) error {
	e.flushMu.Lock()
	m := e.manifest.Load().Clone()
	olds = withRollupsOf(m, olds)
	gone := map[uint64]bool{}
	for _, s := range olds {
		gone[s.ID] = true
	}
	kept := m.Segments[:0]
	for _, s := range m.Segments {
		if gone[s.ID] {
			delete(gone, s.ID)
			continue
		}
		kept = append(kept, s)
	}
	if len(gone) > 0 {
		e.flushMu.Unlock()
		// Dropped meanwhile (drop.go): the outputs will never be named.
		e.refs.remove(segmentPaths(news))
		return fmt.Errorf("%d input segments left the manifest during the merge", len(gone))
	}
	m.Segments = append(kept, news...)
	m.NextSegmentID = max(m.NextSegmentID, e.nextID.Load())
	if err := m.Commit(e.cfg.DataDir); err != nil {
		e.flushMu.Unlock()
		return fmt.Errorf("commit manifest: %w", err)
	}
	e.mu.Lock()
	e.setManifestLocked(m)
	e.mu.Unlock()
	e.flushMu.Unlock()
	e.refs.retire(olds)
	return nil
}
