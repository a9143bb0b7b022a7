package engine

import (
	"flag"
	"fmt"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/flagutil"
	"github.com/siltdb/silt/segment"
)

// Limits bound what one line, one table and one write may add. They are
// checked when rows are admitted, before the WAL write, so a row above them
// is rejected with a line error (a 400 over HTTP, a dead letter for stream
// sources) instead of being acknowledged and then failing every flush.
// Rows replayed from the WAL were acknowledged already and are not checked.
type Limits struct {
	// MaxTagsPerLine and MaxFieldsPerLine bound one row (one line of line
	// protocol or NDJSON).
	MaxTagsPerLine   int
	MaxFieldsPerLine int
	// MaxColumnsPerTable bounds a table's tags plus fields (time excluded).
	// A Parquet segment cannot hold more than HardMaxColumnsPerTable.
	MaxColumnsPerTable int
	// MaxNewSeriesPerWrite bounds the series one write adds to a table's
	// head: a head's memory grows with its series, and one request must not
	// grow it by more than the flusher can catch up with.
	MaxNewSeriesPerWrite int
	// MaxLineBytes bounds one input line; the decoders enforce it (the
	// engine never sees lines), the engine only carries the setting.
	MaxLineBytes int

	lineBytes *int64 // the --max-line-bytes flag's value until Validate
}

// Default limits. Flushing a segment costs about half a millisecond per
// column whatever its rows (10 rows: 0.5 s at 1,024 columns, 5 s at 8,192,
// 8-18 s from 32,768 up), and the Parquet writer panics at 65,536 columns
// (time included).
const (
	DefaultMaxTagsPerLine       = 256
	DefaultMaxFieldsPerLine     = 1024
	DefaultMaxColumnsPerTable   = 1024
	DefaultMaxNewSeriesPerWrite = 100_000
	DefaultMaxLineBytes         = 1 << 20
	// HardMaxColumnsPerTable is the most columns a table may be configured
	// to hold: the Parquet writer indexes columns with 16 bits (65,535 with
	// time work, one more panics), and a margin is kept below that.
	HardMaxColumnsPerTable = 60_000
)

// Codes of rows rejected by the limits, stable: clients match on them.
const (
	CodeTooManyTags      = "too-many-tags"
	CodeTooManyFields    = "too-many-fields"
	CodeTooManyColumns   = "too-many-columns"
	CodeTooManyNewSeries = "too-many-new-series"
)

// RegisterFlags adds the --max-* row and table limits to fs, with defaults.
func (l *Limits) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&l.MaxTagsPerLine, "max-tags-per-line", DefaultMaxTagsPerLine, "most tags one line (row) may have; more gets 400 too-many-tags")
	fs.IntVar(&l.MaxFieldsPerLine, "max-fields-per-line", DefaultMaxFieldsPerLine, "most fields one line (row) may have; more gets 400 too-many-fields")
	fs.IntVar(&l.MaxColumnsPerTable, "max-columns-per-table", DefaultMaxColumnsPerTable,
		fmt.Sprintf("most tags plus fields one table may have (at most %d, what a Parquet segment holds with margin); a line adding more gets 400 too-many-columns", HardMaxColumnsPerTable))
	fs.IntVar(&l.MaxNewSeriesPerWrite, "max-new-series-per-write", DefaultMaxNewSeriesPerWrite, "most series one write (request or stream batch) may add to the unflushed data; lines beyond get 400 too-many-new-series")
	var lineBytes int64
	flagutil.BytesVar(fs, &lineBytes, "max-line-bytes", DefaultMaxLineBytes, "longest line of line protocol or NDJSON (e.g. 1MiB); longer lines get 400 lp-line-too-long / json-line-too-long")
	l.lineBytes = &lineBytes
}

// Validate checks limits given explicitly (zero takes the default).
func (l *Limits) Validate() error {
	if l.lineBytes != nil {
		l.MaxLineBytes = int(*l.lineBytes)
	}
	switch {
	case l.MaxTagsPerLine < 0, l.MaxFieldsPerLine < 0, l.MaxColumnsPerTable < 0, l.MaxNewSeriesPerWrite < 0, l.MaxLineBytes < 0:
		return fmt.Errorf("row and table limits must not be negative")
	case l.MaxColumnsPerTable > HardMaxColumnsPerTable:
		return fmt.Errorf("max columns per table %d is above %d, the most a segment holds with margin", l.MaxColumnsPerTable, HardMaxColumnsPerTable)
	}
	return nil
}

func (l *Limits) defaults() {
	if l.MaxTagsPerLine <= 0 {
		l.MaxTagsPerLine = DefaultMaxTagsPerLine
	}
	if l.MaxFieldsPerLine <= 0 {
		l.MaxFieldsPerLine = DefaultMaxFieldsPerLine
	}
	if l.MaxColumnsPerTable <= 0 {
		l.MaxColumnsPerTable = DefaultMaxColumnsPerTable
	}
	l.MaxColumnsPerTable = min(l.MaxColumnsPerTable, HardMaxColumnsPerTable)
	if l.MaxNewSeriesPerWrite <= 0 {
		l.MaxNewSeriesPerWrite = DefaultMaxNewSeriesPerWrite
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultMaxLineBytes
	}
}

// checkRow rejects a row with more tags or fields than a line may have, or
// one whose new columns would take table s above its column limit.
func (l *Limits) checkRow(b *columnar.Batch, r *columnar.Row, s *columnar.TableSchema) *columnar.LineError {
	if n := int(r.TagEnd - r.TagStart); n > l.MaxTagsPerLine {
		return &columnar.LineError{Line: int(r.Line), Code: CodeTooManyTags,
			Reason: fmt.Sprintf("%d tags on one line, the limit is %d (--max-tags-per-line)", n, l.MaxTagsPerLine)}
	}
	if n := int(r.FieldEnd - r.FieldStart); n > l.MaxFieldsPerLine {
		return &columnar.LineError{Line: int(r.Line), Code: CodeTooManyFields,
			Reason: fmt.Sprintf("%d fields on one line, the limit is %d (--max-fields-per-line)", n, l.MaxFieldsPerLine)}
	}
	have := len(s.Tags) + len(s.Fields)
	if add := s.NewColumns(b, r); add > 0 && have+add > l.MaxColumnsPerTable {
		return &columnar.LineError{Line: int(r.Line), Code: CodeTooManyColumns,
			Reason: fmt.Sprintf("table %q has %d columns and this line adds %d, the limit is %d (--max-columns-per-table)",
				b.Bytes(r.Table), have, add, l.MaxColumnsPerTable)}
	}
	return nil
}

// seriesCounter counts the series a write adds to the active heads. It is
// used only for writes with more rows than MaxNewSeriesPerWrite (no smaller
// write can exceed it), so small writes pay nothing.
type seriesCounter struct {
	max  int
	n    int
	seen map[string]bool // series new to the heads → admitted
	key  []byte
}

// admit reports whether row r of b may be written: its series is in the
// active head h (nil: the table has none), or it is one of the first max
// series this write adds.
func (c *seriesCounter) admit(h *segment.Head, b *columnar.Batch, r *columnar.Row) bool {
	if h != nil && h.HasSeries(b, r) {
		return true
	}
	c.key = segment.SeriesKey(c.key[:0], b, r)
	if ok, seen := c.seen[string(c.key)]; seen {
		return ok
	}
	ok := c.n < c.max
	if ok {
		c.n++
	}
	c.seen[string(c.key)] = ok
	return ok
}
