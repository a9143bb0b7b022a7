package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// exportTable is a table read back from an Arrow stream or a Parquet
// file: each column's name and Arrow type, and the rows' values as
// ValueStr writes them (times as RFC 3339 with nanoseconds).
type exportTable struct {
	cols []string
	rows [][]string
}

func readExportRecords(t *testing.T, schema *arrow.Schema, next func() arrow.RecordBatch) exportTable {
	t.Helper()
	var out exportTable
	for _, f := range schema.Fields() {
		typ := f.Type.String()
		if ts, ok := f.Type.(*arrow.TimestampType); ok {
			typ = "timestamp[" + ts.Unit.String() + "]" // the time zone aside: Parquet drops it
		}
		out.cols = append(out.cols, f.Name+":"+typ)
	}
	for rec := next(); rec != nil; rec = next() {
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for j := range row {
				c := rec.Column(j)
				if ts, ok := c.(*array.Timestamp); ok && !c.IsNull(i) {
					row[j] = time.Unix(0, int64(ts.Value(i))).UTC().Format(time.RFC3339Nano)
					continue
				}
				row[j] = c.ValueStr(i)
			}
			out.rows = append(out.rows, row)
		}
	}
	return out
}

func readArrowExport(t *testing.T, body []byte) exportTable {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("read the Arrow stream: %v: %.200s", err, body)
	}
	defer rd.Release()
	return readExportRecords(t, rd.Schema(), func() arrow.RecordBatch {
		if rd.Next() {
			return rd.RecordBatch()
		}
		return nil
	})
}

func readParquetExport(t *testing.T, body []byte) exportTable {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("open the Parquet file: %v: %.200s", err, body)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, -1)
	defer tr.Release()
	return readExportRecords(t, tbl.Schema(), func() arrow.RecordBatch {
		if tr.Next() {
			return tr.RecordBatch()
		}
		return nil
	})
}

// TestQueryFileFormats: /query's format=arrow and format=parquet answer an
// InfluxQL query as one table (iox::measurement, time, tags, fields),
// series after series; errors are the request's; statements that change
// data are refused.
func TestQueryFileFormats(t *testing.T) {
	ts := startServer(t, 0)
	const t0 = 1700000000
	lp := fmt.Sprintf("cpu,host=a usage=1.5,n=1i %d\ncpu,host=b usage=2,n=2i %d\ncpu,host=a usage=3,n=3i %d\n",
		t0*int64(time.Second), t0*int64(time.Second), (t0+60)*int64(time.Second))
	if code, _, body := ts.post(t, "/write?db=ex", lp); code != 204 {
		t.Fatalf("write: %d %s", code, body)
	}
	form := func(format, q string) string {
		return url.Values{"db": {"ex"}, "format": {format}, "q": {q}}.Encode()
	}
	formDB := func(db, format, q string) string {
		return url.Values{"db": {db}, "format": {format}, "q": {q}}.Encode()
	}
	const formType = "application/x-www-form-urlencoded"
	const q = "SELECT usage, n FROM cpu GROUP BY host"
	wantCols := "[iox::measurement:utf8 time:timestamp[ns] host:utf8 usage:float64 n:int64]"
	wantRows := "[[cpu 2023-11-14T22:13:20Z a 1.5 1] [cpu 2023-11-14T22:14:20Z a 3 3] [cpu 2023-11-14T22:13:20Z b 2 2]]"
	for _, format := range []string{"arrow", "parquet"} {
		code, hdr, body := ts.post(t, "/query", form(format, q), "Content-Type", formType)
		if code != 200 {
			t.Fatalf("%s: %d %s", format, code, body)
		}
		var got exportTable
		if format == "arrow" {
			if ct := hdr.Get("Content-Type"); ct != "application/vnd.apache.arrow.stream" {
				t.Fatalf("arrow: Content-Type %s", ct)
			}
			got = readArrowExport(t, body)
		} else {
			if ct := hdr.Get("Content-Type"); ct != "application/vnd.apache.parquet" {
				t.Fatalf("parquet: Content-Type %s", ct)
			}
			got = readParquetExport(t, body)
		}
		if fmt.Sprint(got.cols) != wantCols || fmt.Sprint(got.rows) != wantRows {
			t.Fatalf("%s: columns %v rows %v\nwant %s %s", format, got.cols, got.rows, wantCols, wantRows)
		}
	}
	// In the URL and with an epoch: the times stay a timestamp column; an
	// empty window (fill null) is a null.
	code, body := ts.get(t, "/query?db=ex&epoch=ms&format=arrow&q="+url.QueryEscape("SELECT max(n) FROM cpu WHERE time >= 1700000000s AND time < 1700000120s GROUP BY time(1m)"))
	if got := readArrowExport(t, body); code != 200 || fmt.Sprint(got.rows) != "[[cpu 2023-11-14T22:13:00Z 2] [cpu 2023-11-14T22:14:00Z 3] [cpu 2023-11-14T22:15:00Z (null)]]" {
		t.Fatalf("GET arrow: %d %v", code, got)
	}

	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"database not found", formDB("nope", "arrow", "SELECT * FROM cpu"), 404, "db-not-found"},
		{"a statement that changes data", form("parquet", "DROP MEASUREMENT cpu"), 400, "read-only-format"},
		{"a syntax error", form("arrow", "SELEKT 1"), 400, "influxql-syntax"},
		{"an unknown format", form("xml", q), 400, "bad-format"},
	} {
		code, _, body := ts.post(t, "/query", c.body, "Content-Type", formType)
		var e struct{ Error, Code string }
		if err := json.Unmarshal(body, &e); err != nil || code != c.status || e.Code != c.code || e.Error == "" {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, body, c.status, c.code)
		}
	}
	// The DROP was refused: the table is still there.
	if code, _, body := ts.post(t, "/query", form("arrow", "SELECT count(n) FROM cpu"), "Content-Type", formType); code != 200 || fmt.Sprint(readArrowExport(t, body).rows) != "[[cpu 1970-01-01T00:00:00Z 3]]" {
		t.Fatalf("after the refused DROP: %d", code)
	}
}
