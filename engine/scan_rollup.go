package engine

import (
	"math"
	"runtime"
	"slices"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// timeSpan is [lo, hi) of nanoseconds; hi == math.MaxInt64 is unbounded
// (the instant MaxInt64 included, as in OpenScanRange).
type timeSpan struct{ lo, hi int64 }

func (s timeSpan) contains(t int64) bool { return t >= s.lo && (t < s.hi || s.hi == math.MaxInt64) }

func (s timeSpan) empty() bool { return s.lo >= s.hi && s.hi != math.MaxInt64 }

// overlaps reports whether any t in [lo, hi] is in s.
func (s timeSpan) overlaps(lo, hi int64) bool {
	return !s.empty() && hi >= s.lo && (lo < s.hi || s.hi == math.MaxInt64)
}

// piece is a stretch of a scan's range answered at one resolution: rollup
// windows of width w wholly inside it, or raw rows (w == 0).
type piece struct {
	timeSpan
	w int64
}

// rollupPieces splits r into pieces: the coarsest width takes the longest
// aligned stretch, finer widths the ragged ends, and raw rows what no
// window fits.
func rollupPieces(r timeSpan, widths []int64) []piece {
	if r.empty() {
		return nil
	}
	if len(widths) == 0 {
		return []piece{{r, 0}}
	}
	w := widths[0]
	a, b := r.lo, r.hi
	if a != math.MinInt64 {
		a = ceilTo(a, w)
	}
	if b != math.MaxInt64 {
		b = segment.WindowStart(b, w)
	}
	if b != math.MaxInt64 && a >= b {
		return rollupPieces(r, widths[1:])
	}
	out := rollupPieces(timeSpan{r.lo, a}, widths[1:])
	out = append(out, piece{timeSpan{a, b}, w})
	if b != math.MaxInt64 {
		out = append(out, rollupPieces(timeSpan{b, r.hi}, widths[1:])...)
	}
	return out
}

// endWindowed returns span with its end moved up to the end of the window
// of the coarsest width that holds it, when the source's last row (last)
// is before that end: the source has no rows in between, so the span holds
// the same rows, and its last window is whole — answered from partials
// instead of raw rows. That window is a live dashboard's newest one: its
// range ends at now(), past the newest row, inside a window still filling,
// which holds every row of the last seconds.
func endWindowed(span timeSpan, last int64, widths []int64) timeSpan {
	if len(widths) == 0 || span.hi == math.MaxInt64 || last >= span.hi {
		return span
	}
	if end := ceilTo(span.hi, widths[0]); end > span.hi {
		span.hi = end
	}
	return span
}

func ceilTo(t, w int64) int64 {
	f := segment.WindowStart(t, w)
	if f == t || f > math.MaxInt64-w {
		return f
	}
	return f + w
}

// rollupTasks reads segment i, alone in its overlap group, at the scan's
// resolutions: each rollup piece from its rollup (all of the piece's
// windows lie in this segment's rows, which no other source duplicates),
// the rest — raw pieces, and rollup pieces of a width it lacks — from its
// rows.
func (ts *TableScan) rollupTasks(i int) []func(emit func(*columnar.ColumnBatch) error) error {
	tasks, raw := ts.rollupTasksIn(i, timeSpan{ts.minT, ts.maxT})
	if !raw { // counted when the scan opened it
		ts.SegmentsScanned--
		ts.BytesRead -= ts.metas[i].Bytes
	}
	return tasks
}

// rollupTasksIn is rollupTasks over span only (a stretch of the scan's
// range where the segment is the one source); raw reports whether the
// segment's own rows are read.
func (ts *TableScan) rollupTasksIn(i int, span timeSpan) (tasks []func(emit func(*columnar.ColumnBatch) error) error, raw bool) {
	ps := rollupPieces(span, servedWidths(ts.widths, ts.rollups[i]))
	// The ragged ends (scan_ragged.go): the pieces before the first and
	// after the last window of the segment's finest rollup the scan reads.
	wr := int64(0)
	for w := range ts.rollups[i] {
		if slices.Contains(ts.widths, w) && (wr == 0 || w < wr) {
			wr = w
		}
	}
	if wr == 0 {
		return ts.piecesTasks(i, ps)
	}
	a, b := span.lo, span.hi
	if a != math.MinInt64 {
		a = ceilTo(a, wr)
	}
	if b != math.MaxInt64 {
		b = segment.WindowStart(b, wr)
	}
	if a >= b {
		return ts.piecesTasks(i, ps)
	}
	var head, mid, tail []piece
	for _, p := range ps {
		switch {
		case p.hi <= a:
			head = append(head, p)
		case p.lo >= b:
			tail = append(tail, p)
		default:
			mid = append(mid, p)
		}
	}
	ragged := func(ps []piece, ws int64) {
		t, r := ts.piecesTasks(i, ps)
		if !r {
			tasks = append(tasks, t...)
			return
		}
		if len(t) > 0 {
			if allRaw(ps) {
				t = ts.raggedFold(i, wr, ws, ps[0].lo, ps[len(ps)-1].hi)
			}
			tasks = append(tasks, ts.raggedTask(ts.rollups[i][wr], wr, ws, ps[0].lo, ps[len(ps)-1].hi, t))
			raw = true // the fallback may read the rows
		}
	}
	if len(head) > 0 {
		ragged(head, a-wr)
	}
	t, r := ts.piecesTasks(i, mid)
	tasks, raw = append(tasks, t...), raw || r
	if len(tail) > 0 {
		ragged(tail, b)
	}
	return tasks, raw
}

// piecesTasks reads the pieces ps of segment i: each rollup piece from its
// rollup, the rest from its rows; raw reports whether its rows are read.
func (ts *TableScan) piecesTasks(i int, ps []piece) (tasks []func(emit func(*columnar.ColumnBatch) error) error, raw bool) {
	seg := ts.segs[i]
	lo, hi := seg.Info.MinTime, seg.Info.MaxTime
	var spans []timeSpan // answered from the segment's rows
	// Adjacent pieces of widths the segment has no rollup of (a dashboard
	// interval finer than the kept ones, and the ragged ends of its range
	// at the widths dividing it) fold in one read of their rows, each at
	// its own width: a read per piece decoded the pages around the range's
	// end once per width.
	var fold []piece
	flushFold := func() {
		if len(fold) > 0 {
			tasks = append(tasks, ts.foldTasks(seg, fold)...)
			fold = nil
		}
	}
	for _, p := range ps {
		if !p.overlaps(lo, hi) {
			continue
		}
		if p.w == 0 {
			flushFold()
			spans = append(spans, p.timeSpan)
			continue
		}
		r, ok := ts.rollups[i][p.w]
		if !ok {
			// A finer rollup whose width divides the piece's answers it
			// exactly: the piece is aligned on that width too, so its
			// windows lie wholly inside, and they nest in the reader's.
			if f := finerRollup(ts.rollups[i], p.w); f != 0 {
				r, ok, p.w = ts.rollups[i][f], true, f
			}
		}
		if !ok {
			// No rollup of this width: the piece's rows fold into
			// partials as they are read, so the reader holds a row per
			// window.
			raw = true
			fold = append(fold, p)
			continue
		}
		flushFold()
		ts.SegmentsScanned++
		ts.BytesRead += r.bytes
		tasks = append(tasks, splitRowGroups(r.seg, ts.RollupColumns, ts.Tags, []timeSpan{p.timeSpan}, p.w, ts.Read, nil)...)
	}
	flushFold()
	if len(spans) > 0 {
		raw = true
		tasks = append(tasks, splitRowGroups(seg, ts.Columns, ts.Tags, spans, 0, ts.Read, ts.Filter)...)
	}
	return tasks, raw
}

// servedWidths returns the widths of a scan's pieces over a segment with
// rollups byWidth: a width no rollup of the segment answers (not kept, and
// no kept width divides it) is left out where it is coarser than the
// finest kept one. Otherwise the ragged end of a GROUP BY time(30s) took a
// 15 s piece, which the segment answers only by folding its rows, where a
// 10 s piece answers from the rollup and only the remainder is folded.
func servedWidths(widths []int64, byWidth map[int64]rollupRef) []int64 {
	finest := int64(0)
	for w := range byWidth {
		if finest == 0 || w < finest {
			finest = w
		}
	}
	if finest == 0 {
		return widths
	}
	var out []int64
	for _, w := range widths {
		if _, ok := byWidth[w]; ok || w < finest || finerRollup(byWidth, w) != 0 {
			out = append(out, w)
		}
	}
	return out
}

// finerRollup returns the coarsest width of byWidth below w that divides
// it (0: none).
func finerRollup[V any](byWidth map[int64]V, w int64) int64 {
	var f int64
	for x := range byWidth {
		if x < w && w%x == 0 && x > f {
			f = x
		}
	}
	return f
}

// rollupRef is an open rollup segment and its size.
type rollupRef struct {
	seg   *segment.Segment
	bytes int64
}

// splitRowGroups reads seg's row groups in a part per core, keeping rows
// whose time is in spans and marking batches with rollup, counting into
// rs (nil: nowhere).
func splitRowGroups(seg *segment.Segment, cols []string, tags map[string][]string, spans []timeSpan, rollup int64, rs *segment.ReadStats, f *segment.RowFilter) []func(emit func(*columnar.ColumnBatch) error) error {
	n := seg.NumRowGroups()
	parts := min(n, runtime.GOMAXPROCS(0))
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range spans {
		lo, hi = min(lo, s.lo), max(hi, s.hi)
	}
	var tasks []func(emit func(*columnar.ColumnBatch) error) error
	for p := range parts {
		first, end := p*n/parts, (p+1)*n/parts
		tasks = append(tasks, func(emit func(*columnar.ColumnBatch) error) error {
			keep := filterBatches(func(t int64) bool {
				for _, s := range spans {
					if s.contains(t) {
						return true
					}
				}
				return false
			}, emit)
			return seg.ScanRowGroupsFiltered(cols, tags, lo, hi, first, end, rs, f, func(b *columnar.ColumnBatch) error {
				b.Rollup = rollup
				return keep(b)
			})
		})
	}
	return tasks
}

// foldTasks read segment seg's rows in the adjacent pieces ps (of rollup
// widths, in time order) and fold each piece's rows into partials of its
// width, in one read per part, a part per core; a part whose integer sum
// overflows a window, or that would hold too many partials, reads its rows
// raw instead.
func (ts *TableScan) foldTasks(seg *segment.Segment, ps []piece) []func(emit func(*columnar.ColumnBatch) error) error {
	var tags []string
	for _, t := range seg.Info.Tags {
		if slices.Contains(ts.Columns, t) {
			tags = append(tags, t)
		}
	}
	var fields []columnar.FieldSchema
	for _, f := range seg.Info.Fields {
		if slices.Contains(ts.Columns, f.Name) {
			fields = append(fields, f)
		}
	}
	// The pieces by width: each width folds the rows of its own pieces.
	var widths []int64
	var spans [][]timeSpan
	for _, p := range ps {
		k := slices.Index(widths, p.w)
		if k < 0 {
			k = len(widths)
			widths = append(widths, p.w)
			spans = append(spans, nil)
		}
		spans[k] = append(spans[k], p.timeSpan)
	}
	all := timeSpan{ps[0].lo, ps[len(ps)-1].hi}
	n := seg.NumRowGroups()
	parts := min(n, runtime.GOMAXPROCS(0))
	var tasks []func(emit func(*columnar.ColumnBatch) error) error
	for k := range parts {
		first, end := k*n/parts, (k+1)*n/parts
		read := func(emit func(*columnar.ColumnBatch) error) error {
			return seg.ScanRowGroupsCounted(ts.Columns, ts.Tags, all.lo, all.hi, first, end, ts.Read, emit)
		}
		fold := func(feeds []func(*columnar.ColumnBatch) error) error {
			keep := make([]func(*columnar.ColumnBatch) error, len(feeds))
			for w, feed := range feeds {
				in := spans[w]
				if len(in) == 1 {
					keep[w] = filterBatches(in[0].contains, feed)
					continue
				}
				keep[w] = filterBatches(func(t int64) bool {
					for _, s := range in {
						if s.contains(t) {
							return true
						}
					}
					return false
				}, feed)
			}
			return read(func(b *columnar.ColumnBatch) error {
				for _, f := range keep {
					if err := f(b); err != nil {
						return err
					}
				}
				return nil
			})
		}
		tasks = append(tasks, func(emit func(*columnar.ColumnBatch) error) error {
			err := segment.FoldRollupsParts(tags, fields, widths, segment.PartsOf(ts.RollupColumns), BatchRows, fold, emit)
			if segment.FoldAbandoned(err) {
				return read(filterBatches(all.contains, emit)) // nothing was emitted
			}
			return err
		})
	}
	return tasks
}
