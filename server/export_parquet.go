package server

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/siltdb/silt/query"
)

// A query's answer as a Parquet file: /api/v1/sql?format=parquet, the
// console's Export Parquet.

// parquetContentType is the media type of a Parquet file.
const parquetContentType = "application/vnd.apache.parquet"

// parquetBatchRows is the rows of one Arrow batch, and so of one row
// group: the writer holds one batch at a time on top of the answer.
const parquetBatchRows = 64 << 10

// writeResultParquet writes res as one Parquet file, zstd-compressed, a
// row group per batch of parquetBatchRows.
//
// Timestamps are nanoseconds, written without Parquet's isAdjustedToUTC
// flag (the values are UTC all the same), as the segment files are
// (segment/write.go): DuckDB reads a flagged nanosecond column as
// TIMESTAMPTZ, in microseconds, and would drop the last three digits;
// unflagged it reads TIMESTAMP_NS, exact.
func writeResultParquet(w io.Writer, res *query.Result) error {
	sch := res.ArrowSchema()
	fields := sch.Fields()
	for i, f := range fields {
		if ts, ok := f.Type.(*arrow.TimestampType); ok {
			fields[i].Type = &arrow.TimestampType{Unit: ts.Unit}
		}
	}
	sch = arrow.NewSchema(fields, nil)
	mem := memory.NewGoAllocator()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithAllocator(mem))
	fw, err := pqarrow.NewFileWriter(sch, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return fmt.Errorf("parquet writer: %w", err)
	}
	err = res.ArrowBatches(mem, sch, parquetBatchRows, func(rec arrow.RecordBatch) error { return fw.Write(rec) })
	return errors.Join(err, fw.Close())
}
