package segment

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siltdb/silt/columnar"
)

// Live rollups. When a block is sealed its rows are also folded into
// per-series partials of a window (blockRollup), once, in typed loops
// over each series' rows: the writer lays out the windows, and the
// background folder or the first reader folds the values (partsOf). A query reading partials (ScanRollup) then takes
// a block's partials instead of gathering and folding its rows again on
// every dashboard refresh. The width is the finest at which the block's
// series have many rows per window, so that the partials take a small
// fraction of the rows' memory: under a heavy live load (many rows per
// series in a short time) a second or ten; for a block of sparse series
// (a row per series every few seconds, as TSBS writes) an hour, which
// still answers the hourly and daily aggregates of a day-long head
// (TSBS's double-groupby and cpu-max-all types) from a partial or two per
// series and block rather than every row.
//
// A block's partials cover its own rows only, so they are exact where the
// head holds no point twice: a read merges the rows of the windows where
// it may (head_dups.go) and takes partials elsewhere.

// blockRollupWidths are the window widths a block may fold into, finest
// first: the first with at least minBlockRollupRows rows per series and
// window on average is taken. Each divides the next, so a reader at any
// multiple of the width taken (1m, 1h, 1d) can use it. A sparse block
// spans minutes, so its series have a partial or two of an hour each:
// fewer than of ten minutes, which no common dashboard interval needs.
var blockRollupWidths = []int64{int64(time.Second), int64(10 * time.Second), int64(time.Minute), int64(time.Hour)}

// minBlockRollupRows is the density, in rows per series and window, from
// which a block keeps partials: they then take a small fraction of the
// rows' memory.
const minBlockRollupRows = 32

// blockRollup is a sealed block's partials: windows[i] (of width) of the
// series blk.sids[series[i]] with rows[i] rows, and per field column c
// parts[c][i] (n == 0: the field has no value there).
//
// The writer builds only the skeleton when it seals the block (width,
// series, windows and rows: one pass over the block's times) and counts
// the whole rollup's memory then; the parts — a gather and a fold of every
// field column over the block's rows, about a third of the head's append
// time under the engine's lock — are folded by the first reader that asks
// for them (Head.partsOf), outside that lock. They depend on the sealed
// rows alone, which never change, so whichever reader folds them folds
// what the writer would have, and every reader sees them whole: once
// guards their one fold, and a reader takes them only through it.
type blockRollup struct {
	width   int64
	series  []int32
	windows []int64
	rows    []int64
	// nfields is the head's field columns at the seal: the parts cover
	// those (a field added later has no value in the block's rows).
	nfields int
	// from, for a span's rollup (head_span_rollup.go), are the blocks
	// whose parts it combines; nil for a block's own.
	from []*headBlock
	once sync.Once
	// parts, once folded: read them through Head.partsOf only.
	parts [][]partial
	// folded is set once parts are: it says so without folding them.
	folded atomic.Bool
}

// blockRollupBytes is what a block's partials add to the head's memory.
func blockRollupBytes(r *blockRollup) int64 {
	if r == nil {
		return 0
	}
	n := int64(len(r.windows))
	return n*(4+8+8) + n*int64(r.nfields)*int64(unsafeSizeofPartial) + 64
}

// unsafeSizeofPartial is the size of a partial (n, sum, min, max, first,
// last, ft, lt, mean, m2 and a flag).
const unsafeSizeofPartial = 10*8 + 8

// lazyBlockParts: the parts of a block's (and a span's) rollup are folded
// by their first reader rather than by the writer at the seal. Tests turn
// it off to compare the two.
var lazyBlockParts = true

// partsSink, when not nil, takes the rollups a seal left pending (a
// block's and, completing a span, the span's) with a View of the head
// holding them, and folds them off the writer's path: foldInBackground
// by default. nil leaves them to their first reader. Tests replace it.
var partsSink = foldInBackground

// queueParts hands the rollups of blk (just sealed) and of the span it
// completed, if pending, to partsSink, with a View: a fold reads the
// head's columns, which the writer keeps changing, and a View shares
// their rows without a lock. The View costs a few allocations a seal (a
// seal is every blockRows rows), far less than the fold it moves.
func (h *Head) queueParts(blk *headBlock) {
	if partsSink == nil || !lazyBlockParts || blk.roll == nil {
		return
	}
	var sp *headBlock
	if len(h.blocks)%spanBlocks == 0 && len(h.spans) > 0 {
		sp = h.spans[len(h.spans)-1] // completed by blk (rollSpan); nil: none
	}
	partsSink(h.View(), blk, sp)
}

// partsJob is a seal's pending rollups and a View holding them.
type partsJob struct {
	v       *Head
	blk, sp *headBlock
}

// partsQueue feeds the background folder; its bound keeps what queued
// Views pin small. When it is full (the folder behind, say on a busy
// machine) a seal's parts are left to their first reader.
var (
	partsQueue     chan partsJob
	partsQueueOnce sync.Once
)

// foldInBackground queues the fold of blk's parts (and sp's, if not nil)
// for one background goroutine, started on first use, which folds them
// in seal order. The folds are what the writer did under the engine lock
// before; here they run beside it, so that a dashboard's first read of
// a block (or of many: the head sealed while nobody read) does not pay
// for them, and the flush rarely does.
func foldInBackground(v *Head, blk, sp *headBlock) {
	partsQueueOnce.Do(func() {
		partsQueue = make(chan partsJob, 256)
		go func() {
			for j := range partsQueue {
				j.v.partsOf(j.blk)
				if j.sp != nil && j.sp.roll != nil {
					j.v.partsOf(j.sp)
				}
			}
		}()
	})
	select {
	case partsQueue <- partsJob{v, blk, sp}:
	default: // behind: the first reader folds them
	}
}

// rollBlock gives blk the skeleton of its partials if its series are
// dense enough; their parts are folded later (partsOf).
func (h *Head) rollBlock(blk *headBlock) {
	span := blk.maxT - blk.minT + 1
	perSeries := float64(blk.hi-blk.lo) / float64(len(blk.sids))
	width := int64(0)
	for _, w := range blockRollupWidths {
		if perSeries/math.Max(float64(span)/float64(w), 1) >= minBlockRollupRows {
			width = w
			break
		}
	}
	if width == 0 {
		return
	}
	r := &blockRollup{width: width, nfields: len(h.fields)}
	// Windows of each series: runs of its rows (in time order, blk.times)
	// sharing one.
	for k := range blk.sids {
		lo, hi := int(blk.start[k]), int(blk.start[k+1])
		for i := lo; i < hi; {
			w := WindowStart(blk.times[i], width)
			j := i + 1
			for j < hi && blk.times[j] < w+width {
				j++
			}
			r.series = append(r.series, int32(k))
			r.windows = append(r.windows, w)
			r.rows = append(r.rows, int64(j-i))
			i = j
		}
	}
	blk.roll = r
	h.bytes += blockRollupBytes(r)
	if !lazyBlockParts {
		h.partsOf(blk)
	}
}

// partsOf returns the parts of blk's rollup (blk.roll not nil), folding
// them first if no reader has yet. h is the head or any View holding
// blk: they share the block's rows. Concurrent callers wait for the one
// folding; the memory was counted at the seal.
func (h *Head) partsOf(blk *headBlock) [][]partial {
	r := blk.roll
	r.once.Do(func() {
		if r.from != nil {
			r.parts = h.mergeSpanParts(blk)
		} else {
			r.parts = h.foldBlockParts(blk)
		}
		r.folded.Store(true)
	})
	return r.parts
}

// foldBlockParts folds each rollable field column of blk's rows into the
// partials of blk.roll's windows. The windows of a series are runs of
// its rows in blk.rows order, r.rows[i] rows each, so they start at the
// running sum of those counts.
func (h *Head) foldBlockParts(blk *headBlock) [][]partial {
	r := blk.roll
	parts := make([][]partial, r.nfields)
	var fv columnar.FieldVector
	for c, col := range h.fields[:r.nfields] {
		if !Rollable(col.typ) {
			continue
		}
		fv.Type = col.typ
		col.gatherVector(&fv, blk.rows)
		ps := make([]partial, len(r.windows))
		lo := 0
		for i := range ps {
			hi := lo + int(r.rows[i])
			foldRun(&ps[i], &fv, blk.times, lo, hi)
			lo = hi
		}
		parts[c] = ps
	}
	return parts
}

// scanBlockRollup passes rb the partials of blk's windows that start in
// [minT, maxT) for the series keep holds, each with the tags of tagCols.
// Windows of blk.roll.width nest in the reader's (a multiple, both aligned
// on the epoch), and the reader's range is aligned on its width, so each
// window is wholly in or out of the range.
//
// few, if not nil, lists the series keep holds (keptFew): the partials of
// each are found by binary search, as a block's partials are in series
// order (then window), instead of testing every partial of the block.
func (h *Head) scanBlockRollup(blk *headBlock, keep []bool, few []uint32, minT, maxT int64, tagCols, fieldCols []int, rb *rollupBuilder) error {
	r := blk.roll
	parts := h.partsOf(blk)
	ps := make([]partial, len(fieldCols))
	vals := make([]string, len(tagCols))
	has := make([]bool, len(tagCols))
	if few != nil && len(few)*8 < len(blk.sids) {
		for _, sid := range few {
			k, ok := slices.BinarySearch(blk.sids, sid)
			if !ok {
				continue
			}
			lo, _ := slices.BinarySearch(r.series, int32(k))
			hi, _ := slices.BinarySearch(r.series, int32(k+1))
			if err := h.emitBlockRollup(blk, parts, lo, hi, nil, minT, maxT, tagCols, fieldCols, rb, ps, vals, has); err != nil {
				return err
			}
		}
		return nil
	}
	return h.emitBlockRollup(blk, parts, 0, len(r.windows), keep, minT, maxT, tagCols, fieldCols, rb, ps, vals, has)
}

// emitBlockRollup passes rb blk's partials [lo, hi) (of parts, partsOf)
// that start in [minT, maxT) of the series keep holds (nil: all), with
// scratch ps, vals and has.
func (h *Head) emitBlockRollup(blk *headBlock, parts [][]partial, lo, hi int, keep []bool, minT, maxT int64, tagCols, fieldCols []int, rb *rollupBuilder, ps []partial, vals []string, has []bool) error {
	r := blk.roll
	for i := lo; i < hi; i++ {
		w := r.windows[i]
		if !inSpan(w, minT, maxT) {
			continue
		}
		sid := blk.sids[r.series[i]]
		if keep != nil && (int(sid) >= len(keep) || !keep[sid]) {
			continue
		}
		for j, c := range tagCols {
			id := h.tagID(sid, c)
			has[j], vals[j] = id >= 0, ""
			if id >= 0 {
				vals[j] = h.dicts[c].vals[id]
			}
		}
		for j, c := range fieldCols {
			ps[j] = partial{} // a field added after the seal: no values here
			if c < len(parts) && parts[c] != nil {
				ps[j] = parts[c][i]
			}
		}
		if err := rb.emitWindow(WindowStart(w, rb.width), r.rows[i], vals, has, ps); err != nil {
			return err
		}
	}
	return nil
}

// usableRollup reports whether blk's partials can answer a read of width
// over a range without duplicates: they exist and nest in width.
func usableRollup(blk *headBlock, width int64) bool {
	return blk.roll != nil && width%blk.roll.width == 0
}
