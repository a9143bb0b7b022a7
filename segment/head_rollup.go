package segment

import (
	"errors"
	"slices"

	"github.com/siltdb/silt/columnar"
)

// ScanRollup passes fn, as rollup batches (ColumnBatch.Rollup = width)
// holding the named tags, the row count and the parts of the named fields
// (see RollupSchema), the partial aggregates of the head's rows whose series
// keep holds (nil: all) and whose time is in [minT, maxT), per series (or
// group of series sharing the named tags) and window of width. It is the head's answer to a query that reads rollups:
// the partials are folded from the block index as the rows are read, so
// the reader holds one row per series and window instead of every row,
// and duplicates are merged first (ScanDeduped), so they are exact. A
// series whose rows span several blocks gets a partial row per block for
// the same window; readers combine partials of one window, as they do
// across segments. Fields that are absent or not numeric are left out.
// An integer sum leaving its type within a window, or more partials than
// maxHeldPartials, fail the call before fn saw any batch (FoldAbandoned).
func (h *Head) ScanRollup(cols []string, keep []bool, minT, maxT, width int64, max int, fn func(*columnar.ColumnBatch) error) error {
	// Only the named tags are kept: rows of series that share them fold
	// into the same partials, which is all a reader grouping by those
	// tags needs, and spares gathering every tag of every row.
	var tags []string
	var fs []columnar.FieldSchema
	var read []string
	for _, name := range cols {
		if c, ok := h.Schema.TagCol(name); ok && c < len(h.dicts) && !slices.Contains(tags, name) {
			tags = append(tags, name)
			read = append(read, name)
		}
		if c, ok := h.Schema.FieldCol(name); ok && c < len(h.fields) && Rollable(h.fields[c].typ) {
			fs = append(fs, columnar.FieldSchema{Name: name, Type: h.fields[c].typ})
			read = append(read, name)
		}
	}
	return foldPartials(tags, fs, width, max, func(rb *rollupBuilder, feed func(*columnar.ColumnBatch) error) error {
		if !h.NoDuplicates() {
			return h.ScanDeduped(read, keep, minT, maxT, max, feed)
		}
		// Dense sealed blocks give their partials; the other rows fold.
		var tagCols, fieldCols []int
		for _, t := range tags {
			c, _ := h.Schema.TagCol(t)
			tagCols = append(tagCols, c)
		}
		for _, f := range fs {
			c, _ := h.Schema.FieldCol(f.Name)
			fieldCols = append(fieldCols, c)
		}
		usable := func(blk *headBlock) bool { return h.usableRollup(blk, width) }
		for _, blk := range h.blocks {
			if overlapsSpan(blk.minT, blk.maxT, minT, maxT) && usable(blk) {
				if err := h.scanBlockRollup(blk, keep, minT, maxT, tagCols, fieldCols, rb); err != nil {
					return err
				}
			}
		}
		return h.scanRange(read, keep, minT, maxT, max, true, usable, feed)
	}, fn)
}

// FoldRollup folds the rows scan delivers into partials of width, per
// window and distinct values of tags, and passes them to fn as rollup
// batches (ColumnBatch.Rollup = width) holding tags, the row count and the
// parts of fields (RollupSchema). scan must deliver, through feed, batches
// holding tags and fields whose rows come run by run in time order — a
// segment's rows, sorted by series and time, do — and only rows in a
// range aligned on width. It is how a segment without a rollup of the
// width a query reads answers it without handing every row to the reader.
// As with ScanRollup, a fold that overflows or would hold too many partials
// fails before fn saw any batch (FoldAbandoned).
func FoldRollup(tags []string, fields []columnar.FieldSchema, width int64, max int, scan func(feed func(*columnar.ColumnBatch) error) error, fn func(*columnar.ColumnBatch) error) error {
	var fs []columnar.FieldSchema
	for _, f := range fields {
		if Rollable(f.Type) {
			fs = append(fs, f)
		}
	}
	return foldPartials(tags, fs, width, max, func(_ *rollupBuilder, feed func(*columnar.ColumnBatch) error) error {
		return scan(feed)
	}, fn)
}

// foldPartials runs body with a rollup builder and the feed folding
// batches into it, then passes the partials to fn. They are held until
// every window folded: an integer sum that overflows fails the whole call
// before anything reached fn, so the caller can read the range raw
// instead (ErrRollupOverflow).
func foldPartials(tags []string, fs []columnar.FieldSchema, width int64, max int, body func(rb *rollupBuilder, feed func(*columnar.ColumnBatch) error) error, fn func(*columnar.ColumnBatch) error) error {
	var held pointBuffer
	rb := newRollupBuilder(width, tags, fs, &held)
	if err := body(rb, rollupFeeder(tags, fs, []*rollupBuilder{rb})); err != nil {
		return err
	}
	if err := rb.finish(); err != nil {
		return err
	}
	bb := columnar.NewBatchBuilder(tags, RollupSchema(tags, fs).Fields, max)
	emit := func(b *columnar.ColumnBatch) error {
		b.Rollup = width
		return fn(b)
	}
	for i := range held.pts {
		if err := bb.Add(&held.pts[i], emit); err != nil {
			return err
		}
	}
	return bb.Flush(emit)
}

// maxHeldPartials bounds the partials one fold holds before passing them
// on (a few KiB each with ten fields): past it the fold gives up with
// ErrTooManyPartials and the caller reads the rows raw, through the
// reader's own memory accounting. Folding pays when windows are dense,
// and then a range holds few of them.
var maxHeldPartials = 16 << 10

// ErrTooManyPartials: a fold would hold more than maxHeldPartials partials.
var ErrTooManyPartials = errors.New("rollup: too many partials to fold at read")

// FoldAbandoned reports whether a fold (ScanRollup, FoldRollup) gave up
// before passing anything on, so that its range can be read raw instead.
func FoldAbandoned(err error) bool {
	return errors.Is(err, ErrRollupOverflow) || errors.Is(err, ErrTooManyPartials)
}

// pointBuffer is a RollupWriter that keeps copies of the points, up to
// maxHeldPartials.
type pointBuffer struct{ pts []columnar.Point }

func (w *pointBuffer) Append(p *columnar.Point) error {
	if len(w.pts) >= maxHeldPartials {
		return ErrTooManyPartials
	}
	w.pts = append(w.pts, columnar.Point{Time: p.Time, Tags: slices.Clone(p.Tags), Fields: slices.Clone(p.Fields)})
	return nil
}

// RowsPerWindow estimates how many rows a series has per window of width:
// the head's rows spread evenly over its series and time range.
func (h *Head) RowsPerWindow(width int64) float64 {
	if len(h.times) == 0 || len(h.seriesTags) == 0 {
		return 0
	}
	span := float64(h.maxTime-h.minTime) + 1
	windows := max(span/float64(width), 1)
	return float64(len(h.times)) / float64(len(h.seriesTags)) / windows
}
