package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// sqlRows runs q on db and returns the rows as text.
func sqlRows(t *testing.T, s *testServer, db, q string) string {
	t.Helper()
	code, b := s.get(t, "/api/v1/sql?db="+db+"&q="+url.QueryEscape(q))
	if code != 200 {
		t.Fatalf("%s: %d %s", q, code, b)
	}
	var ans struct{ Rows [][]any }
	if err := json.Unmarshal(b, &ans); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(ans.Rows)
}

// TestCSVImportBadLines: a body with bad records writes every good one,
// and answers 400 with each bad record's first line, code and reason; the
// rows it says it wrote are there, with their values and types.
func TestCSVImportBadLines(t *testing.T) {
	s := startServer(t, 0)
	body := "time,host,usage,ok,msg\n" + // line 1
		"2023-11-14T22:13:20Z,a,1.5,true,plain\n" + // 2: good; types the columns
		"yesterday,a,2,true,x\n" + // 3: csv-bad-time
		"1700000001000000000,b,3,false\n" + // 4: csv-field-count
		"1700000002000000000,b,4.25,false,\"two\n" + // 5: good, a quoted field over two lines
		"lines, \"\"quoted\"\"\"\n" + // 6
		"1700000003000000000,a,12x,true,y\n" + // 7: csv-bad-value (usage is a float)
		"1700000004000000000,a,,,\n" + // 8: csv-no-fields
		"1700000005000000000,\"a\"b,5,true,z\n" + // 9: csv-syntax (a quote in an unquoted field)
		"1700000006000000000,,6,maybe,w\n" + // 10: csv-bad-value (ok is a boolean)
		"1700000007000000000,,7,,\n" + // 11: good, no tag, only usage
		"\"17\"00,a,8,true,v\n" + // 12: csv-syntax in the first field
		"1700000009000000000,a,9,true,\"unterminated\n" // 13: csv-syntax, to the end of the body
	code, _, raw := s.post(t, "/api/v1/import/csv?db=up&table=m&tags=host", body, "Content-Type", "text/csv")
	if code != 400 {
		t.Fatalf("status %d, want 400: %s", code, raw)
	}
	var resp WriteResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range resp.Errors {
		got = append(got, fmt.Sprintf("%d %s", e.Line, e.Code))
		if e.Reason == "" {
			t.Errorf("line %d: no reason", e.Line)
		}
	}
	want := []string{"3 csv-bad-time", "4 csv-field-count", "7 csv-bad-value", "8 csv-no-fields", "9 csv-syntax", "10 csv-bad-value",
		"12 csv-syntax", "13 csv-syntax"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") || resp.Written != 3 || resp.Rejected != 8 ||
		resp.Line != 3 || resp.Code != "csv-bad-time" || !strings.HasPrefix(resp.Error, "line 3: ") {
		t.Fatalf("answer %s\nerrors %v, want %v, 3 written, 8 rejected", raw, got, want)
	}
	if !strings.Contains(resp.Errors[2].Reason, `usage is float, and "12x" is not`) {
		t.Errorf("the bad value's reason: %q", resp.Errors[2].Reason)
	}
	rows := sqlRows(t, s, "up", "SELECT time, host, usage, ok, msg FROM m ORDER BY time")
	wantRows := `[[2023-11-14T22:13:20Z a 1.5 true plain] [2023-11-14T22:13:22Z b 4.25 false two` + "\n" +
		`lines, "quoted"] [2023-11-14T22:13:27Z <nil> 7 <nil> <nil>]]`
	if rows != wantRows {
		t.Fatalf("rows written:\n%s\nwant\n%s", rows, wantRows)
	}
	_, types := s.get(t, "/api/v1/tables?db=up")
	for _, f := range []string{`{"name":"usage","type":"float"}`, `{"name":"ok","type":"boolean"}`, `{"name":"msg","type":"string"}`, `"tags":["host"]`} {
		if !strings.Contains(strings.ReplaceAll(string(types), " ", ""), f) {
			t.Errorf("schema %s lacks %s", types, f)
		}
	}
}

// TestCSVImportExportRoundTrip: a table's CSV export (/api/v1/sql
// format=csv) imports back into another table as the same rows, with
// types= for the integer columns; an import into an existing table takes
// its types from the table.
func TestCSVImportExportRoundTrip(t *testing.T) {
	s := startServer(t, 0)
	lp := `cpu,host=a,dc=x usage=1.5,n=3i,u=7u,ok=true,msg="hi, \"you\"" 1700000000123456789
cpu,host=b usage=-2,n=-4i,u=18446744073709551615u,ok=false,msg="é" 1700000001000000000
cpu,host=a usage=0.1 1700000002000000000
`
	if code, _, b := s.post(t, "/write?db=rt", lp); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	const q = "SELECT time, host, dc, usage, n, u, ok, msg FROM %s ORDER BY time, host"
	code, csvBody := s.get(t, "/api/v1/sql?db=rt&format=csv&q="+url.QueryEscape(fmt.Sprintf(q, "cpu")))
	if code != 200 {
		t.Fatalf("export: %d %s", code, csvBody)
	}
	code, _, b := s.post(t, "/api/v1/import/csv?db=rt&table=cpu2&tags=host,dc&types=n:integer,u:unsigned", string(csvBody))
	if code != 204 {
		t.Fatalf("import: %d %s", code, b)
	}
	want := sqlRows(t, s, "rt", fmt.Sprintf(q, "cpu"))
	if got := sqlRows(t, s, "rt", fmt.Sprintf(q, "cpu2")); got != want {
		t.Fatalf("imported rows\n%s\nwant\n%s", got, want)
	}
	// Into the existing table: n is an integer there, so 1.5 is refused,
	// and host is a tag without tags=.
	code, _, b = s.post(t, "/api/v1/import/csv?db=rt&table=cpu2&precision=s", "time,host,n\n1700000100,c,5\n1700000101,c,1.5\n")
	var resp WriteResponse
	_ = json.Unmarshal(b, &resp)
	if code != 400 || resp.Written != 1 || len(resp.Errors) != 1 || resp.Errors[0].Line != 3 || resp.Errors[0].Code != "csv-bad-value" {
		t.Fatalf("import into the existing table: %d %s", code, b)
	}
	if got := sqlRows(t, s, "rt", "SELECT host, n FROM cpu2 WHERE time = 1700000100000000000"); got != "[[c 5]]" {
		t.Fatalf("the row imported with precision=s: %s", got)
	}
}

// TestCSVImportRequestErrors: what is wrong with the whole request is a
// plain error answer, and nothing is written.
func TestCSVImportRequestErrors(t *testing.T) {
	s := startServer(t, 0)
	for _, c := range []struct {
		path, body, code string
		status           int
	}{
		{"/api/v1/import/csv?table=m", "time,v\n1,2\n", "missing-db", 400},
		{"/api/v1/import/csv?db=e", "time,v\n1,2\n", "missing-table", 400},
		{"/api/v1/import/csv?db=e&table=m", "", "csv-no-header", 400},
		{"/api/v1/import/csv?db=e&table=m", "when,v\n1,2\n", "csv-no-time", 400},
		{"/api/v1/import/csv?db=e&table=m", "time,v,v\n1,2,3\n", "csv-bad-header", 400},
		{"/api/v1/import/csv?db=e&table=m&tags=host", "time,v\n1,2\n", "csv-bad-header", 400},
		{"/api/v1/import/csv?db=e&table=m&types=v:decimal", "time,v\n1,2\n", "bad-types", 400},
		{"/api/v1/import/csv?db=e&table=m&precision=d", "time,v\n1,2\n", "bad-precision", 400},
	} {
		code, _, b := s.post(t, c.path, c.body)
		var e ErrorBody
		_ = json.Unmarshal(b, &e)
		if code != c.status || e.Code != c.code || e.Error == "" {
			t.Errorf("POST %s %q: %d %s, want %d %s", c.path, c.body, code, b, c.status, c.code)
		}
	}
	if code, b := s.get(t, "/api/v1/import/csv?db=e&table=m"); code != 405 {
		t.Errorf("GET: %d %s", code, b)
	}
	if code, b := s.get(t, "/api/v1/tables?db=e"); code != 404 {
		t.Errorf("a refused request created the database: %d %s", code, b)
	}
	// A time column named otherwise, and a byte-order mark.
	if code, _, b := s.post(t, "/api/v1/import/csv?db=e&table=m&time=ts&precision=ms", "\uFEFFts,v\n1700000000000,2\n"); code != 204 {
		t.Fatalf("time=ts: %d %s", code, b)
	}
	if got := sqlRows(t, s, "e", "SELECT time, v FROM m"); got != "[[2023-11-14T22:13:20Z 2]]" {
		t.Fatalf("rows %s", got)
	}
}
