package flightsql

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/InfluxCommunity/influxdb3-go/v2/influxdb3"

	"github.com/siltdb/silt/server"
)

// The Go InfluxDB 3 client writes (HTTP, /api/v3/write_lp) and queries
// (Flight, its JSON ticket) on one address, with SQL and InfluxQL.
func TestInfluxDB3Client(t *testing.T) {
	e := startEnv(t, server.Config{Tokens: []server.Token{{Name: "rw", Secret: "rwsecret", Read: true, Write: true}}}, Config{BatchRows: 2})
	c, err := influxdb3.New(influxdb3.ClientConfig{Host: e.http, Token: "rwsecret", Database: testDB})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Write(ctx, []byte(testData)); err != nil {
		t.Fatal(err)
	}
	p := influxdb3.NewPointWithMeasurement("mem").SetTag("host", "b").SetIntegerField("free", 20).SetTimestamp(time.Unix(1700000001, 0))
	if err := c.WritePoints(ctx, []*influxdb3.Point{p}); err != nil {
		t.Fatal(err)
	}
	// A bad line: the client reports Silt's reason for it.
	err = c.Write(ctx, []byte("cpu,host=c usage=1 1700000003000000000\ncpu,host=c usage=oops 1700000004000000000"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad line: %v", err)
	}

	// SQL over Flight answers what /api/v1/sql answers.
	const q = "SELECT time, host, usage, n FROM cpu ORDER BY time"
	_, want := e.sqlRows(t, testDB, q, "Authorization", "Bearer rwsecret")
	it, err := c.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for it.Next() {
		v := it.Value()
		row := []string{}
		for _, k := range []string{"time", "host", "usage", "n"} {
			switch x := v[k].(type) {
			case nil:
				row = append(row, "NULL")
			case time.Time:
				row = append(row, x.UTC().Format(time.RFC3339Nano))
			default:
				row = append(row, fmt.Sprint(x))
			}
		}
		got = append(got, row)
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("SQL over Flight %v\n/api/v1/sql %v", got, want)
	}

	// The column-type metadata lets the client tell tags from fields.
	pv, err := c.QueryPointValue(ctx, "SELECT time, host, usage FROM cpu WHERE host = 'b'")
	if err != nil {
		t.Fatal(err)
	}
	point, err := pv.Next()
	if err != nil {
		t.Fatal(err)
	}
	if host, ok := point.GetTag("host"); !ok || host != "b" || point.GetDoubleField("usage") == nil || *point.GetDoubleField("usage") != 2.5 || point.Timestamp.Unix() != 1700000001 {
		t.Fatalf("point values: %+v %v", point, err)
	}

	// InfluxQL over Flight: a row a point, with its measurement.
	it, err = c.Query(ctx, "SELECT free FROM mem GROUP BY host", influxdb3.WithQueryType(influxdb3.InfluxQL))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for it.Next() {
		v := it.Value()
		rows = append(rows, fmt.Sprintf("%v/%v/%v", v["iox::measurement"], v["host"], v["free"]))
	}
	if it.Err() != nil || strings.Join(rows, ",") != "mem/a/10,mem/b/20" {
		t.Fatalf("InfluxQL over Flight: %v %v", rows, it.Err())
	}

	// Parameters, as the client sends them in its ticket ("params"):
	// each answer is that of the query with the values written in.
	rowsOf := func(it *influxdb3.QueryIterator, err error, cols []string) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for it.Next() {
			v := it.Value()
			for _, k := range cols {
				out = append(out, fmt.Sprint(v[k]))
			}
			out = append(out, ";")
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
		return strings.Join(out, " ")
	}
	for _, pc := range []struct {
		q, lit string
		params influxdb3.QueryParameters
		lang   influxdb3.QueryType
		cols   []string
	}{
		{"SELECT time, host, usage FROM cpu WHERE host = $host AND usage > $min ORDER BY time",
			"SELECT time, host, usage FROM cpu WHERE host = 'a' AND usage > 2 ORDER BY time",
			influxdb3.QueryParameters{"host": "a", "min": 2}, influxdb3.SQL, []string{"time", "host", "usage"}},
		{"SELECT host, n FROM cpu WHERE ok = $ok AND usage < $max AND note <> $note ORDER BY host",
			"SELECT host, n FROM cpu WHERE ok = true AND usage < 3.25 AND note <> 'it''s' ORDER BY host",
			influxdb3.QueryParameters{"ok": true, "max": 3.25, "note": "it's"}, influxdb3.SQL, []string{"host", "n"}},
		{"SELECT usage FROM cpu WHERE host = $host AND usage >= $min",
			"SELECT usage FROM cpu WHERE host = 'a' AND usage >= 1.5",
			influxdb3.QueryParameters{"host": "a", "min": 1.5}, influxdb3.InfluxQL, []string{"iox::measurement", "time", "usage"}},
	} {
		it, err := c.QueryWithParameters(ctx, pc.q, pc.params, influxdb3.WithQueryType(pc.lang))
		got := rowsOf(it, err, pc.cols)
		it, err = c.Query(ctx, pc.lit, influxdb3.WithQueryType(pc.lang))
		want := rowsOf(it, err, pc.cols)
		if got != want || want == "" {
			t.Errorf("%s with %v: %s\nwritten in: %s", pc.q, pc.params, got, want)
		}
	}
	if _, err := c.QueryWithParameters(ctx, "SELECT * FROM cpu WHERE host = $nosuch", influxdb3.QueryParameters{"host": "a"}); err == nil || !strings.Contains(err.Error(), "$nosuch") {
		t.Fatalf("a parameter without a value: %v", err)
	}

	// Errors reach the client with their reason.
	if _, err := c.Query(ctx, "SELEC nonsense"); err == nil || !strings.Contains(err.Error(), "syntax") {
		t.Fatalf("bad SQL: %v", err)
	}
	if _, err := c.Query(ctx, "SELECT 1", influxdb3.WithDatabase("nope")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unknown database: %v", err)
	}
}
