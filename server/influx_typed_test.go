package server

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/query/influxql"
)

// TestInfluxQLTypedAnswerIsByteIdentical: /query's JSON of a raw SELECT,
// grouped, ordered and encoded from the executor's typed columns, is
// byte for byte what the row path writes, which reads the SQL answer's
// rows as Go values (a backend without RunColumns), for every kind of
// value, epoch, order, cut and grouping. The row path's answers are
// themselves checked against InfluxDB 1.x by TestInfluxQLOracle.
func TestInfluxQLTypedAnswerIsByteIdentical(t *testing.T) {
	s := startServer(t, 0)
	var lp strings.Builder
	base := int64(1_700_000_000_000_000_000)
	hosts := []string{"a", "b", `c\ d`, "é<&>", "z"}
	for i := range 300 {
		h := hosts[i%len(hosts)]
		// Three points per time (ties among series); fractions of a
		// second of every length.
		ts := base + int64(i/3)*int64(time.Second) + []int64{0, 120_000_000, 123_456_789, 5, 100_000_001, 999_999_999}[i/3%6]
		switch i % 4 {
		case 0:
			fmt.Fprintf(&lp, "cpu,host=%s,dc=east usr=%d.25,sy=%di,ok=true,label=\"n%d\" %d\n", h, i, i, i, ts)
		case 1:
			fmt.Fprintf(&lp, "cpu,host=%s usr=%d,w=%du %d\n", h, i, i, ts) // no dc, sparse fields
		case 2:
			fmt.Fprintf(&lp, "cpu,host=%s,dc=west sy=-%di,label=\"q\\\"<x>\" %d\n", h, i, ts)
		default:
			fmt.Fprintf(&lp, "cpu,host=%s,dc=east usr=1e-7,sy=%di %d\n", h, i, ts)
		}
	}
	lp.WriteString("mem,host=a used=1.5 1700000000000000000\nmem,host=b used=2,usr=7i 1700000000000000000\n")
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	lo, hi := base, base+60*int64(time.Second)
	window := fmt.Sprintf("time >= %d AND time < %d", lo, hi)
	queries := []string{
		`SELECT * FROM cpu`,
		`SELECT * FROM cpu WHERE usr > 10 AND ` + window,
		`SELECT * FROM cpu GROUP BY host`,
		`SELECT * FROM cpu GROUP BY *`,
		`SELECT usr, sy, label FROM cpu GROUP BY dc`,
		`SELECT usr, sy FROM cpu GROUP BY host, nosuchtag ORDER BY time DESC LIMIT 3 OFFSET 1`,
		`SELECT usr, sy FROM cpu GROUP BY host SLIMIT 2 SOFFSET 1`,
		`SELECT usr * 2, sy / 4, sy + 1, usr - sy, label, ok, w FROM cpu WHERE host = 'b'`,
		`SELECT usr, nope, 3 FROM cpu WHERE ` + window + ` ORDER BY time DESC`,
		`SELECT host, usr FROM cpu WHERE host =~ /^[ab]/`,
		`SELECT /^(sy|usr)$/ FROM cpu WHERE dc = 'east' AND ` + window,
		`SELECT * FROM cpu, mem`,
		`SELECT * FROM /.*/ WHERE host = 'a' GROUP BY host`,
		`SELECT usr FROM cpu WHERE host = 'z' LIMIT 5`,
		`SELECT usr FROM cpu WHERE ` + window + ` tz('Europe/Paris')`,
		`SELECT usr FROM cpu; SELECT sy FROM cpu GROUP BY host`,
		// The newest point and last() of each group (TSBS lastpoint,
		// Grafana's stat panels), by a tag every series has and by one
		// some series lack (their group's tag is "").
		`SELECT * FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1`,
		`SELECT * FROM cpu GROUP BY dc ORDER BY time DESC LIMIT 1`,
		`SELECT last(*) FROM cpu GROUP BY host`,
		`SELECT last(usr) FROM cpu WHERE ` + window + ` GROUP BY dc`,
	}
	typed := influxBackend{s: s.srv}
	rows := struct{ influxql.Backend }{typed} // the same engine, without RunColumns
	for _, q := range queries {
		for _, epoch := range []string{"", "ns", "ms", "s", "h"} {
			ep, err := influxql.ParseEpoch(epoch)
			if err != nil {
				t.Fatal(err)
			}
			req := influxql.Request{Query: q, Database: "d", Epoch: ep, Now: time.Unix(0, hi)}
			want := encodeInflux(t, rows, req)
			req.TypedValues = true
			got := encodeInflux(t, typed, req)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s (epoch %q): typed answer\n%.2000s\nrow path's\n%.2000s", q, epoch, got, want)
			}
			if !bytes.Contains(want, []byte(`"values"`)) {
				t.Fatalf("%s (epoch %q): no values: %.500s", q, epoch, want)
			}
		}
	}
}

func encodeInflux(t *testing.T, b influxql.Backend, req influxql.Request) []byte {
	t.Helper()
	resp, err := influxql.Execute(context.Background(), b, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Query, err)
	}
	var buf bytes.Buffer
	if err := writeInfluxJSON(&buf, resp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
