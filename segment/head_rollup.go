package segment

import (
	"errors"
	"math"
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
// and the rows of windows where the head may hold a point twice are merged
// first (ScanDeduped), so they are exact. The
// partials of one window and group are combined (a live series has rows
// in every block), so the reader gets at most one per window and group.
// Fields that are absent or not numeric are left out.
// An integer sum leaving its type within a window, or more partials than
// maxHeldPartials, fail the call before fn saw any batch (FoldAbandoned).
func (h *Head) ScanRollup(cols []string, keep []bool, minT, maxT, width int64, max int, fn func(*columnar.ColumnBatch) error) error {
	return h.ScanRollupParts(cols, AllParts, keep, minT, maxT, width, max, fn)
}

// ScanRollupParts is ScanRollup passing on only the parts of want (and
// each field's count) of every field: a fold for no PartM2 skips the
// running mean and squared deviations.
func (h *Head) ScanRollupParts(cols []string, want PartSet, keep []bool, minT, maxT, width int64, max int, fn func(*columnar.ColumnBatch) error) error {
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
	lo, hi, groups := h.foldExtent(keep, len(tags), minT, maxT, width)
	hint := 0
	if groups > 0 {
		hint = int(min((hi-lo)/width+1, maxPartialHint) * int64(min(groups, maxPartialHint)))
	}
	few := keptFew(keep) // once for every clean range below
	return foldPartials(tags, fs, width, max, hint, want, func(rb *rollupBuilder, feed func(*columnar.ColumnBatch) error) error {
		if groups > 0 {
			rb.comb.indexWindows(lo, hi, width, groups)
		}
		// Windows where the head may hold a point twice fold its merged
		// rows; the ranges between them take partials and plain rows.
		lo := minT
		for _, d := range h.dirtyWindows(minT, maxT, width) {
			if lo < d[0] {
				if err := h.foldClean(read, keep, few, lo, d[0], width, max, tags, fs, rb, feed); err != nil {
					return err
				}
			}
			if err := h.ScanDeduped(read, keep, d[0], d[1], max, feed); err != nil {
				return err
			}
			lo = d[1]
		}
		if lo == math.MaxInt64 || (maxT != math.MaxInt64 && lo >= maxT) {
			return nil
		}
		return h.foldClean(read, keep, few, lo, maxT, width, max, tags, fs, rb, feed)
	}, fn)
}

// foldExtent is what a fold of the head's series keep holds (nil: all)
// over [minT, maxT) at width, keeping ntags tags, can hold: partials of
// the windows from lo to hi (window starts, those of the head's rows in
// range) of at most groups groups (the series, or one when no tag is
// kept); groups is 0 when the head has no rows in range.
func (h *Head) foldExtent(keep []bool, ntags int, minT, maxT, width int64) (lo, hi int64, groups int) {
	first, last := max(minT, h.minTime), min(maxT-1, h.maxTime)
	if maxT == math.MaxInt64 {
		last = h.maxTime
	}
	if first > last {
		return 0, 0, 0
	}
	groups = 1
	if ntags > 0 {
		groups = len(h.seriesTags)
		if keep != nil {
			groups = 0
			for _, k := range keep {
				if k {
					groups++
				}
			}
		}
	}
	return WindowStart(first, width), WindowStart(last, width), groups
}

// foldClean folds into rb the head's rows in [minT, maxT), a range aligned
// on width where no two rows are the same point: spans' and sealed
// blocks' partials where they nest in width, the other rows through feed.
// few is keptFew(keep).
func (h *Head) foldClean(read []string, keep []bool, few []uint32, minT, maxT, width int64, max int, tags []string, fs []columnar.FieldSchema, rb *rollupBuilder, feed func(*columnar.ColumnBatch) error) error {
	var tagCols, fieldCols []int
	for _, t := range tags {
		c, _ := h.Schema.TagCol(t)
		tagCols = append(tagCols, c)
	}
	for _, f := range fs {
		c, _ := h.Schema.FieldCol(f.Name)
		fieldCols = append(fieldCols, c)
	}
	usable := func(blk *headBlock) bool { return usableRollup(blk, width) }
	// A span's partials stand for its blocks' where the width nests
	// in them (then it nests in the blocks' too).
	var covered []bool // blocks whose span answered, nil: none
	for k, sp := range h.spans {
		if sp == nil || !overlapsSpan(sp.minT, sp.maxT, minT, maxT) || !usable(sp) {
			continue
		}
		if err := h.scanBlockRollup(sp, keep, few, minT, maxT, tagCols, fieldCols, rb); err != nil {
			return err
		}
		if covered == nil {
			covered = make([]bool, len(h.blocks))
		}
		for b := k * spanBlocks; b < (k+1)*spanBlocks; b++ {
			covered[b] = true
		}
	}
	for b, blk := range h.blocks {
		if covered != nil && covered[b] {
			continue
		}
		if overlapsSpan(blk.minT, blk.maxT, minT, maxT) && usable(blk) {
			if err := h.scanBlockRollup(blk, keep, few, minT, maxT, tagCols, fieldCols, rb); err != nil {
				return err
			}
		}
	}
	if foldFromChunks {
		if ok, err := h.foldRows(keep, few, minT, maxT, width, tagCols, fieldCols, fs, usable, rb.comb); ok {
			return err
		}
	}
	return h.scanRange(read, keep, minT, maxT, max, true, usable, nil, feed)
}

// foldFromChunks: foldClean folds rows straight from the column chunks
// (foldRows) rather than gathering them into batches for a rollup
// builder. Tests turn it off to compare the two.
var foldFromChunks = true

// foldPartials (hint: the partials expected, see newPartialTable) runs body with a rollup builder and the feed folding
// batches into it, then passes the partials to fn, one per window and
// group: partials of the same window and tag values (a series' rows in
// several head blocks, or series sharing the tags kept) are combined as
// they come (partialTable). They are held until every window folded: an
// integer sum that overflows fails the whole call before anything reached
// fn, so the caller can read the range raw instead (ErrRollupOverflow), as
// does a fold that would hold more than its bound (ErrTooManyPartials).
func foldPartials(tags []string, fs []columnar.FieldSchema, width int64, max, hint int, want PartSet, body func(rb *rollupBuilder, feed func(*columnar.ColumnBatch) error) error, fn func(*columnar.ColumnBatch) error) error {
	rb := newRollupBuilder(width, tags, fs, nil)
	rb.comb = newPartialTable(tags, fs, hint)
	rb.comb.want = want | partBit(PartCount)
	defer rb.comb.release()
	if err := body(rb, rollupFeeder(tags, fs, []*rollupBuilder{rb})); err != nil {
		return err
	}
	if err := rb.finish(); err != nil {
		return err
	}
	return rb.comb.emit(tags, rb.width, max, fn)
}

// FoldRollups folds the rows scan delivers into partials, per window and
// distinct values of tags, of several widths in one read of the rows, and
// passes them to fn as rollup batches (ColumnBatch.Rollup = the width)
// holding tags, the row count and the parts of fields (RollupSchema). scan
// gets a feed per width (in the order of widths) and must pass each
// batches holding tags and fields whose rows come run by run in time
// order — a segment's rows, sorted by series and time, do — and only rows
// in ranges aligned on that width. It is how a segment without a rollup
// of the width a query reads answers it without handing every row to the
// reader; a range cut into pieces of different widths (a dashboard range's
// ragged ends, at the widths dividing its interval) decodes its rows once
// instead of once per piece. The widths share one bound of held partials,
// and, as with ScanRollup, a fold that overflows or would hold too many
// partials fails before fn saw any batch (FoldAbandoned).
func FoldRollups(tags []string, fields []columnar.FieldSchema, widths []int64, batchRows int, scan func(feeds []func(*columnar.ColumnBatch) error) error, fn func(*columnar.ColumnBatch) error) error {
	return FoldRollupsParts(tags, fields, widths, AllParts, batchRows, scan, fn)
}

// FoldRollupsParts is FoldRollups computing and passing on only the parts
// want (the count always among them), as a head's fold does: TSBS's max
// per minute reads each field's count and max, and a fold for it skips the
// running mean and squared deviations.
func FoldRollupsParts(tags []string, fields []columnar.FieldSchema, widths []int64, want PartSet, batchRows int, scan func(feeds []func(*columnar.ColumnBatch) error) error, fn func(*columnar.ColumnBatch) error) error {
	var fs []columnar.FieldSchema
	for _, f := range fields {
		if Rollable(f.Type) {
			fs = append(fs, f)
		}
	}
	rbs := make([]*rollupBuilder, len(widths))
	feeds := make([]func(*columnar.ColumnBatch) error, len(widths))
	for k, w := range widths {
		rbs[k] = newRollupBuilder(w, tags, fs, nil)
		rbs[k].comb = newPartialTable(tags, fs, 0)
		rbs[k].comb.want = want | partBit(PartCount)
		rbs[k].plain = !want.Has(PartM2)
		defer rbs[k].comb.release()
		rbs[k].comb.limit = max(rbs[k].comb.limit/len(widths), 1)
		feeds[k] = rollupFeeder(tags, fs, rbs[k:k+1])
	}
	if err := scan(feeds); err != nil {
		return err
	}
	for _, rb := range rbs {
		if err := rb.finish(); err != nil {
			return err
		}
	}
	for _, rb := range rbs {
		if err := rb.comb.emit(tags, rb.width, batchRows, fn); err != nil {
			return err
		}
	}
	return nil
}

// maxHeldPartials bounds the windows (partials of every field of one
// window and group) one fold holds before passing them on, next to
// maxHeldPartialBytes: past either the fold gives up with
// ErrTooManyPartials and the caller reads the rows raw, through the
// reader's own memory accounting. Folding pays when windows are dense, and
// then a range holds few of them.
var maxHeldPartials = 1 << 20

// ErrTooManyPartials: a fold would hold more than its bound of partials.
var ErrTooManyPartials = errors.New("rollup: too many partials to fold at read")

// FoldAbandoned reports whether a fold (ScanRollup, FoldRollups) gave up
// before passing anything on, so that its range can be read raw instead.
func FoldAbandoned(err error) bool {
	return errors.Is(err, ErrRollupOverflow) || errors.Is(err, ErrTooManyPartials)
}

// RowsPerWindow estimates how many rows a series has per window of width
// within [minT, maxT): the rows of the sealed blocks overlapping it (each
// block's rows spread evenly over its time range) and of the unsealed tail,
// spread over the head's series and the windows of the part of the range
// the head covers. A head of a sparse backfill and a dense live stream is
// dense where the stream is, which is where dashboards read.
func (h *Head) RowsPerWindow(minT, maxT, width int64) float64 {
	if len(h.times) == 0 || len(h.seriesTags) == 0 {
		return 0
	}
	lo, hi := max(minT, h.minTime), h.maxTime
	if maxT != math.MaxInt64 {
		hi = min(hi, maxT-1)
	}
	if hi < lo {
		return 0
	}
	rows := 0.0
	for _, b := range h.blocks {
		if !overlapsSpan(b.minT, b.maxT, minT, maxT) {
			continue
		}
		n := float64(b.hi - b.lo)
		if b.minT < lo || b.maxT > hi {
			n *= (float64(min(b.maxT, hi)-max(b.minT, lo)) + 1) / (float64(b.maxT-b.minT) + 1)
		}
		rows += n
	}
	for _, t := range h.times[h.sealed:] {
		if inSpan(t, minT, maxT) {
			rows++
		}
	}
	windows := max((float64(hi-lo)+1)/float64(width), 1)
	return rows / float64(len(h.seriesTags)) / windows
}
