package query

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ArrowBatches hands fn the rows of r as Arrow record batches of at most
// batchRows rows each, so that a stream (Flight, Parquet) holds one batch
// at a time on top of the rows. Their schema is sch, which must have the
// types of ArrowSchema (it may add metadata); nil is ArrowSchema. A
// result with no rows gives one empty batch: the schema still reaches
// the reader. fn must not keep the batch past its return unless it
// retains it.
func (r *Result) ArrowBatches(mem memory.Allocator, sch *arrow.Schema, batchRows int, fn func(arrow.RecordBatch) error) error {
	if batchRows <= 0 {
		batchRows = 64 << 10
	}
	if sch == nil {
		sch = r.ArrowSchema()
	}
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	emit := func() error {
		rec := b.NewRecordBatch()
		defer rec.Release()
		return fn(rec)
	}
	for start := 0; ; start += batchRows {
		end := min(start+batchRows, len(r.Rows))
		for _, row := range r.Rows[start:end] {
			appendArrowRow(b, row)
		}
		if err := emit(); err != nil {
			return err
		}
		if end >= len(r.Rows) {
			break
		}
	}
	return nil
}

// appendArrowRow appends one result row to the builders of ArrowSchema.
func appendArrowRow(b *array.RecordBuilder, row []any) {
	for i, v := range row {
		fb := b.Field(i)
		if v == nil {
			fb.AppendNull()
			continue
		}
		switch x := fb.(type) {
		case *array.TimestampBuilder:
			x.Append(arrow.Timestamp(v.(time.Time).UnixNano()))
		case *array.Float64Builder:
			x.Append(v.(float64))
		case *array.Int64Builder:
			x.Append(v.(int64))
		case *array.Uint64Builder:
			x.Append(v.(uint64))
		case *array.BooleanBuilder:
			x.Append(v.(bool))
		case *array.StringBuilder:
			x.Append(FormatValue(v))
		}
	}
}
