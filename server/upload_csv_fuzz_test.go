package server

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// FuzzCSVImport feeds arbitrary bodies to the CSV decoder: it must not
// panic, must account for every record after the header (a row or an
// error, never both, never neither: nothing accepted is lost), must give
// every row the line its record starts on, and must keep one type per
// field column.
func FuzzCSVImport(f *testing.F) {
	for _, seed := range []string{
		"time,host,v,s,n\n1,a,1.5,x,3\n",
		"time,host,v,s,n\n\"1\"x,a,1,b,2\n2,b,true,\"q\"\"q\",4\n",
		"time,host,v,s,n\n3,,,,\n4,a,\"multi\nline\",s,5\n",
		"time,host,v,s,n\n2023-11-14T22:13:20Z,a,1,s,1.5\n\"unterminated,a,1\n",
		"t\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cols := []csvColumn{{name: []byte("time"), time: true}, {name: []byte("host"), tag: true},
			{name: []byte("v")}, {name: []byte("s"), ftype: columnar.FieldString}, {name: []byte("n"), ftype: columnar.FieldInt}}
		var b columnar.Batch
		var errs []columnar.LineError
		decodeCSV(body, "m", cols, columnar.Nanosecond, 0, &b, func(e columnar.LineError) { errs = append(errs, e) })

		// The records after the header, as encoding/csv reads them.
		r := csv.NewReader(bytes.NewReader(body))
		r.FieldsPerRecord = -1
		records, first := 0, true
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			var pe *csv.ParseError
			if err != nil && !errors.As(err, &pe) {
				t.Fatalf("reading from memory: %v", err)
			}
			if first {
				first = false
				continue
			}
			records++
		}
		if len(b.Rows)+len(errs) != records {
			t.Fatalf("%d records, but %d rows and %d errors", records, len(b.Rows), len(errs))
		}
		lines := bytes.Count(body, []byte("\n")) + 1
		types := map[string]columnar.FieldType{}
		for i := range b.Rows {
			row := &b.Rows[i]
			if int(row.Line) < 2 || int(row.Line) > lines {
				t.Fatalf("row at line %d of %d", row.Line, lines)
			}
			for _, fl := range b.RowFields(row) {
				k := string(b.Bytes(fl.Key))
				if t0, ok := types[k]; ok && t0 != fl.Type {
					t.Fatalf("column %s is %v in one row and %v in another", k, t0, fl.Type)
				}
				types[k] = fl.Type
			}
		}
		for _, e := range errs {
			if e.Line < 2 || e.Line > lines || e.Code == "" || e.Reason == "" {
				t.Fatalf("error %+v of a %d-line body", e, lines)
			}
		}
	})
}
