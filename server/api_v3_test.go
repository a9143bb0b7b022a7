package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// v1SQL runs q over /api/v1/sql: the answer the v3 endpoints are
// compared with.
func v1SQL(t *testing.T, ts *testServer, db, q string) ([]string, [][]any) {
	t.Helper()
	code, body := ts.get(t, "/api/v1/sql?db="+db+"&q="+url.QueryEscape(q))
	if code != 200 {
		t.Fatalf("/api/v1/sql %q: %d %s", q, code, body)
	}
	var res struct {
		Columns []struct{ Name string }
		Rows    [][]any
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range res.Columns {
		cols = append(cols, c.Name)
	}
	return cols, res.Rows
}

func (s *testServer) send(t *testing.T, method, path, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, b.Bytes()
}

func TestV3WriteLP(t *testing.T) {
	ts := startServer(t, 0)
	// precision auto: each timestamp's unit from its magnitude.
	code, _, body := ts.post(t, "/api/v3/write_lp?db=w", strings.Join([]string{
		"m,k=s v=1 1700000000",
		"m,k=ms v=2 1700000000001",
		"m,k=us v=3 1700000000000002",
		"m,k=ns v=4 1700000000000000003",
	}, "\n"))
	if code != 204 {
		t.Fatalf("write: %d %s", code, body)
	}
	_, rows := v1SQL(t, ts, "w", "SELECT k, time FROM m ORDER BY k")
	want := map[string]string{"ms": "2023-11-14T22:13:20.001Z", "ns": "2023-11-14T22:13:20.000000003Z",
		"s": "2023-11-14T22:13:20Z", "us": "2023-11-14T22:13:20.000002Z"}
	for _, r := range rows {
		if want[r[0].(string)] != r[1] {
			t.Errorf("precision auto: %v, want %s", r, want[r[0].(string)])
		}
	}
	if len(rows) != 4 {
		t.Fatalf("rows %v", rows)
	}
	// An explicit precision and no_sync (accepted; Silt fsyncs anyway).
	if code, _, body := ts.post(t, "/api/v3/write_lp?db=w&precision=second&no_sync=true", "p v=1 1700000000"); code != 204 {
		t.Fatalf("precision=second: %d %s", code, body)
	}
	if _, rows := v1SQL(t, ts, "w", "SELECT time FROM p"); len(rows) != 1 || rows[0][0] != "2023-11-14T22:13:20Z" {
		t.Fatalf("precision=second: %v", rows)
	}

	// accept_partial (default true): the good lines are written, the bad
	// ones listed with their text, as InfluxDB 3 answers.
	code, _, body = ts.post(t, "/api/v3/write_lp?db=w", "q v=1 1\nq v=oops 2\nq v=\"str\" 3\nq v=4 4")
	var partial struct {
		Error string
		Code  string
		Data  []struct {
			OriginalLine string `json:"original_line"`
			LineNumber   int    `json:"line_number"`
			ErrorMessage string `json:"error_message"`
		}
	}
	if err := json.Unmarshal(body, &partial); code != 400 || err != nil {
		t.Fatalf("partial: %d %s", code, body)
	}
	if partial.Error != msgPartialWrite || len(partial.Data) != 2 || partial.Data[0].LineNumber != 2 ||
		partial.Data[0].OriginalLine != "q v=oops 2" || partial.Data[1].LineNumber != 3 || partial.Data[1].ErrorMessage == "" {
		t.Fatalf("partial: %s", body)
	}
	if _, rows := v1SQL(t, ts, "w", "SELECT v FROM q ORDER BY time"); len(rows) != 2 {
		t.Fatalf("partial write stored %v", rows)
	}

	// accept_partial=false: one bad line, nothing written, for a line
	// that does not parse and for one whose type conflicts with the table.
	for _, lp := range []string{"r v=1 1\nr v=oops 2", "q v=5 5\nq v=\"text\" 6", "n v=1i 1\nn v=2 2"} {
		code, _, body = ts.post(t, "/api/v3/write_lp?db=w&accept_partial=false", lp)
		if code != 400 || !strings.Contains(string(body), msgParseFailed) || !strings.Contains(string(body), `"line_number":2`) {
			t.Fatalf("accept_partial=false %q: %d %s", lp, code, body)
		}
	}
	if _, rows := v1SQL(t, ts, "w", "SELECT v FROM q"); len(rows) != 2 {
		t.Fatalf("accept_partial=false wrote: %v", rows)
	}
	if _, ok := ts.eng.Tables("w"); !ok {
		t.Fatal("db w")
	}
	if tables, _ := ts.eng.Tables("w"); tables["r"] != nil || tables["n"] != nil {
		t.Fatal("accept_partial=false created a table")
	}

	// Bad requests: each with a clear error.
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/v3/write_lp?db=w", "use POST"},
		{"POST", "/api/v3/write_lp", "db parameter"},
		{"POST", "/api/v3/write_lp?db=w&precision=weeks", "unknown precision"},
		{"POST", "/api/v3/write_lp?db=w&accept_partial=maybe", "accept_partial must be"},
		{"POST", "/api/v3/write_lp?db=w&no_sync=1", "no_sync must be"},
	} {
		code, _, body := ts.send(t, tc.method, tc.path, "x v=1")
		if code < 400 || code >= 500 || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
}

const v3Data = `cpu,host=a,region=eu usage=1.5,n=1i 1700000000000000000
cpu,host=b,region=us usage=2.5,n=2i 1700000001000000000
cpu,host=a,region=eu usage=3.5 1700000002000000000
mem,host=a free=10i 1700000000000000000
`

func TestV3QuerySQLFormats(t *testing.T) {
	ts := startServer(t, 0)
	if code, _, body := ts.post(t, "/api/v3/write_lp?db=q", v3Data); code != 204 {
		t.Fatalf("write: %d %s", code, body)
	}
	const q = "SELECT time, host, region, usage, n FROM cpu ORDER BY time"
	cols, rows := v1SQL(t, ts, "q", q)

	// json (GET and POST): one object a row, NULLs left out.
	for _, get := range []bool{true, false} {
		var code int
		var body []byte
		if get {
			code, body = ts.get(t, "/api/v3/query_sql?db=q&q="+url.QueryEscape(q))
		} else {
			b, _ := json.Marshal(map[string]string{"db": "q", "q": q, "format": "json"})
			code, _, body = ts.post(t, "/api/v3/query_sql", string(b), "Content-Type", "application/json")
		}
		var objs []map[string]any
		if err := json.Unmarshal(body, &objs); code != 200 || err != nil {
			t.Fatalf("json: %d %s", code, body)
		}
		if len(objs) != len(rows) {
			t.Fatalf("json rows %d, want %d", len(objs), len(rows))
		}
		for i, r := range rows {
			for j, c := range cols {
				v, ok := objs[i][c]
				if r[j] == nil {
					if ok {
						t.Errorf("row %d: NULL %s written as %v", i, c, v)
					}
					continue
				}
				if v != r[j] {
					t.Errorf("row %d %s: %v, /api/v1/sql %v", i, c, v, r[j])
				}
			}
		}
	}

	// jsonl: the same objects, one a line.
	code, hdr, body := ts.send(t, "GET", "/api/v3/query_sql?db=q&format=jsonl&q="+url.QueryEscape(q), "")
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if code != 200 || len(lines) != len(rows) || hdr.Get("Content-Type") != "application/jsonl" {
		t.Fatalf("jsonl: %d %v %s", code, hdr, body)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first["host"] != rows[0][1] {
		t.Fatalf("jsonl line: %s", lines[0])
	}

	// csv: a header and the rows; also asked for by Accept.
	code, _, body = ts.send(t, "GET", "/api/v3/query_sql?db=q&q="+url.QueryEscape(q), "", "Accept", "text/csv")
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(recs) != len(rows)+1 || strings.Join(recs[0], ",") != strings.Join(cols, ",") {
		t.Fatalf("csv: %d %v %s", code, err, body)
	}

	// pretty: a framed table with every value.
	code, body = ts.get(t, "/api/v3/query_sql?db=q&format=pretty&q="+url.QueryEscape(q))
	if code != 200 || !strings.HasPrefix(string(body), "+--") || strings.Count(string(body), "\n") != len(rows)+4 ||
		!strings.Contains(string(body), "| 2023-11-14T22:13:21Z | b    | us     | 2.5   | 2 |") {
		t.Fatalf("pretty: %d\n%s", code, body)
	}

	// parquet: a file with the same rows.
	code, body = ts.get(t, "/api/v3/query_sql?db=q&format=parquet&q="+url.QueryEscape(q))
	if code != 200 {
		t.Fatalf("parquet: %d %s", code, body)
	}
	pr, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
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
	if tbl.NumRows() != int64(len(rows)) || int(tbl.NumCols()) != len(cols) || tbl.Schema().Field(3).Name != "usage" {
		t.Fatalf("parquet: %d rows %d cols %v", tbl.NumRows(), tbl.NumCols(), tbl.Schema())
	}
	usage := tbl.Column(3).Data().Chunk(0)
	if usage.ValueStr(1) != "2.5" || !tbl.Column(4).Data().Chunk(0).IsNull(2) {
		t.Fatalf("parquet values: %v %v", usage, tbl.Column(4).Data().Chunk(0))
	}

	// Bad input, each with a clear error and status.
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/api/v3/query_sql?db=q", "", 400, "q parameter"},
		{"GET", "/api/v3/query_sql?q=SELECT+1", "", 400, "db parameter"},
		{"GET", "/api/v3/query_sql?db=nope&q=SELECT+1", "", 404, "does not exist"},
		{"GET", "/api/v3/query_sql?db=q&q=SELEC", "", 400, "syntax"},
		{"GET", "/api/v3/query_sql?db=q&q=SELECT+*+FROM+cpu&format=xml", "", 400, "format must be"},
		{"GET", `/api/v3/query_sql?db=q&q=SELECT+*+FROM+cpu+WHERE+host=$h&params={"a":1}`, "", 400, "no value for parameter $h"},
		{"GET", `/api/v3/query_sql?db=q&q=SELECT+*+FROM+cpu&params=[1]`, "", 400, "params must be a JSON object"},
		{"POST", "/api/v3/query_sql", `{"db": "q", "q": "SELECT $a", "params": {"a": [1]}}`, 400, "not a string, number"},
		{"POST", "/api/v3/query_influxql", `{"db": "q", "q": "SELECT usage FROM cpu WHERE host = $h", "params": {"x": 1}}`, 400, "missing parameter: h"},
		{"POST", "/api/v3/query_sql", `{"db": "q", "q": `, 400, "request body"},
		{"DELETE", "/api/v3/query_sql?db=q&q=SELECT+1", "", 405, "GET or POST"},
	} {
		code, _, body := ts.send(t, tc.method, tc.path, tc.body)
		if code != tc.status || !strings.Contains(string(body), tc.want) || !strings.Contains(string(body), `"code"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
}

func TestV3QueryInfluxQL(t *testing.T) {
	ts := startServer(t, 0)
	if code, _, body := ts.post(t, "/api/v3/write_lp?db=iq", v3Data); code != 204 {
		t.Fatalf("write: %d %s", code, body)
	}
	code, body := ts.get(t, "/api/v3/query_influxql?db=iq&q="+url.QueryEscape("SELECT usage, n FROM cpu GROUP BY host"))
	var objs []map[string]any
	if err := json.Unmarshal(body, &objs); code != 200 || err != nil {
		t.Fatalf("%d %s", code, body)
	}
	// One table: iox::measurement, time, the tags, the fields; a row a
	// point, as InfluxDB 3 answers InfluxQL.
	if len(objs) != 3 {
		t.Fatalf("rows: %s", body)
	}
	for _, o := range objs {
		if o[MeasurementColumn] != "cpu" || o["host"] == nil || o["time"] == nil || o["usage"] == nil {
			t.Fatalf("row %v", o)
		}
	}
	if objs[0]["host"] != "a" || objs[0]["n"] != 1.0 || objs[1]["host"] != "a" || objs[1]["n"] != nil || objs[2]["host"] != "b" {
		t.Fatalf("rows: %s", body)
	}
	// SHOW and a database named in the statement, without db.
	b, _ := json.Marshal(map[string]string{"q": "SHOW MEASUREMENTS ON iq", "format": "csv"})
	code, _, body = ts.post(t, "/api/v3/query_influxql", string(b), "Content-Type", "application/json")
	if code != 200 || !strings.Contains(string(body), "iox::measurement,name") || !strings.Contains(string(body), "measurements,mem") {
		t.Fatalf("SHOW MEASUREMENTS: %d %s", code, body)
	}
	// Only reads: a statement that changes data is refused, and runs not.
	b, _ = json.Marshal(map[string]string{"db": "iq", "q": "DROP MEASUREMENT cpu"})
	code, _, body = ts.post(t, "/api/v3/query_influxql", string(b), "Content-Type", "application/json")
	if code != 400 || !strings.Contains(string(body), "POST /query") {
		t.Fatalf("DROP: %d %s", code, body)
	}
	if tables, _ := ts.eng.Tables("iq"); tables["cpu"] == nil {
		t.Fatal("DROP ran")
	}
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/v3/query_influxql?db=iq&q=SELEKT", 400, "error parsing query"},
		{"/api/v3/query_influxql?db=nope&q=SELECT+*+FROM+cpu", 404, "database not found"},
		{"/api/v3/query_influxql?db=iq", 400, "q parameter"},
	} {
		code, body := ts.get(t, tc.path)
		if code != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s", tc.path, code, body)
		}
	}
}

func TestV3ConfigureDatabase(t *testing.T) {
	ts := startServer(t, 0)
	list := func() []string {
		code, body := ts.get(t, "/api/v3/configure/database?format=json")
		var objs []map[string]string
		if err := json.Unmarshal(body, &objs); code != 200 || err != nil {
			t.Fatalf("list: %d %s", code, body)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o["iox::database"])
		}
		return out
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("fresh server lists %v", got)
	}
	if code, _, body := ts.post(t, "/api/v3/configure/database", `{"db":"one"}`, "Content-Type", "application/json"); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, _, body := ts.post(t, "/api/v3/configure/database", `{"db":"one"}`); code != 409 || !strings.Contains(string(body), "already exists") {
		t.Fatalf("create again: %d %s", code, body)
	}
	ts.post(t, "/api/v3/write_lp?db=two", "m v=1")
	if got := strings.Join(list(), ","); got != "one,two" {
		t.Fatalf("list %s", got)
	}
	if code, _, body := ts.send(t, "DELETE", "/api/v3/configure/database?db=two", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if got := strings.Join(list(), ","); got != "one" {
		t.Fatalf("after delete: %s", got)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"DELETE", "/api/v3/configure/database?db=two", "", 404, "does not exist"},
		{"DELETE", "/api/v3/configure/database", "", 400, "db parameter"},
		{"POST", "/api/v3/configure/database", `{"name":"x"}`, 400, "database name is required"},
		{"POST", "/api/v3/configure/database", `{`, 400, "request body"},
		{"PUT", "/api/v3/configure/database", ``, 405, "use GET"},
		{"GET", "/api/v3/configure/database?format=yaml", ``, 400, "format must be"},
	} {
		code, _, body := ts.send(t, tc.method, tc.path, tc.body)
		if code != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
	// With auth on, dropping needs the admin scope.
	ta := startServerWith(t, Config{Tokens: []Token{{Name: "w", Secret: "wsecret", Read: true, Write: true}}})
	ta.post(t, "/api/v3/write_lp?db=keep", "m v=1", "Authorization", "Bearer wsecret")
	if code, _, body := ta.send(t, "DELETE", "/api/v3/configure/database?db=keep", "", "Authorization", "Bearer wsecret"); code != 403 {
		t.Fatalf("delete with a write token: %d %s", code, body)
	}
}
