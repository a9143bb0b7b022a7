package segment

import (
	"github.com/siltdb/silt/columnar"
)

// ScanRollup passes fn, as rollup batches (ColumnBatch.Rollup = width)
// holding every tag, the row count and the parts of the named fields (see
// RollupSchema), the partial aggregates of the head's rows whose series
// keep holds (nil: all) and whose time is in [minT, maxT), per series and
// window of width. It is the head's answer to a query that reads rollups:
// the partials are folded from the block index as the rows are read, so
// the reader holds one row per series and window instead of every row,
// and duplicates are merged first (ScanDeduped), so they are exact. A
// series whose rows span several blocks gets a partial row per block for
// the same window; readers combine partials of one window, as they do
// across segments. Fields that are absent or not numeric are left out.
func (h *Head) ScanRollup(fields []string, keep []bool, minT, maxT, width int64, max int, fn func(*columnar.ColumnBatch) error) error {
	tags := h.Schema.Tags
	var fs []columnar.FieldSchema
	cols := append([]string(nil), tags...)
	for _, name := range fields {
		if c, ok := h.Schema.FieldCol(name); ok && c < len(h.fields) && Rollable(h.fields[c].typ) {
			fs = append(fs, columnar.FieldSchema{Name: name, Type: h.fields[c].typ})
			cols = append(cols, name)
		}
	}
	bb := columnar.NewBatchBuilder(tags, RollupSchema(tags, fs).Fields, max)
	emit := func(b *columnar.ColumnBatch) error {
		b.Rollup = width
		return fn(b)
	}
	rb := newRollupBuilder(width, tags, fs, batchWriter{bb, emit})
	feed := rollupFeeder(tags, fs, []*rollupBuilder{rb})
	var err error
	if h.NoDuplicates() {
		err = h.scanRange(cols, keep, minT, maxT, max, true, feed)
	} else {
		err = h.ScanDeduped(cols, keep, minT, maxT, max, feed)
	}
	if err != nil {
		return err
	}
	if err := rb.finish(); err != nil {
		return err
	}
	return bb.Flush(emit)
}

// batchWriter is a RollupWriter that builds column batches.
type batchWriter struct {
	bb   *columnar.BatchBuilder
	emit func(*columnar.ColumnBatch) error
}

func (w batchWriter) Append(p *columnar.Point) error { return w.bb.Add(p, w.emit) }
