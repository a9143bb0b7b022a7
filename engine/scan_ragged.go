package engine

import (
	"slices"
	"strings"
	"weak"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// A range that starts or ends inside a rollup window (a dashboard's
// now() - 15m, to the millisecond) leaves a ragged piece: rows of part of
// a window, which a segment answered from its rows. Its rows are those of
// every series in that stretch, and a segment keeps a series' day in a
// few 4096-row pages: every panel refresh decoded a page of every series
// and column to keep a few seconds of them — under ingest, most of the
// queries' CPU.
//
// The window's rollup row says when its rows are: each field's first and
// last time. A series whose rows in the window all lie inside the ragged
// piece is answered by the partial, one whose rows all lie outside by
// nothing; only when a series' rows straddle the piece's edge (dense data
// at the edge) are the rows read, as before.

// raggedTask answers the stretch [lo, hi) of segment i, which lies inside
// the window [ws, ws+r's width) of its rollup r, from that window's
// partials, or, when some series' rows straddle the stretch's edge, by
// running fallback (the stretch's row tasks).
func (ts *TableScan) raggedTask(r rollupRef, w, ws, lo, hi int64, fallback []func(emit func(*columnar.ColumnBatch) error) error) func(emit func(*columnar.ColumnBatch) error) error {
	cols := slices.Clone(ts.RollupColumns)
	var fields []string
	add := func(f string) {
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
			cols = append(cols, segment.RollupColumn(f, segment.PartFirstTime), segment.RollupColumn(f, segment.PartLastTime))
		}
	}
	rows := false
	for _, c := range ts.RollupColumns {
		i := strings.LastIndexByte(c, ':')
		switch {
		case i < 0: // a tag
		case i == 0: // the rows count (segment.RollupRows)
			rows = true
		default:
			add(c[:i])
		}
	}
	if rows {
		// The rows count covers a window's rows whatever their fields:
		// it is placed by every field's times, which cover every row only
		// when every field has them (a row holds at least one field).
		for _, f := range ts.fields {
			if !segment.Rollable(f.Type) {
				return ts.raggedRows(fallback)
			}
			add(f.Name)
		}
	}
	n := r.seg.NumRowGroups()
	scan := func(fn func(b *columnar.ColumnBatch) error) error {
		return r.seg.ScanRowGroupsFiltered(cols, ts.Tags, ws, ws+w, 0, n, ts.Read, nil, fn)
	}
	// in classifies row i of b: 1 inside [lo, hi), 0 outside (or no value),
	// -1 straddling.
	var ft, lt []*columnar.FieldVector
	in := func(b *columnar.ColumnBatch, i int) int {
		if b.Time[i] != ws {
			return 0
		}
		ins, outs := 0, 0
		for k := range ft {
			if ft[k] == nil || lt[k] == nil || ft[k].IsNull(i) || lt[k].IsNull(i) {
				continue
			}
			first, last := ft[k].I[i], lt[k].I[i]
			switch {
			case first >= lo && last < hi:
				ins++
			case last < lo || first >= hi:
				outs++
			default:
				return -1
			}
		}
		switch {
		case ins > 0 && outs > 0:
			return -1 // some fields' rows inside, others' outside
		case ins > 0:
			return 1
		}
		return 0
	}
	vectors := func(b *columnar.ColumnBatch) {
		ft, lt = ft[:0], lt[:0]
		for _, f := range fields {
			ft = append(ft, fieldNamed(b, segment.RollupColumn(f, segment.PartFirstTime)))
			lt = append(lt, fieldNamed(b, segment.RollupColumn(f, segment.PartLastTime)))
		}
	}
	key := rollupWindowKey{seg: weak.Make(r.seg), ws: ws, w: w, filter: windowFilter(cols, ts.Tags)}
	return func(emit func(*columnar.ColumnBatch) error) error {
		var cache *windowCache
		if ts.eng != nil {
			cache = ts.eng.windows
		}
		// The window's rows, compacted: read once per window, not per
		// refresh (scan_ragged_cache.go).
		win, err := cache.get(key, scan)
		if err != nil {
			return err
		}
		for _, b := range win {
			vectors(b)
			for i := range b.Len {
				if in(b, i) < 0 {
					return ts.raggedRows(fallback)(emit)
				}
			}
		}
		ts.countRagged("partials")
		var sel []int32
		var times []int64
		t := max(ws, lo) // the partial's rows lie in [lo, hi): its time must pass the range
		for _, b := range win {
			vectors(b)
			sel = sel[:0]
			for i := range b.Len {
				if in(b, i) > 0 {
					sel = append(sel, int32(i))
				}
			}
			if len(sel) == 0 {
				continue
			}
			// The batch is the cache's, shared: emit a copy of its header
			// with its own times.
			times = append(times[:0], b.Time...)
			for _, i := range sel {
				times[i] = t
			}
			out := *b
			out.Time, out.Sel, out.Rollup = times, sel, w
			if err := emit(&out); err != nil {
				return err
			}
		}
		return nil
	}
}

// raggedRows answers a ragged piece from its rows (fallback) and counts so.
func (ts *TableScan) raggedRows(fallback []func(emit func(*columnar.ColumnBatch) error) error) func(emit func(*columnar.ColumnBatch) error) error {
	return func(emit func(*columnar.ColumnBatch) error) error {
		ts.countRagged("rows")
		return runAll(fallback)(emit)
	}
}

// countRagged counts a ragged piece answered by answer (RaggedPieces).
func (ts *TableScan) countRagged(answer string) {
	if ts.eng != nil && ts.eng.metrics != nil {
		ts.eng.metrics.RaggedPieces.WithLabelValues(answer).Inc()
	}
}

// runAll returns a task running tasks one after the other.
func runAll(tasks []func(emit func(*columnar.ColumnBatch) error) error) func(emit func(*columnar.ColumnBatch) error) error {
	return func(emit func(*columnar.ColumnBatch) error) error {
		for _, t := range tasks {
			if err := t(emit); err != nil {
				return err
			}
		}
		return nil
	}
}

// fieldNamed returns b's field vector called name (nil: none).
func fieldNamed(b *columnar.ColumnBatch, name string) *columnar.FieldVector {
	for k := range b.Fields {
		if b.Fields[k].Name == name {
			return &b.Fields[k]
		}
	}
	return nil
}

// allRaw reports whether every piece of ps is read from rows (none from a
// rollup of a finer width).
func allRaw(ps []piece) bool {
	for _, p := range ps {
		if p.w != 0 {
			return false
		}
	}
	return true
}

// raggedFold answers the ragged stretch [lo, hi) of segment i, which lies
// inside the window [ws, ws+w) of the scan's width w, by folding its rows
// into partials of that window as they are read: one partial per series
// (per value of the tags the scan keeps), where its rows went to the
// reader one by one. The reader's buckets are whole windows of width w,
// so a partial of part of a window lands in the window's bucket like the
// window's own; its time is moved up to lo, inside the scan's range, as
// raggedTask does. TSBS's random 12-hour windows at hourly buckets cut
// every series at both ends: 36,000 rows a query became 200 partials.
func (ts *TableScan) raggedFold(i int, w, ws, lo, hi int64) []func(emit func(*columnar.ColumnBatch) error) error {
	folds := ts.foldTasks(ts.segs[i], []piece{{timeSpan{lo, hi}, w}})
	if ws >= lo {
		return folds // the window starts in range: its time passes
	}
	out := make([]func(emit func(*columnar.ColumnBatch) error) error, len(folds))
	for k, f := range folds {
		out[k] = func(emit func(*columnar.ColumnBatch) error) error {
			var times []int64
			return f(func(b *columnar.ColumnBatch) error {
				if b.Rollup == 0 {
					return emit(b) // an abandoned fold's rows, in range
				}
				// The fold's batch: emit a copy of its header with
				// its own times.
				times = append(times[:0], b.Time...)
				for r, t := range times {
					if t < lo {
						times[r] = lo
					}
				}
				out := *b
				out.Time = times
				return emit(&out)
			})
		}
	}
	return out
}
