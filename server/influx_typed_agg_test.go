package server

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/influxql"
	"github.com/siltdb/silt/query/sql"
)

// columnsCounter is an influxBackend that counts the plans it answers as
// typed columns: a test of the typed paths must see them taken.
type columnsCounter struct {
	influxBackend
	n *int
}

func (c columnsCounter) RunColumns(ctx context.Context, db string, q *sql.Query) (*exec.Columns, bool, error) {
	cols, ok, err := c.influxBackend.RunColumns(ctx, db, q)
	if ok {
		*c.n++
	}
	return cols, ok, err
}

// TestInfluxQLTypedAggregateIsByteIdentical: /query's JSON of a GROUP BY
// time() aggregate shaped from the executor's typed columns (windows
// filled with null, or left out with fill(none)) is byte for byte what
// the row path writes, which reads the SQL answer's rows as Go values (a
// backend without RunColumns), for every aggregate, value type, epoch,
// order, cut, grouping, zone and offset, over ranges wider than the data
// (empty windows before, between and after the points), with series and
// windows whose values are all null and count()s of 0. The row path's
// answers are themselves checked against InfluxDB 1.x by
// TestInfluxQLOracle.
func TestInfluxQLTypedAggregateIsByteIdentical(t *testing.T) {
	s := startServer(t, 0)
	var lp strings.Builder
	base := int64(1_700_000_000_000_000_000)
	hosts := []string{"a", "b", `c\ d`, "é<&>"}
	for i := range 400 {
		h := hosts[i%len(hosts)]
		// Minutes 0-9 and 20-29 hold points, 10-19 none; seconds and
		// fractions vary.
		m := int64(i/4) % 20
		if m >= 10 {
			m += 10
		}
		ts := base + m*int64(time.Minute) + int64(i%7)*int64(time.Second)*7 + int64(i%3)*123_456_789
		switch i % 5 {
		case 0:
			fmt.Fprintf(&lp, "cpu,host=%s,dc=east usr=%d.25,sy=%di,ok=true %d\n", h, i, i, ts)
		case 1:
			fmt.Fprintf(&lp, "cpu,host=%s usr=%d,w=%du %d\n", h, i, i, ts) // no dc, sparse fields
		case 2:
			fmt.Fprintf(&lp, "cpu,host=%s,dc=west sy=-%di,label=\"q\" %d\n", h, i, ts)
		case 3:
			fmt.Fprintf(&lp, "cpu,host=%s,dc=west label=\"only a string\" %d\n", h, ts)
		default:
			// tiny is written with an exponent; every value is a
			// binary fraction, so that sums do not depend on the order
			// the executor adds them in.
			fmt.Fprintf(&lp, "cpu,host=%s,dc=east usr=0.75,tiny=9.313225746154785e-10,sy=%di %d\n", h, i, ts)
		}
	}
	lp.WriteString("mem,host=a used=1.5 1700000000000000000\nmem,host=b used=2,usr=7i 1700000120000000000\n")
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	ns := func(d time.Duration) int64 { return base + int64(d) }
	// From before the first point to past the last, and a range inside.
	wide := fmt.Sprintf("time >= %d AND time < %d", ns(-3*time.Minute), ns(40*time.Minute))
	inside := fmt.Sprintf("time >= %d AND time <= %d", ns(2*time.Minute+30*time.Second), ns(25*time.Minute))
	queries := []string{
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m)`,
		`SELECT max(tiny), mean(tiny), sum(tiny) FROM cpu WHERE ` + wide + ` GROUP BY time(4m)`,
		`SELECT max(usr), max(sy), min(sy), mean(usr), sum(sy), count(usr) FROM cpu WHERE host = 'a' AND ` + wide + ` GROUP BY time(1m)`,
		`SELECT mean(usr) FROM cpu WHERE ` + inside + ` GROUP BY time(1m), host`,
		`SELECT mean(usr), mean(sy), count(w), count(label), spread(sy), stddev(usr), median(sy) FROM cpu WHERE ` + wide + ` GROUP BY time(5m), dc`,
		`SELECT count(w), count(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(2m), host fill(none)`,
		`SELECT count(w) FROM cpu WHERE ` + wide + ` GROUP BY time(2m), host fill(null)`,
		`SELECT mean(w) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), dc`, // series without a w: none
		`SELECT mean(usr) * 2, max(sy) - min(sy) FROM cpu WHERE ` + inside + ` GROUP BY time(1m), host fill(none)`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), host ORDER BY time DESC`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), host LIMIT 4 OFFSET 2`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), host fill(none) ORDER BY time DESC LIMIT 3`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m) LIMIT 5`, // the SQL executor stops early: the row path
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), host SLIMIT 2 SOFFSET 1`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), host, nosuchtag`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), *`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(10m, 3m), host`,
		`SELECT mean(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1h) tz('Asia/Kolkata')`,
		`SELECT max(usr) FROM cpu WHERE usr > 50 AND ` + wide + ` GROUP BY time(1m), host`,
		`SELECT max(usr) FROM cpu, mem WHERE ` + wide + ` GROUP BY time(1m)`,
		`SELECT max(used) FROM mem WHERE ` + wide + ` GROUP BY time(1m), host`,
		`SELECT max(usr) FROM cpu WHERE host = 'nobody' AND ` + wide + ` GROUP BY time(1m)`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m); SELECT count(sy) FROM cpu WHERE ` + inside + ` GROUP BY time(3m), dc`,
		// Fills across windows, transformations of the windows, mixed
		// fields and no GROUP BY time: the row path, here to show the
		// paths meet.
		`SELECT derivative(mean(usr), 1m) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), host`,
		`SELECT moving_average(max(sy), 2), cumulative_sum(count(usr)) FROM cpu WHERE ` + wide + ` GROUP BY time(2m)`,
		`SELECT max(usr), derivative(max(usr)) FROM cpu WHERE ` + wide + ` GROUP BY time(1m)`,
		`SELECT max(usr), last(sy) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), host`,
		`SELECT mode(sy), mean(usr), count(w) FROM cpu WHERE ` + wide + ` GROUP BY time(5m), host`,
		`SELECT percentile(sy, 90) - mean(usr), count(distinct(sy)) / count(sy) FROM cpu WHERE ` + wide + ` GROUP BY time(10m), dc fill(none)`,
		`SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(1m), host fill(previous)`,
		`SELECT mean(usr) FROM cpu WHERE ` + wide + ` GROUP BY host`,
	}
	var calls int
	typed := columnsCounter{influxBackend{s: s.srv}, &calls}
	rows := struct{ influxql.Backend }{typed} // the same engine, without RunColumns
	for _, q := range queries {
		for _, epoch := range []string{"", "ns", "ms", "s"} {
			ep, err := influxql.ParseEpoch(epoch)
			if err != nil {
				t.Fatal(err)
			}
			req := influxql.Request{Query: q, Database: "d", Epoch: ep, Now: time.Unix(0, ns(time.Hour))}
			want := encodeInflux(t, rows, req)
			if again := encodeInflux(t, rows, req); !bytes.Equal(again, want) {
				// The executor adds floats in no fixed order: the data
				// must be binary fractions for answers to compare.
				t.Fatalf("%s: the row path answers\n%.3000s\nthen\n%.3000s", q, want, again)
			}
			req.TypedValues = true
			got := encodeInflux(t, typed, req)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s (epoch %q): typed answer\n%.3000s\nrow path's\n%.3000s", q, epoch, got, want)
			}
		}
	}
	// Most of the queries above are the typed path's.
	t.Logf("typed: %d of %d", calls, 4*len(queries))
	if calls < 20*4 {
		t.Fatalf("the typed path answered %d of %d queries", calls, 4*len(queries))
	}
	// --query-max-rows: the same error on both paths.
	q := `SELECT max(usr) FROM cpu WHERE ` + wide + ` GROUP BY time(10s), host`
	req := influxql.Request{Query: q, Database: "d", Epoch: influxql.Epoch{Unit: time.Nanosecond}, MaxRows: 100, Now: time.Unix(0, ns(time.Hour))}
	want := encodeInflux(t, rows, req)
	req.TypedValues = true
	if got := encodeInflux(t, typed, req); !bytes.Equal(got, want) || !bytes.Contains(want, []byte("query-max-rows")) {
		t.Fatalf("%s with 100 rows at most: typed answer\n%s\nrow path's\n%s", q, got, want)
	}
}
