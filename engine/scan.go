package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/merge"
	"github.com/siltdb/silt/segment"
)

// Scan calls fn with every point of db.table in (day window, series, time)
// order, merged across segments and heads: for one series and time, the
// last written value of each field wins. It streams a k-way merge of the
// sources, so memory stays bounded by the number of sources, not the table.
// The Point passed to fn is reused between calls.
func (e *Engine) Scan(db, table string, fn func(p *columnar.Point) error) error {
	ts, err := e.OpenScan(db, table)
	if err != nil {
		return err
	}
	return errors.Join(ts.Run(fn), ts.Close())
}

// TableScan is a consistent snapshot of one table's sources, opened by
// OpenScan: errors opening any segment surface before a single point is
// produced, so callers can still answer with an error status.
type TableScan struct {
	segs     []*segment.Segment
	metas    []segment.SegmentMeta // of segs
	heads    []*segment.Head
	ownHeads int // heads[:ownHeads] are the node's own, the rest a query node's overlay
	tagOrder []string
	fields   []columnar.FieldSchema // the table's, when the scan was opened
	minT     int64                  // the range of OpenScanRange
	maxT     int64
	eng      *Engine

	// SegmentsScanned and SegmentsPruned count the segments opened and
	// those skipped because their time range misses the scan's; BytesRead
	// is the size of the opened segment files. RunBatches corrects them
	// for rollups: a segment answered wholly from rollups counts its
	// rollups instead.
	SegmentsScanned, SegmentsPruned int
	BytesRead                       int64
	// Missing names the nodes whose rows outside the bucket the scan
	// lacks (TierConfig.Overlay: a query node's writers that are down).
	Missing []string
	// BytesPruned is the size of the segment files pruned by time.
	BytesPruned int64
	// WriteMin and WriteMax bound the write stamps of the rows of the
	// scan's own sources (segments and heads; not a query node's overlay):
	// a writer sends them with its rows (cluster.WriteMinHeader). 0, 0:
	// no source; a WriteMin of 1 when a source predates stamps.
	WriteMin, WriteMax int64
	// SlicesMerged counts the stretches RunBatches merged point by point
	// (sources that may share a point there).
	SlicesMerged int

	// Columns, when set before Run, limits what segments decode to these
	// columns plus time and every tag (tags identify series for the
	// merge). Points may still carry other columns (heads deliver all).
	Columns []string
	// Filter, when set before RunBatches, drops raw rows it rejects before
	// their other columns are gathered (heads) or decoded (segments: late
	// materialization). A hint: the reader still filters what it gets.
	Filter *segment.RowFilter
	// LastOnly, when set before RunBatches, asks only for each series'
	// last value of each field of Columns in the scan's time range (see
	// runLast): enough for last(x, time) grouped by tags.
	LastOnly bool
	// Tags, when set before Run, says only points whose tag k has one of
	// Tags[k] are wanted: segments use their tag index to skip the rest.
	// Other points may still be delivered; callers filter.
	Tags map[string][]string
	// Read, when set before RunBatches, counts what the segment reads
	// did (EXPLAIN ANALYZE).
	Read *segment.ReadStats
	// Lookahead, when set before RunBatches, bounds and is charged for
	// the copies a parallel scan holds for tasks whose turn has not come
	// (runOrdered): they are the query's memory while held.
	Lookahead Lookahead

	// RollupColumns, when set before RunBatches of a scan opened with
	// rollup widths (OpenScanRollups), are what rollup rows hold.
	RollupColumns []string
	widths        []int64               // rollup widths wanted, coarsest first
	rollups       []map[int64]rollupRef // per segment: its rollups by width

	visibleMin int64  // rows before it have expired (retention)
	clip       bool   // visibleMin applies
	release    func() // drops the segment references; set until Close
}

// OpenScan snapshots db.table — segments named by the manifest, frozen
// heads, and a View of the active head — and opens the segments (reading
// their footers). Writes go on meanwhile; the scan sees the table as of the
// call. Close the scan when done.
func (e *Engine) OpenScan(db, table string) (*TableScan, error) {
	return e.OpenScanRange(db, table, math.MinInt64, math.MaxInt64)
}

// OpenScanRange is OpenScan limited to sources that may hold times in
// [minT, maxT): segments and heads wholly outside are skipped (they may
// still deliver points outside the range, from sources that overlap it).
// maxT == math.MaxInt64 means no upper bound.
func (e *Engine) OpenScanRange(db, table string, minT, maxT int64) (*TableScan, error) {
	return e.OpenScanRollups(db, table, minT, maxT, nil)
}

// OpenScanRollups is OpenScanRange that also opens the rollups of the
// given widths (coarsest first): RunBatches then delivers, for segments
// that no other source overlaps, rollup rows (ColumnBatch.Rollup) for the
// windows wholly inside the range, and raw rows elsewhere.
func (e *Engine) OpenScanRollups(db, table string, minT, maxT int64, widths []int64) (*TableScan, error) {
	return e.openScan(context.Background(), db, table, minT, maxT, widths, false)
}

// OpenScanContext is OpenScanRollups for a query run with ctx: a query
// node's fetch of other nodes' rows (TierConfig.Overlay) ends with it and
// follows its WithPartial.
func (e *Engine) OpenScanContext(ctx context.Context, db, table string, minT, maxT int64, widths []int64) (*TableScan, error) {
	return e.openScan(ctx, db, table, minT, maxT, widths, false)
}

type partialKey struct{}

// WithPartial says, for the queries run with the returned context,
// whether a query node answers without writers that are down (partial) or
// fails, overriding its --cluster.writer-down.
func WithPartial(ctx context.Context, partial bool) context.Context {
	return context.WithValue(ctx, partialKey{}, partial)
}

// PartialFrom returns the choice WithPartial put in ctx, if any.
func PartialFrom(ctx context.Context) (partial, set bool) {
	partial, set = ctx.Value(partialKey{}).(bool)
	return partial, set
}

// OpenLocalScan is OpenScanRange over the rows this node holds outside
// the object store: its heads and local segments, without the cold
// segments (what a cluster's query node cannot read from the bucket).
func (e *Engine) OpenLocalScan(db, table string, minT, maxT int64) (*TableScan, error) {
	return e.openScan(context.Background(), db, table, minT, maxT, nil, true)
}

func (e *Engine) openScan(ctx context.Context, db, table string, minT, maxT int64, widths []int64, localOnly bool) (*TableScan, error) {
	if !e.ready.Load() {
		return nil, ErrNotReady
	}
	var overlay []*segment.Head
	var missing []string
	if f := e.cfg.Tiering.Overlay; f != nil && !localOnly {
		// Fetched before the manifest is read below: a segment the other
		// node moved to the bucket after the fetch is in the manifest the
		// hook reloads (TierConfig.Overlay).
		var s *columnar.TableSchema
		if v := e.pub.view.Load(); v != nil && v.dbs[db][table] != nil {
			s = v.dbs[db][table].Clone() // published snapshots are read-only
		}
		if s != nil {
			var err error
			if overlay, missing, err = f(ctx, db, table, minT, maxT, s); err != nil {
				return nil, fmt.Errorf("scan %s.%s: %w", db, table, err)
			}
		}
	}
	// Retention: expired rows are invisible before compaction removes them.
	visible := e.VisibleMin(db)
	minT = max(minT, visible)
	// The sources as published (heads_pub.go), without the engine's lock:
	// the segments are acquired — held until Close, so compaction deletes
	// replaced ones only after — before they can be retired.
	var metas, rolls []segment.SegmentMeta
	v, picked := e.acquireSegments(func(m *manifest.Manifest) []segment.SegmentMeta {
		metas, rolls = nil, nil
		for _, s := range m.Segments {
			switch {
			case s.DB != db || s.Table != table:
			case localOnly && s.Cold():
			case !s.IsRollup():
				metas = append(metas, s)
			case slices.ContainsFunc(widths, func(w int64) bool { return w%s.Rollup == 0 }):
				rolls = append(rolls, s)
			}
		}
		rolls = wantedRollups(rolls, widths)
		return append(slices.Clip(metas), rolls...)
	})
	ts := &TableScan{minT: minT, maxT: maxT, eng: e, widths: widths,
		visibleMin: visible, clip: visible != math.MinInt64,
		release: func() { e.refs.release(picked) }}
	overlaps := func(lo, hi int64) bool { return hi >= minT && (lo < maxT || maxT == math.MaxInt64) }
	for _, fs := range v.frozen {
		if h := fs.heads[db][table]; h != nil && overlaps(h.TimeRange()) {
			ts.heads = append(ts.heads, h)
			ts.addStamps(fs.stampMin, fs.stampMax)
		}
	}
	// The snap after the view: it holds every write acknowledged before
	// the view was loaded, and perhaps later ones.
	snap := v.activeSnap(db, table)
	if snap != nil && overlaps(snap.view.TimeRange()) {
		ts.heads = append(ts.heads, snap.view)
		ts.addStamps(snap.stampMin, snap.stampMax)
	}
	if s := v.tableSchema(db, table, snap); s != nil {
		ts.tagOrder = append(ts.tagOrder, s.Tags...)
		ts.fields = append(ts.fields, s.Fields...)
	}
	// Rows other nodes hold outside the bucket, as heads after this
	// node's own: they win over the cold segments as later writes do.
	ts.ownHeads = len(ts.heads)
	ts.heads = append(ts.heads, overlay...)
	ts.Missing = missing
	// Oldest first: by id (the node's write order), or on a cluster's
	// query node by the union's order of the writers' segments (Order).
	slices.SortFunc(metas, func(a, b segment.SegmentMeta) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.ID, b.ID))
	})
	for _, m := range metas {
		if !overlaps(m.MinTime, m.MaxTime) {
			ts.SegmentsPruned++
			ts.BytesPruned += m.Bytes
			continue
		}
		ts.SegmentsScanned++
		ts.BytesRead += m.Bytes
		seg, err := e.refs.segment(m)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("scan %s.%s: %w", db, table, err), ts.Close())
		}
		ts.segs = append(ts.segs, seg)
		ts.metas = append(ts.metas, m)
		if m.Stamped() {
			ts.addStamps(m.WriteMin, m.WriteMax)
		} else {
			ts.addStamps(1, 1) // written before stamps: at any time before
		}
		if len(widths) == 0 {
			continue
		}
		byWidth := map[int64]rollupRef{}
		for _, r := range rolls {
			if r.Of != m.ID {
				continue
			}
			rs, err := e.refs.segment(r)
			if err != nil {
				return nil, errors.Join(fmt.Errorf("scan %s.%s: rollup: %w", db, table, err), ts.Close())
			}
			byWidth[r.Rollup] = rollupRef{rs, r.Bytes}
		}
		ts.rollups = append(ts.rollups, byWidth)
	}
	return ts, nil
}

// addStamps widens the scan's write-time range to [lo, hi].
func (ts *TableScan) addStamps(lo, hi int64) {
	if ts.WriteMax == 0 {
		ts.WriteMin, ts.WriteMax = lo, hi
		return
	}
	ts.WriteMin, ts.WriteMax = min(ts.WriteMin, lo), max(ts.WriteMax, hi)
}

// wantedRollups keeps, of the rollups rolls (each of a width dividing one
// of widths), those a scan at widths reads: a segment's rollup of a width
// in widths, and where a segment has none of a width, its coarsest rollup
// dividing it (rollupTasksIn answers that width's pieces from it). Other
// finer rollups are left unopened.
func wantedRollups(rolls []segment.SegmentMeta, widths []int64) []segment.SegmentMeta {
	have := map[uint64]map[int64]bool{} // by raw segment: its rollups' widths
	for _, r := range rolls {
		if have[r.Of] == nil {
			have[r.Of] = map[int64]bool{}
		}
		have[r.Of][r.Rollup] = true
	}
	return slices.DeleteFunc(rolls, func(r segment.SegmentMeta) bool {
		if slices.Contains(widths, r.Rollup) {
			return false
		}
		for _, w := range widths {
			if !have[r.Of][w] && finerRollup(have[r.Of], w) == r.Rollup {
				return false
			}
		}
		return true
	})
}

// Run streams the merged points into fn; see Scan.
func (ts *TableScan) Run(fn func(p *columnar.Point) error) error {
	if ts.clip {
		inner := fn
		fn = func(p *columnar.Point) error {
			if p.Time < ts.visibleMin {
				return nil
			}
			return inner(p)
		}
	}
	if all := ts.allSources(); ts.crossWriter(all) {
		// scan_stamps.go: writers' copies of a point, by write stamp.
		var cols []string
		if ts.Columns != nil {
			cols = append(slices.Clone(ts.tagOrder), ts.Columns...)
		}
		return ts.mergeByStamp(all, cols, math.MinInt64, math.MaxInt64, fn)
	}
	var sources []iter.Seq2[*columnar.Point, error]
	for _, seg := range ts.segs {
		if ts.Columns == nil {
			sources = append(sources, pushSeq(seg.Scan))
			continue
		}
		cols := append(append([]string(nil), seg.Info.Tags...), ts.Columns...)
		sources = append(sources, pushSeq(func(fn func(*columnar.Point) error) error { return seg.ScanColumns(cols, ts.Tags, fn) }))
	}
	for _, h := range ts.heads {
		sources = append(sources, pushSeq(h.ScanOrdered))
	}
	return mergeSources(sources, ts.tagOrder, fn)
}

// BatchRows is the most rows a batch built from points (heads, merged
// sources) holds.
const BatchRows = 8 << 10

// headBatchRows is the batch size of a head read in arrival order: large,
// since every batch carries the head's whole tag dictionaries.
const headBatchRows = 64 << 10

// RunBatches streams the scan's points, deduplicated, to fn as column
// batches in no particular order, holding Columns (which must be set; a
// batch may hold more). Sources that overlap no other in time are decoded on their
// own — a segment straight from its Parquet pages into batches, in
// parallel across GOMAXPROCS workers — and only groups of overlapping
// sources go through the point-by-point merge. fn is never called
// concurrently; a batch is valid until fn returns.
func (ts *TableScan) RunBatches(ctx context.Context, fn func(*columnar.ColumnBatch) error) error {
	if ts.Columns == nil {
		return errors.New("scan: RunBatches needs Columns")
	}
	if ts.clip {
		fn = clipBatches(ts.visibleMin, fn)
	}
	if ts.LastOnly {
		return ts.runLast(ctx, fn) // its range starts at visibleMin already
	}
	cols := append(slices.Clone(ts.tagOrder), ts.Columns...)
	var fields []columnar.FieldSchema
	for _, f := range ts.fields {
		if slices.Contains(ts.Columns, f.Name) {
			fields = append(fields, f)
		}
	}
	// A task produces the batches of one group of overlapping sources.
	var tasks []func(emit func(*columnar.ColumnBatch) error) error
	// headRows estimates the rows the tasks read, while they are all of
	// heads read alone; -1 once a task of any other kind is added.
	headRows := 0.0
	for _, g := range ts.overlapGroups() {
		if len(g) != 1 || g[0] < len(ts.segs) {
			headRows = -1
		}
		if len(g) == 1 && g[0] < len(ts.segs) {
			// Alone, a segment needs no merge and so no series identity:
			// only the asked-for columns are decoded.
			// Its row groups are split into a part per core, so one big
			// segment still keeps every core decoding.
			seg := ts.segs[g[0]]
			if len(ts.widths) > 0 {
				tasks = append(tasks, ts.rollupTasks(g[0])...)
				continue
			}
			n := seg.NumRowGroups()
			parts := min(n, runtime.GOMAXPROCS(0))
			// Row groups hold whole days of a few series: a segment
			// reaching past the scan's range has its batches' rows
			// narrowed to the range here, so consumers never copy the rest.
			clip := seg.Info.MinTime < ts.minT || (ts.maxT != math.MaxInt64 && seg.Info.MaxTime >= ts.maxT)
			lo, hi := ts.minT, ts.maxT
			for p := range parts {
				first, end := p*n/parts, (p+1)*n/parts
				tasks = append(tasks, func(emit func(*columnar.ColumnBatch) error) error {
					if clip {
						emit = filterBatches(func(t int64) bool { return t >= lo && (t < hi || hi == math.MaxInt64) }, emit)
					}
					return seg.ScanRowGroupsFiltered(ts.Columns, ts.Tags, lo, hi, first, end, ts.Read, ts.Filter, emit)
				})
			}
			continue
		}
		if len(g) == 1 {
			// A head alone: whose series all came in time order holds no
			// point twice, so its columns go out as they are; otherwise
			// its rows are sorted and duplicates merged, still columnar.
			// Either way its block index narrows the read to the scan's
			// series and range.
			h := ts.heads[g[0]-len(ts.segs)]
			hts, rows := ts.headTasks(h, timeSpan{ts.minT, ts.maxT})
			tasks = append(tasks, hts...)
			if headRows >= 0 {
				headRows += rows
			}
			continue
		}
		// Overlapping sources usually overlap only at their edges (a flush
		// cuts through a round of writes): the group's range is cut where
		// its sources start and end, and only the slices two or more
		// sources cover are merged point by point.
		for _, sl := range ts.groupSlices(g) {
			tasks = append(tasks, ts.sliceTasks(sl, cols, fields)...)
		}
	}
	if ts.Read != nil {
		for i, t := range tasks {
			tasks[i] = timedTask(t, ts.Read)
		}
	}
	if headRows >= 0 && headRows < serialHeadRows {
		// A panel's few series of a live head: the pieces are cheaper
		// read one after the other than handed to workers, whose start,
		// wake-ups and ordered hand-over cost more CPU than the rows.
		return runSerial(ctx, tasks, fn)
	}
	return runTasks(ctx, tasks, ts.Lookahead, fn)
}

// serialHeadRows is the estimated number of head rows under which a scan
// of heads alone runs its tasks on the query's goroutine. At a few
// nanoseconds a row folded or gathered this is tens of microseconds of
// work, about what starting two workers and handing their batches over
// in order costs (in process, a one-host hour of TSBS's head: 0.21 →
// 0.15 CPU ms a query, BenchmarkInfluxQLHeadTSBS/single-groupby-5-1-1/
// influxql-cold); a dashboard's whole-fleet panel reads far more, and
// keeps every core busy.
const serialHeadRows = 32 << 10

// timedTask is task t counting into rs its own running time: from its
// start to its end, less the time it waited for the consumer to take its
// batches (two clock reads a batch).
func timedTask(t func(emit func(*columnar.ColumnBatch) error) error, rs *segment.ReadStats) func(emit func(*columnar.ColumnBatch) error) error {
	return func(emit func(*columnar.ColumnBatch) error) error {
		start := time.Now()
		var waited time.Duration
		err := t(func(b *columnar.ColumnBatch) error {
			t0 := time.Now()
			err := emit(b)
			waited += time.Since(t0)
			return err
		})
		rs.Tasks.Add(1)
		rs.TaskNanos.Add(int64(time.Since(start) - waited))
		return err
	}
}

// minHeadRollupRows is how many rows a series must have per window, on
// average, for a head to fold them into partials: below it, partial rows
// would be about as many as raw rows and cost more to make.
const minHeadRollupRows = 4

// headTasks read head h alone over span: through its block index, the
// scan's series only; when the scan takes rollups, the windows wholly in
// span as partials folded while reading (Head.ScanRollup), so the reader
// holds a row per series and window rather than every row.
func (ts *TableScan) headTasks(h *segment.Head, span timeSpan) (tasks []func(emit func(*columnar.ColumnBatch) error) error, rows float64) {
	var keep []bool
	var once sync.Once
	match := func() []bool { // the head's tag index, once for all pieces
		once.Do(func() { keep = h.MatchSeries(ts.Tags) })
		return keep
	}
	rows = headRowsIn(h, span, match)
	// A range ending past the head's newest row reads its last window
	// whole, from partials (endWindowed).
	_, last := h.TimeRange()
	for _, p := range rollupPieces(endWindowed(span, last, ts.widths), ts.widths) {
		lo, hi, w := p.lo, p.hi, p.w
		raw := func(emit func(*columnar.ColumnBatch) error) error {
			if h.NoDuplicatesIn(lo, hi) {
				if ts.Filter != nil {
					return h.ScanRangeFiltered(ts.Columns, match(), lo, hi, headBatchRows, ts.Filter, emit)
				}
				return h.ScanRange(ts.Columns, match(), lo, hi, headBatchRows, emit)
			}
			if ts.Filter != nil {
				return h.ScanDedupedFiltered(ts.Columns, match(), lo, hi, headBatchRows, ts.Filter, emit)
			}
			return h.ScanDeduped(ts.Columns, match(), lo, hi, headBatchRows, emit)
		}
		if w > 0 && h.RowsPerWindow(lo, hi, w) >= minHeadRollupRows {
			tasks = append(tasks, func(emit func(*columnar.ColumnBatch) error) error {
				// Only the parts the reader takes (RollupColumns; nil: all).
				err := h.ScanRollupParts(ts.Columns, segment.PartsOf(ts.RollupColumns), match(), lo, hi, w, BatchRows, emit)
				if segment.FoldAbandoned(err) {
					// Nothing was emitted: the raw rows report an
					// overflow as the query engine does, and count
					// against its memory limit.
					return raw(emit)
				}
				return err
			})
			continue
		}
		tasks = append(tasks, raw)
	}
	return tasks, rows
}

// headRowsIn estimates the rows of h a scan of span reads: the head's
// rows in proportion to the part of its time range the span covers and
// to the series match selects (nil: all), as if rows were spread evenly.
// It reads no rows: the head's unsealed tail alone can be thousands.
func headRowsIn(h *segment.Head, span timeSpan, match func() []bool) float64 {
	first, last := h.TimeRange()
	n, series := h.Len(), h.Series()
	if n == 0 || series == 0 {
		return 0
	}
	lo, hi := max(span.lo, first), last
	if span.hi != math.MaxInt64 {
		hi = min(hi, span.hi-1)
	}
	if hi < lo {
		return 0
	}
	rows := float64(n) * (float64(hi-lo) + 1) / (float64(last-first) + 1)
	if keep := match(); keep != nil {
		kept := 0
		for _, k := range keep {
			if k {
				kept++
			}
		}
		rows *= float64(kept) / float64(series)
	}
	return rows
}

// groupSlice is a stretch of time and the sources of a group that have
// rows in it.
type groupSlice struct {
	timeSpan
	srcs []int // ascending: older sources first
}

// groupSlices cuts the scan's range within the group g of overlapping
// sources at every source's first time and just past its last, and returns
// the non-empty stretches with the sources covering each (adjacent
// stretches with the same sources joined).
func (ts *TableScan) groupSlices(g []int) []groupSlice {
	span := func(i int) timeSpan {
		lo, hi := ts.sourceRange(i)
		if hi == math.MaxInt64 {
			return timeSpan{lo, math.MaxInt64}
		}
		return timeSpan{lo, hi + 1}
	}
	cuts := []int64{ts.minT}
	for _, i := range g {
		sp := span(i)
		cuts = append(cuts, sp.lo, sp.hi)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out []groupSlice
	for k, lo := range cuts {
		if lo == math.MaxInt64 || lo < ts.minT || (ts.maxT != math.MaxInt64 && lo >= ts.maxT) {
			continue
		}
		hi := int64(math.MaxInt64)
		if k+1 < len(cuts) {
			hi = cuts[k+1]
		}
		if ts.maxT != math.MaxInt64 && (hi > ts.maxT || hi == math.MaxInt64) {
			hi = ts.maxT
		}
		var srcs []int
		for _, i := range g {
			if sp := span(i); sp.contains(lo) {
				srcs = append(srcs, i)
			}
		}
		if len(srcs) == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].hi == lo && slices.Equal(out[n-1].srcs, srcs) {
			out[n-1].hi = hi
			continue
		}
		out = append(out, groupSlice{timeSpan{lo, hi}, srcs})
	}
	return out
}

// sourceRange is the first and last time of source i (segments, then
// heads).
func (ts *TableScan) sourceRange(i int) (int64, int64) {
	if i < len(ts.segs) {
		return ts.segs[i].Info.MinTime, ts.segs[i].Info.MaxTime
	}
	return ts.heads[i-len(ts.segs)].TimeRange()
}

// sliceTasks reads one slice of a group: a lone source's rows in it as
// batches, several sources' through the merge.
func (ts *TableScan) sliceTasks(sl groupSlice, cols []string, fields []columnar.FieldSchema) []func(emit func(*columnar.ColumnBatch) error) error {
	lo, hi := sl.lo, sl.hi
	if len(sl.srcs) == 1 {
		i := sl.srcs[0]
		if i < len(ts.segs) {
			if len(ts.widths) > 0 { // its rollups, or its rows folded
				tasks, _ := ts.rollupTasksIn(i, sl.timeSpan)
				return tasks
			}
			return splitRowGroups(ts.segs[i], ts.Columns, ts.Tags, []timeSpan{sl.timeSpan}, 0, ts.Read, ts.Filter)
		}
		tasks, _ := ts.headTasks(ts.heads[i-len(ts.segs)], sl.timeSpan)
		return tasks
	}
	// The newest sources, heads that repeat no older point here, are read
	// alone (head_older.go): the rest are merged without them.
	alone := len(sl.srcs)
	for alone > 1 && sl.srcs[alone-1] >= len(ts.segs) && !ts.heads[sl.srcs[alone-1]-len(ts.segs)].RepeatsOlderIn(lo, hi) {
		alone--
	}
	if alone < len(sl.srcs) {
		tasks := ts.sliceTasks(groupSlice{sl.timeSpan, sl.srcs[:alone]}, cols, fields)
		for _, i := range sl.srcs[alone:] {
			hts, _ := ts.headTasks(ts.heads[i-len(ts.segs)], sl.timeSpan)
			tasks = append(tasks, hts...)
		}
		return tasks
	}
	ts.SlicesMerged++
	if ts.crossWriter(sl.srcs) {
		// scan_stamps.go: writers' copies of a point, by write stamp.
		srcs := sl.srcs
		return []func(emit func(*columnar.ColumnBatch) error) error{func(emit func(*columnar.ColumnBatch) error) error {
			bb := columnar.NewBatchBuilder(ts.tagOrder, fields, BatchRows)
			if err := ts.mergeByStamp(srcs, cols, lo, hi, func(p *columnar.Point) error { return bb.Add(p, emit) }); err != nil {
				return err
			}
			return bb.Flush(emit)
		}}
	}
	var sources []iter.Seq2[*columnar.Point, error]
	for _, i := range sl.srcs {
		if i < len(ts.segs) {
			seg := ts.segs[i]
			sources = append(sources, pushSeq(func(fn func(*columnar.Point) error) error { return seg.ScanColumnsRange(cols, ts.Tags, lo, hi, fn) }))
		} else {
			h := ts.heads[i-len(ts.segs)]
			sources = append(sources, pushSeq(func(fn func(*columnar.Point) error) error { return h.ScanOrderedRange(lo, hi, fn) }))
		}
	}
	return []func(emit func(*columnar.ColumnBatch) error) error{func(emit func(*columnar.ColumnBatch) error) error {
		bb := columnar.NewBatchBuilder(ts.tagOrder, fields, BatchRows)
		if err := mergeSources(sources, ts.tagOrder, func(p *columnar.Point) error { return bb.Add(p, emit) }); err != nil {
			return err
		}
		return bb.Flush(emit)
	}}
}

// clipBatches drops rows before minT (expired by retention, not yet
// removed by compaction) from the batches passed to fn.
func clipBatches(minT int64, fn func(*columnar.ColumnBatch) error) func(*columnar.ColumnBatch) error {
	return filterBatches(func(t int64) bool { return t >= minT }, fn)
}

// filterBatches passes fn only the rows whose time keep accepts, through
// the batches' Sel.
func filterBatches(keep func(t int64) bool, fn func(*columnar.ColumnBatch) error) func(*columnar.ColumnBatch) error {
	var sel []int32
	return func(b *columnar.ColumnBatch) error {
		// Segment reads cut their rows to the range (segment/narrow.go):
		// a batch wholly kept, the rule, goes on without a selection
		// built row by row.
		if b.Sel == nil {
			all := true
			for _, t := range b.Time[:b.Len] {
				if !keep(t) {
					all = false
					break
				}
			}
			if all {
				return fn(b)
			}
		}
		sel = sel[:0]
		rows := b.Len
		if b.Sel != nil {
			rows = len(b.Sel)
			for _, r := range b.Sel {
				if keep(b.Time[r]) {
					sel = append(sel, r)
				}
			}
		} else {
			for r := range int32(b.Len) {
				if keep(b.Time[r]) {
					sel = append(sel, r)
				}
			}
		}
		switch {
		case len(sel) == 0:
			return nil
		case len(sel) == rows:
			return fn(b)
		}
		// The producer waits while fn runs, so its batch can carry our
		// selection for the call.
		saved := b.Sel
		b.Sel = sel
		err := fn(b)
		b.Sel = saved
		return err
	}
}

// overlapGroups partitions the scan's sources (segments by position, then
// heads after them) into groups that may share a point: two sources are
// linked when their time ranges overlap and so do their series ranges (a
// head's series are unknown: it spans all), and a group is a connected
// set. A group's members are in source order, oldest first.
func (ts *TableScan) overlapGroups() [][]int {
	type box struct {
		lo, hi      int64
		first, last []columnar.TagValue // nil: unknown (all series)
		i           int
		// fresh: the source repeats no point of an older one in the
		// scan's range (head_older.go), so it is linked to none of them.
		fresh bool
		// seq orders sources by the age of their rows: a segment's
		// DataSeq, then the heads, newer than every segment.
		seq, seqMin uint64 // seqMin: the oldest rows' (a compaction output's oldest input)
	}
	var boxes []box
	for i, s := range ts.segs {
		b := box{lo: s.Info.MinTime, hi: s.Info.MaxTime, i: i}
		if i < len(ts.metas) && ts.metas[i].SeriesKnown() {
			b.first, b.last = ts.metas[i].FirstSeries, ts.metas[i].LastSeries
		}
		if i < len(ts.metas) {
			b.fresh, b.seq, b.seqMin = ts.metas[i].Fresh, ts.metas[i].DataSeq(), ts.metas[i].DataSeqMin()
		}
		boxes = append(boxes, b)
	}
	for i, h := range ts.heads {
		if lo, hi := h.TimeRange(); lo <= hi { // an empty head has lo > hi
			boxes = append(boxes, box{lo: lo, hi: hi, i: len(ts.segs) + i, fresh: !h.RepeatsOlderIn(ts.minT, ts.maxT),
				seq: math.MaxUint64 - uint64(len(ts.heads)-i), seqMin: math.MaxUint64 - uint64(len(ts.heads)-i)})
		}
	}
	slices.SortFunc(boxes, func(a, b box) int { return cmp.Compare(a.lo, b.lo) })
	parent := make([]int, len(boxes))
	for k := range parent {
		parent[k] = k
	}
	//lint:ignore S1021 the closure calls itself, so it is declared first
	var find func(int) int
	find = func(k int) int {
		for parent[k] != k {
			parent[k] = parent[parent[k]]
			k = parent[k]
		}
		return k
	}
	disjointSeries := func(a, b *box) bool {
		if a.first == nil || b.first == nil {
			return false
		}
		return segment.CompareSeries(a.last, b.first, ts.tagOrder) < 0 || segment.CompareSeries(b.last, a.first, ts.tagOrder) < 0
	}
	for a := range boxes {
		for b := a + 1; b < len(boxes) && boxes[b].lo <= boxes[a].hi; b++ {
			// The source with the newer rows: a fresh one repeats no point
			// of the other (a compaction output placed after it in the
			// manifest holds only older rows).
			newer, older := &boxes[a], &boxes[b]
			if boxes[b].seq > newer.seq {
				newer, older = &boxes[b], &boxes[a]
			}
			apart := newer.fresh && newer.seqMin > older.seq
			if !apart && !disjointSeries(&boxes[a], &boxes[b]) && !ts.segmentsApart(boxes[a].i, boxes[b].i) {
				parent[find(b)] = find(a)
			}
		}
	}
	byRoot := map[int]int{}
	var groups [][]int
	for k, b := range boxes {
		r := find(k)
		g, ok := byRoot[r]
		if !ok {
			g = len(groups)
			byRoot[r] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], b.i)
	}
	for _, g := range groups {
		slices.Sort(g)
	}
	return groups
}

// segmentsApart reports whether sources i and j are segments read and
// found to share no point (scan_apart.go).
func (ts *TableScan) segmentsApart(i, j int) bool {
	if ts.eng == nil || i >= len(ts.metas) || j >= len(ts.metas) {
		return false
	}
	return ts.eng.comp.pointsApart(ts.metas[i], ts.metas[j])
}

// runTasks runs the tasks on up to GOMAXPROCS goroutines and hands their
// batches to fn one at a time, in task order (runOrdered), so that floats
// are added in the same order every run; the first error stops everything.
func runTasks(ctx context.Context, tasks []func(emit func(*columnar.ColumnBatch) error) error, la Lookahead, fn func(*columnar.ColumnBatch) error) error {
	if len(tasks) == 1 || runtime.GOMAXPROCS(0) == 1 {
		return runSerial(ctx, tasks, fn)
	}
	return runOrdered(ctx, min(runtime.GOMAXPROCS(0), len(tasks)), tasks, la, fn) // scan_order.go
}

// runSerial runs the tasks one after the other on the caller's goroutine,
// in task order as runOrdered hands their batches over, so the answer is
// the same bits either way.
func runSerial(ctx context.Context, tasks []func(emit func(*columnar.ColumnBatch) error) error, fn func(*columnar.ColumnBatch) error) error {
	// No workers to stop: the deadline or a disconnect is noticed
	// between batches (BatchRows rows at most).
	emit := func(b *columnar.ColumnBatch) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(b)
	}
	for _, t := range tasks {
		if err := t(emit); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Close ends the scan: its segments may be deleted (after compaction) once
// no other scan reads them.
func (ts *TableScan) Close() error {
	ts.segs = nil // the engine's open handles: released, not closed
	if ts.release != nil {
		ts.release()
		ts.release = nil
	}
	return nil
}

var errStopScan = errors.New("scan stopped")

// pushSeq turns a callback scanner into a sequence of (point, error); the
// error, if any, comes last with a nil point.
func pushSeq(scan func(func(*columnar.Point) error) error) iter.Seq2[*columnar.Point, error] {
	return func(yield func(*columnar.Point, error) bool) {
		err := scan(func(p *columnar.Point) error {
			if !yield(p, nil) {
				return errStopScan
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			yield(nil, err)
		}
	}
}

// pullSource is a pulled sequence as a merge source.
type pullSource struct {
	next func() (*columnar.Point, error, bool)
}

func (s pullSource) Next() (*columnar.Point, error) {
	p, err, ok := s.next()
	if !ok {
		return nil, nil
	}
	return p, err
}

// mergeSources merges sorted sources, oldest first, into fn (see
// merge.Merger), each point's fields sorted by key.
func mergeSources(sources []iter.Seq2[*columnar.Point, error], tagOrder []string, fn func(*columnar.Point) error) error {
	if len(sources) == 1 {
		// Nothing to merge: skip the coroutine switch per point.
		for p, err := range sources[0] {
			if err != nil {
				return err
			}
			sortFields(p.Fields) // the same order the merge below emits
			if err := fn(p); err != nil {
				return err
			}
		}
		return nil
	}
	pulled := make([]merge.Source, len(sources))
	for i, src := range sources {
		next, stop := iter.Pull2(src)
		defer stop()
		pulled[i] = pullSource{next}
	}
	m := merge.New(tagOrder, false, pulled...)
	for p := m.Next(); p != nil; p = m.Next() {
		sortFields(p.Fields)
		if err := fn(p); err != nil {
			return err
		}
	}
	if err := m.Err(); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	return nil
}

// sortFields orders a point's fields by key (insertion sort: a handful).
func sortFields(f []columnar.FieldValue) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].Key < f[j-1].Key; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}
