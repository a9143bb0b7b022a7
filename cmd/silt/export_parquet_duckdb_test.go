package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSQLExportParquetReadByDuckDB: /api/v1/sql?format=parquet answers a
// Parquet file that DuckDB reads back with the same rows, values and
// types as the JSON answer of the same query: every field type, NULLs,
// tags, nanosecond timestamps, strings with quotes and non-ASCII
// letters, and an answer large enough to be streamed in several row
// groups.
func TestSQLExportParquetReadByDuckDB(t *testing.T) {
	skipShort(t)
	d := needDuckDB(t)
	h := newHarness(t)
	p := h.start(t.TempDir(), "--pg-addr", "", "--flight-addr", "")
	const t0 = int64(1700000000123456789)
	lp := fmt.Sprintf(`m,host=a f=1.5,i=-3i,u=7u,b=true,s="x,\"y\"" %d
m,host=b f=2.25,i=4i,u=18446744073709551615u,b=false,s="ünï" %d
m,host=a f=-0.1,s="only s" %d
`, t0, t0+1, t0+2)
	var big strings.Builder
	const bigRows = 70_000 // past a 64k-row batch: two row groups, and streamed (> streamRows)
	for i := 0; i < bigRows; i++ {
		fmt.Fprintf(&big, "big,host=h%d v=%di %d\n", i%5, i, t0+int64(i)*1e6)
	}
	for _, body := range []string{lp, big.String()} {
		if code, b, _, err := p.write("db", []byte(body)); err != nil || code != 204 {
			t.Fatalf("write: %d %s %v", code, b, err)
		}
	}
	dir := t.TempDir()
	fetchAt := func(path, q, format string) []byte {
		t.Helper()
		code, body, hdr, err := p.do("GET", path+"?db=db&format="+format+"&q="+url.QueryEscape(q), nil)
		if err != nil || code != 200 {
			t.Fatalf("%s as %s: %d %.300s %v", q, format, code, body, err)
		}
		if format == "parquet" && hdr.Get("Content-Type") != "application/vnd.apache.parquet" {
			t.Fatalf("Content-Type %q", hdr.Get("Content-Type"))
		}
		return body
	}
	fetch := func(q, format string) []byte { return fetchAt("/api/v1/sql", q, format) }
	save := func(name string, b []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return sqlString(f)
	}

	// Types: as DuckDB sees them.
	q := "SELECT time, host, f, i, u, b, s FROM m ORDER BY time"
	small := save("m.parquet", fetch(q, "parquet"))
	wantTypes := map[string]string{"time": "TIMESTAMP_NS", "host": "VARCHAR", "f": "DOUBLE", "i": "BIGINT",
		"u": "UBIGINT", "b": "BOOLEAN", "s": "VARCHAR"}
	for _, r := range d.query("DESCRIBE SELECT * FROM read_parquet(" + small + ")") {
		name, typ := jsonString(t, r["column_name"], "name"), jsonString(t, r["column_type"], "type")
		if wantTypes[name] != typ {
			t.Errorf("column %s is %s in DuckDB, want %s", name, typ, wantTypes[name])
		}
		delete(wantTypes, name)
	}
	if len(wantTypes) != 0 {
		t.Errorf("columns missing in the Parquet file: %v", wantTypes)
	}

	// Values: DuckDB's rows against the JSON answer's, cell by cell.
	var ans struct {
		Rows [][]any
	}
	dec := json.NewDecoder(strings.NewReader(string(fetch(q, "json"))))
	dec.UseNumber()
	if err := dec.Decode(&ans); err != nil || len(ans.Rows) != 3 {
		t.Fatalf("JSON answer: %v %v", ans, err)
	}
	got := d.query("SELECT epoch_ns(time)::VARCHAR AS t, host, f, i::VARCHAR AS i, u::VARCHAR AS u, b, s FROM read_parquet(" + small + ") ORDER BY time")
	if len(got) != 3 {
		t.Fatalf("DuckDB read %d rows, want 3: %v", len(got), got)
	}
	cell := func(v any) string {
		switch x := v.(type) {
		case nil:
			return "NULL"
		case json.Number:
			if f, err := x.Float64(); err == nil && strings.ContainsAny(x.String(), ".eE") {
				return strconv.FormatFloat(f, 'g', -1, 64)
			}
			return x.String()
		}
		return fmt.Sprint(v)
	}
	for i, row := range ans.Rows {
		ts, err := time.Parse(time.RFC3339Nano, row[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{strconv.FormatInt(ts.UnixNano(), 10), cell(row[1]), cell(row[2]), cell(row[3]), cell(row[4]), cell(row[5]), cell(row[6])}
		g := got[i]
		have := []string{cell(g["t"]), cell(g["host"]), cell(g["f"]), cell(g["i"]), cell(g["u"]), cell(g["b"]), cell(g["s"])}
		if strings.Join(want, "|") != strings.Join(have, "|") {
			t.Errorf("row %d: DuckDB %q, JSON %q", i, have, want)
		}
	}
	if ns := jsonInt(t, got[1]["t"], "t"); ns != t0+1 {
		t.Errorf("second row at %d ns, want %d: nanoseconds lost", ns, t0+1)
	}

	// InfluxDB 3's /api/v3/query_sql?format=parquet writes the same
	// file: time as TIMESTAMP_NS (Arrow's Timestamp(ns) without a zone,
	// as InfluxDB 3 types it), every nanosecond kept.
	v3 := save("v3.parquet", fetchAt("/api/v3/query_sql", q, "parquet"))
	for _, r := range d.query("DESCRIBE SELECT time FROM read_parquet(" + v3 + ")") {
		if typ := jsonString(t, r["column_type"], "type"); typ != "TIMESTAMP_NS" {
			t.Errorf("/api/v3/query_sql Parquet: time is %s in DuckDB, want TIMESTAMP_NS", typ)
		}
	}
	var v3ns []string
	for _, r := range d.query("SELECT epoch_ns(time)::VARCHAR AS t FROM read_parquet(" + v3 + ") ORDER BY time") {
		v3ns = append(v3ns, cell(r["t"]))
	}
	if want := []string{strconv.FormatInt(t0, 10), strconv.FormatInt(t0+1, 10), strconv.FormatInt(t0+2, 10)}; strings.Join(v3ns, ",") != strings.Join(want, ",") {
		t.Errorf("/api/v3/query_sql Parquet times in DuckDB: %v, want %v", v3ns, want)
	}

	// A streamed answer in several row groups: nothing lost or doubled.
	bigFile := save("big.parquet", fetch("SELECT time, host, v FROM big", "parquet"))
	agg := d.query("SELECT count(*) AS n, sum(v)::VARCHAR AS s, count(DISTINCT host) AS h, min(epoch_ns(time))::VARCHAR AS t0 FROM read_parquet(" + bigFile + ")")[0]
	wantSum := int64(bigRows) * (bigRows - 1) / 2
	if n, s, hosts := jsonInt(t, agg["n"], "n"), jsonInt(t, agg["s"], "s"), jsonInt(t, agg["h"], "h"); n != bigRows || s != wantSum || hosts != 5 {
		t.Errorf("DuckDB over the big export: %d rows, sum %d, %d hosts; want %d, %d, 5", n, s, hosts, bigRows, wantSum)
	}
	if first := jsonInt(t, agg["t0"], "t0"); first != t0 {
		t.Errorf("first time %d, want %d", first, t0)
	}
	groups := d.query("SELECT count(DISTINCT row_group_id) AS g FROM parquet_metadata(" + bigFile + ")")[0]
	if g := jsonInt(t, groups["g"], "g"); g < 2 {
		t.Errorf("%d row groups for %d rows, want a group per 64k-row batch", g, bigRows)
	}
}
