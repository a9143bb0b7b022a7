package server

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestInfluxQLCopyOfRowsIsCharged: a raw InfluxQL SELECT whose answer is
// read as Go values (pretty JSON, InfluxDB 3's query_influxql) holds the
// executor's columns and its copy of them as series at once; both are
// charged to --query-max-memory. The limit here holds the SQL answer
// alone (the same rows through /api/v1/sql answer), and /query's JSON,
// encoded straight from the columns, but not the columns and the copy
// together, so those statements fail naming the flag, and a narrower one
// answers.
func TestInfluxQLCopyOfRowsIsCharged(t *testing.T) {
	s := startServerWith(t, Config{QueryMaxMemory: 3_300_000})
	const rows = 20_000
	var lp strings.Builder
	for i := range rows {
		lp.WriteString("m,h=a f1=" + strconv.Itoa(i) + ",f2=" + strconv.Itoa(2*i) + " " + strconv.Itoa(1_000_000_000+i) + "\n")
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, b := s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape("SELECT time, f1, f2 FROM m WHERE f1 IS NOT NULL OR f2 IS NOT NULL"))
	if code != 200 || !strings.Contains(string(b), `"rows":20000`) {
		t.Fatalf("the SQL answer alone fits the limit: %d %.300s", code, b)
	}
	code, b = s.get(t, "/query?db=d&epoch=ns&q="+url.QueryEscape("SELECT f1, f2 FROM m"))
	if code != 200 || strings.Count(string(b), "],[") != rows-1 {
		t.Fatalf("the rows as columns fit: %d %.300s", code, b)
	}
	code, b = s.get(t, "/query?db=d&pretty=true&q="+url.QueryEscape("SELECT f1, f2 FROM m"))
	if code != 200 || !strings.Contains(string(b), "--query-max-memory") || strings.Contains(string(b), `"values"`) {
		t.Fatalf("the columns and InfluxQL's copy together: want a statement error naming --query-max-memory, got %d %.300s", code, b)
	}
	// Through /api/v3/query_influxql, the same error is a 422.
	code, b = s.get(t, "/api/v3/query_influxql?db=d&q="+url.QueryEscape("SELECT f1, f2 FROM m"))
	if code != 422 || !strings.Contains(string(b), `"query-memory-limit"`) {
		t.Fatalf("v3: want 422 query-memory-limit, got %d %.300s", code, b)
	}
	code, b = s.get(t, "/query?db=d&epoch=ns&q="+url.QueryEscape("SELECT f1, f2 FROM m WHERE time < 1000005000"))
	if code != 200 || strings.Count(string(b), "],[") != 4999 {
		t.Fatalf("a fifth of the rows: %d %.300s", code, b)
	}
}

// TestInfluxQLTableCopyIsCharged: InfluxDB 3's query_influxql lays the
// statements' series out again as one table, alive with them while it is
// built; that copy is charged to --query-max-memory too. At this limit
// /query answers the rows as series (about 216 bytes a row with the SQL
// answer's) but the series and the table (about 232 a row) do not fit;
// a fifth of the rows does.
func TestInfluxQLTableCopyIsCharged(t *testing.T) {
	const rows = 10_000
	s := startServerWith(t, Config{QueryMaxMemory: 224 * rows})
	var lp strings.Builder
	for i := range rows {
		lp.WriteString("m f1=" + strconv.Itoa(i) + "i,f2=" + strconv.Itoa(2*i) + "i " + strconv.Itoa(1_000_000_000+i) + "\n")
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, b := s.get(t, "/query?db=d&epoch=ns&q="+url.QueryEscape("SELECT f1, f2 FROM m"))
	if code != 200 || strings.Count(string(b), "],[") != rows-1 {
		t.Fatalf("the rows as series alone fit the limit: %d %.300s", code, b)
	}
	code, b = s.get(t, "/api/v3/query_influxql?db=d&q="+url.QueryEscape("SELECT f1, f2 FROM m"))
	if code != 422 || !strings.Contains(string(b), `"query-memory-limit"`) || !strings.Contains(string(b), "as one table") {
		t.Fatalf("series and table together: want 422 query-memory-limit naming the table, got %d %.300s", code, b)
	}
	code, b = s.get(t, "/api/v3/query_influxql?db=d&format=jsonl&q="+url.QueryEscape("SELECT f1, f2 FROM m WHERE time < 1000002000"))
	if code != 200 || strings.Count(string(b), "\n") != rows/5 {
		t.Fatalf("a fifth of the rows: %d %.300s", code, b)
	}
}

// TestInfluxQLSubqueryRowsReleased: a subquery's inner rows count against
// --query-max-memory while its outer statement runs, and stop counting
// once it is answered (the request keeps only the outer rows), so a later
// statement of the same request has the room back. At this limit the
// second statement's rows fit alone (about 176 bytes a row) but not on
// top of the first statement's inner rows (88 more).
func TestInfluxQLSubqueryRowsReleased(t *testing.T) {
	const rows = 10_000
	s := startServerWith(t, Config{QueryMaxMemory: 220 * rows})
	var lp strings.Builder
	for i := range rows {
		lp.WriteString("m f1=" + strconv.Itoa(i) + "i " + strconv.Itoa(1_000_000_000+i) + "\n")
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, b := s.get(t, "/query?db=d&epoch=ns&q="+url.QueryEscape("SELECT count(f1) FROM (SELECT f1 FROM m); SELECT f1 FROM m"))
	if code != 200 || strings.Contains(string(b), `"error"`) || strings.Count(string(b), "],[") != rows-1 ||
		!strings.Contains(string(b), `"values":[[0,10000]]`) {
		t.Fatalf("both statements: %d %.400s", code, b)
	}
}
