package server

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
)

func TestSQLEndpoint(t *testing.T) {
	s := startServer(t, 0)
	body := "cpu,host=a v=1,n=2i 1000000000\ncpu,host=b v=3 2000000000\ncpu,host=a v=5 3000000000\n"
	if code, _, b := s.post(t, "/write?db=d", body); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	q := "SELECT host, sum(v) AS s, count(n) FROM cpu GROUP BY host ORDER BY host"
	code, raw := s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape(q))
	if code != 200 {
		t.Fatalf("%d %s", code, raw)
	}
	var res struct {
		Columns []struct{ Name, Type string }
		Rows    [][]any
		Stats   map[string]any
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Columns) != 3 || res.Columns[1].Name != "s" || res.Columns[1].Type != "float" || res.Columns[2].Type != "integer" ||
		len(res.Rows) != 2 || res.Rows[0][0] != "a" || res.Rows[0][1] != 6.0 || res.Rows[0][2] != 1.0 || res.Rows[1][2] != 0.0 ||
		res.Stats["rows"] != 2.0 {
		t.Fatalf("%s", raw)
	}
	// POST text, CSV.
	code, _, csv := s.post(t, "/api/v1/sql?db=d&format=csv", "SELECT time, v FROM cpu WHERE host = 'a' ORDER BY time")
	if want := "time,v\n1970-01-01T00:00:01Z,1\n1970-01-01T00:00:03Z,5\n"; code != 200 || string(csv) != want {
		t.Fatalf("csv %d %q", code, csv)
	}
	// POST form-encoded (curl -d 'q=...'), CSV.
	form := url.Values{"db": {"d"}, "q": {"SELECT time, v FROM cpu WHERE host = 'a' ORDER BY time"}, "format": {"csv"}}
	code, _, csv = s.post(t, "/api/v1/sql", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if want := "time,v\n1970-01-01T00:00:01Z,1\n1970-01-01T00:00:03Z,5\n"; code != 200 || string(csv) != want {
		t.Fatalf("form csv %d %q", code, csv)
	}
	// A raw SQL body under curl's default form type is SQL text.
	code, _, csv = s.post(t, "/api/v1/sql?db=d&format=csv", "SELECT count(*) AS n FROM cpu WHERE v >= 1", "Content-Type", "application/x-www-form-urlencoded")
	if want := "n\n3\n"; code != 200 || string(csv) != want {
		t.Fatalf("raw body under the form type: %d %q", code, csv)
	}
	// POST JSON, Arrow.
	code, _, arrow := s.post(t, "/api/v1/sql?format=arrow", `{"db":"d","sql":"SELECT count(*) FROM cpu"}`, "Content-Type", "application/json")
	if code != 200 {
		t.Fatalf("arrow %d %s", code, arrow)
	}
	rd, err := ipc.NewReader(bytes.NewReader(arrow))
	if err != nil {
		t.Fatal(err)
	}
	if !rd.Next() || rd.RecordBatch().NumRows() != 1 {
		t.Fatal("arrow stream has no row")
	}
	rd.Release()
	for _, c := range []struct {
		path, code string
		status     int
	}{
		{"/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT * FROM cpu, LATERAL (SELECT 1) x"), "unsupported", 400},
		{"/api/v1/sql?db=d&q=" + url.QueryEscape("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"), "query-memory-limit", 422},
		{"/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT nope FROM cpu"), "undefined_column", 400},
		{"/api/v1/sql?db=d&q=" + url.QueryEscape("SELEC 1"), "syntax", 400},
		{"/api/v1/sql?db=d", "missing-query", 400},
		{"/api/v1/sql?db=zz&q=SELECT+1", "db-not-found", 404},
		{"/api/v1/sql?db=d&q=SELECT+1&format=xml", "bad-format", 400},
	} {
		code, b := s.get(t, c.path)
		var e ErrorBody
		_ = json.Unmarshal(b, &e)
		if code != c.status || e.Code != c.code || e.Error == "" {
			t.Errorf("%s: %d %s, want %d %s", c.path, code, b, c.status, c.code)
		}
		if c.code == "unsupported" && !strings.Contains(e.Error, "LATERAL") {
			t.Errorf("unsupported error does not name the construct: %s", e.Error)
		}
	}
}

func TestSQLLimits(t *testing.T) {
	var lines strings.Builder
	for i := 0; i < 5000; i++ {
		lines.WriteString("cpu,host=h" + strconv.Itoa(i%10) + " v=1 " + strconv.Itoa(i) + "\n")
	}
	for _, c := range []struct {
		name   string
		cfg    Config
		status int
		code   string
		flag   string
	}{
		{"rows", Config{QueryMaxRows: 10}, 422, "too-many-rows", "--query-max-rows"},
		{"memory", Config{QueryMaxMemory: 1000}, 422, "query-memory-limit", "--query-max-memory"},
		{"timeout", Config{QueryTimeout: time.Nanosecond}, 503, "query-timeout", "--query-timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startServerWith(t, c.cfg)
			if code, _, b := s.post(t, "/write?db=d", lines.String()); code != 204 {
				t.Fatalf("%d %s", code, b)
			}
			code, b := s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape("SELECT time, host, v FROM cpu"))
			var e ErrorBody
			_ = json.Unmarshal(b, &e)
			if code != c.status || e.Code != c.code || !strings.Contains(e.Error, c.flag) {
				t.Fatalf("%d %s, want %d %s naming %s", code, b, c.status, c.code, c.flag)
			}
			// Within the limits the same server answers.
			if c.name != "timeout" {
				if code, b := s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape("SELECT count(*) FROM cpu WHERE time < 10")); code != 200 {
					t.Fatalf("small query: %d %s", code, b)
				}
			}
		})
	}
}

// TestSQLShowTables: SHOW TABLES answers the database's tables (the
// executor is handed their names only for the plans that answer them).
func TestSQLShowTables(t *testing.T) {
	s := startServer(t, 0)
	if code, _, b := s.post(t, "/write?db=d", "cpu v=1 1000000000\nmem v=2 1000000000\ndisk v=3 1000000000\n"); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	code, raw := s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape("SHOW TABLES"))
	if code != 200 {
		t.Fatalf("%d %s", code, raw)
	}
	var res struct{ Rows [][]any }
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, r[0].(string))
	}
	if strings.Join(got, ",") != "cpu,disk,mem" {
		t.Fatalf("SHOW TABLES: %v (%s)", got, raw)
	}
}
