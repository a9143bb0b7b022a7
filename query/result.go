// Package query holds what the SQL and InfluxQL front ends share with the
// executor and the HTTP layer: the result of a query and its encodings.
// Parsing lives in query/sql, execution in query/exec.
package query

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Column types of a Result.
const (
	TypeTimestamp = "timestamp"
	TypeString    = "string"
	TypeFloat     = "float"
	TypeInteger   = "integer"
	TypeUnsigned  = "unsigned"
	TypeBoolean   = "boolean"
)

// Column names and types one result column.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Stats describe how a query ran.
type Stats struct {
	Rows            int     `json:"rows"`
	ElapsedMs       float64 `json:"elapsed_ms"`
	SegmentsScanned int     `json:"segments_scanned"`
	SegmentsPruned  int     `json:"segments_pruned"`
	BytesRead       int64   `json:"bytes_read"`
	RowsScanned     int64   `json:"rows_scanned"`
	// Resolution says what answered a query over a table: "raw" rows, a
	// rollup width ("1h"), or several joined by "+" ("1h+1m+raw": the
	// coarsest rollup for the bulk, finer ones and raw rows at the ends of
	// the time range and for data not rolled up yet).
	Resolution string `json:"resolution,omitempty"`
	// MissingNodes, on a cluster's query node answering with
	// --cluster.writer-down partial, names the writers whose rows not yet
	// in the bucket the answer lacks: the answer is partial.
	MissingNodes []string `json:"missing_nodes,omitempty"`
}

// Result is a query's answer. Row values are nil (NULL), time.Time (UTC) for
// timestamps, string, float64, int64, uint64 or bool, matching Columns.
type Result struct {
	Columns []Column `json:"columns"`
	Rows    [][]any  `json:"rows"`
	Stats   Stats    `json:"stats"`
}

// WriteJSON writes r as {"columns":[...],"rows":[...],"stats":{...}}.
// Timestamps are RFC 3339 strings with nanoseconds; NaN and infinities,
// which JSON lacks, are written as the strings "NaN", "Infinity",
// "-Infinity".
func (r *Result) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	cols, err := json.Marshal(r.Columns)
	if err != nil {
		return err
	}
	bw.WriteString(`{"columns":`)
	bw.Write(cols)
	bw.WriteString(`,"rows":[`)
	var buf []byte
	for i, row := range r.Rows {
		if i > 0 {
			bw.WriteByte(',')
		}
		buf = buf[:0]
		buf = append(buf, '[')
		for j, v := range row {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONValue(buf, v)
		}
		buf = append(buf, ']')
		bw.Write(buf)
	}
	stats, err := json.Marshal(r.Stats)
	if err != nil {
		return err
	}
	bw.WriteString(`],"stats":`)
	bw.Write(stats)
	bw.WriteString("}\n")
	return bw.Flush()
}

func appendJSONValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case time.Time:
		// RFC 3339 text needs no escaping: quoted as is, without the
		// string Format would allocate.
		dst = append(dst, '"')
		dst = x.UTC().AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	case string:
		return AppendJSONString(dst, x)
	case float64:
		return appendJSONFloat(dst, x)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case bool:
		return strconv.AppendBool(dst, x)
	}
	b, _ := json.Marshal(fmt.Sprint(v))
	return append(dst, b...)
}

// appendJSONFloat appends x as WriteJSON writes a float (Table's
// encoders too): NaN and the infinities, which JSON lacks, as strings.
func appendJSONFloat(dst []byte, x float64) []byte {
	switch {
	case math.IsNaN(x):
		return append(dst, `"NaN"`...)
	case math.IsInf(x, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(x, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, x, 'g', -1, 64)
}

// FormatValue renders a value as text (CSV and the CLI table): NULL is empty.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// WriteCSV writes a header row of column names, then the rows.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		rec[i] = c.Name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for _, row := range r.Rows {
		for i, v := range row {
			rec[i] = FormatValue(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ArrowSchema maps the result columns to Arrow types.
func (r *Result) ArrowSchema() *arrow.Schema {
	fs := make([]arrow.Field, len(r.Columns))
	for i, c := range r.Columns {
		var t arrow.DataType
		switch c.Type {
		case TypeTimestamp:
			t = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
		case TypeFloat:
			t = arrow.PrimitiveTypes.Float64
		case TypeInteger:
			t = arrow.PrimitiveTypes.Int64
		case TypeUnsigned:
			t = arrow.PrimitiveTypes.Uint64
		case TypeBoolean:
			t = arrow.FixedWidthTypes.Boolean
		default:
			t = arrow.BinaryTypes.String
		}
		fs[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fs, nil)
}

// WriteArrow writes r as an Arrow IPC stream (one record batch).
func (r *Result) WriteArrow(w io.Writer) error {
	mem := memory.NewGoAllocator()
	sch := r.ArrowSchema()
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for _, row := range r.Rows {
		appendArrowRow(b, row)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	iw := ipc.NewWriter(w, ipc.WithSchema(sch), ipc.WithAllocator(mem))
	if err := iw.Write(rec); err != nil {
		return fmt.Errorf("write arrow record: %w", err)
	}
	return iw.Close()
}
