package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/influxoracle"
)

// TestInfluxQLTypedAggregateOracle asks InfluxDB 1.x and Silt the GROUP BY
// time() shapes the typed path (aggregateTyped) answers — fill(null) and
// fill(none), count()s of sparse fields, integer, boolean and string
// fields, windows before, between and after the points, a last window
// partly in range, several series and a series without the tag, DESC,
// LIMIT/OFFSET, SLIMIT/SOFFSET, tz(), epochs and bound parameters — each
// three times, so that the plan cache's kept conditions answer too.
func TestInfluxQLTypedAggregateOracle(t *testing.T) {
	infl := influxoracle.Start(t)
	silt := startServer(t, 0)
	// The same points, their first part flushed into segments with 1m
	// and 1h rollups, the rest in the head: windows read from both.
	split := startServerEngine(t, Config{}, engine.Config{Rollups: engine.RollupConfig{MinRowsPerWindow: 1}})
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var lp strings.Builder
	hosts := []string{"a", "b", ""}
	for i := range 120 {
		h := hosts[i%3]
		tag := ""
		if h != "" {
			tag = ",host=" + h
		}
		// Minutes 0-19 and 40-59 hold points; 20-39 none.
		m := (i / 3) % 40
		if m >= 20 {
			m += 20
		}
		ts := base.Add(time.Duration(m)*time.Minute + time.Duration(i%4)*13*time.Second).UnixNano()
		switch i % 4 {
		case 0:
			fmt.Fprintf(&lp, "m%s f=%d.5,n=%di,ok=true %d\n", tag, i, i, ts)
		case 1:
			fmt.Fprintf(&lp, "m%s n=-%di,s=\"x%d\" %d\n", tag, i, i, ts)
		case 2:
			fmt.Fprintf(&lp, "m%s f=%d.25,ok=false %d\n", tag, i, ts)
		default:
			fmt.Fprintf(&lp, "m%s s=\"only\" %d\n", tag, ts)
		}
	}
	write := func(u, body string) {
		resp, err := http.Post(u+"/write?db=tdb&precision=ns", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("write to %s: %s %s", u, resp.Status, b)
		}
	}
	for _, u := range []string{infl.URL, silt.url, split.url} {
		postQuery(t, u, "", `CREATE DATABASE "tdb"`)
	}
	write(infl.URL, lp.String())
	write(silt.url, lp.String())
	lines := strings.SplitAfter(lp.String(), "\n")
	write(split.url, strings.Join(lines[:2*len(lines)/3], ""))
	if err := split.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	write(split.url, strings.Join(lines[2*len(lines)/3:], ""))
	at := func(d time.Duration) string { return base.Add(d).Format(time.RFC3339Nano) }
	wide := fmt.Sprintf("time >= '%s' AND time < '%s'", at(-7*time.Minute), at(75*time.Minute))
	// The last 10m window is partly in range; the first starts before it.
	part := fmt.Sprintf("time >= '%s' AND time <= '%s'", at(3*time.Minute+30*time.Second), at(44*time.Minute))
	ms := fmt.Sprintf("time >= %dms AND time < %dms", base.Add(-2*time.Minute).UnixMilli(), base.Add(62*time.Minute).UnixMilli())
	queries := []string{
		`SELECT count(f), count(n), count(s), count(ok) FROM m WHERE ` + wide + ` GROUP BY time(5m)`,
		`SELECT count(f), count(s) FROM m WHERE ` + wide + ` GROUP BY time(5m), host fill(none)`,
		`SELECT count(s) FROM m WHERE ` + wide + ` GROUP BY time(5m), host fill(null)`,
		`SELECT max(n), min(n), sum(n), mean(n), spread(n) FROM m WHERE ` + part + ` GROUP BY time(10m), host`,
		`SELECT max(f), count(ok) FROM m WHERE ` + part + ` GROUP BY time(10m) fill(none)`,
		`SELECT mean(f) FROM m WHERE ` + wide + ` GROUP BY time(5m), host ORDER BY time DESC`,
		`SELECT mean(f), count(n) FROM m WHERE ` + wide + ` GROUP BY time(5m), host ORDER BY time DESC LIMIT 3 OFFSET 2`,
		`SELECT mean(f) FROM m WHERE ` + wide + ` GROUP BY time(5m), host fill(none) ORDER BY time DESC LIMIT 2 OFFSET 1`,
		`SELECT max(n) FROM m WHERE ` + wide + ` GROUP BY time(5m), host SLIMIT 1 SOFFSET 1`,
		`SELECT max(n) FROM m WHERE ` + wide + ` GROUP BY time(5m), host ORDER BY time DESC SLIMIT 2`,
		`SELECT sum(f) FROM m WHERE ` + wide + ` GROUP BY time(15m), * fill(none)`,
		`SELECT mean(f) FROM m WHERE ` + wide + ` GROUP BY time(1h) tz('Asia/Kolkata')`,
		`SELECT count(n) FROM m WHERE ` + wide + ` GROUP BY time(20m), host tz('America/New_York')`,
		`SELECT max(f) FROM m WHERE ` + ms + ` GROUP BY time(10m, 3m)`,
		`SELECT max(f) FROM m WHERE host = 'a' AND ` + ms + ` GROUP BY time(10m)`,
		`SELECT count(f) FROM m WHERE host = 'nobody' AND ` + ms + ` GROUP BY time(10m)`,
		`SELECT mean(f) FROM m WHERE n > 10 AND ` + wide + ` GROUP BY time(10m), host`,
		`SELECT count(*) FROM m WHERE ` + wide + ` GROUP BY time(5m), host`,
		`SELECT count(*) FROM m WHERE ` + part + ` GROUP BY time(10m) fill(none)`,
		`SELECT first(s), last(ok), last(n), first(f) FROM m WHERE ` + wide + ` GROUP BY time(5m), host`,
		`SELECT first(s), last(ok) FROM m WHERE ` + wide + ` GROUP BY time(5m) fill(none) ORDER BY time DESC`,
		`SELECT mean(f) FROM m WHERE ` + wide + ` GROUP BY time(5m) fill(none) LIMIT 3 OFFSET 2`,
		`SELECT max(n) FROM m WHERE ` + wide + ` GROUP BY time(10m, -3m), host fill(none) SLIMIT 2`,
		`SELECT sum(n) FROM /^m$/ WHERE ` + wide + ` GROUP BY time(1d) tz('Europe/London')`,
		// Times without a zone, read in the statement's tz() (the plan
		// cache keeps the condition reduced in it).
		`SELECT count(n) FROM m WHERE time >= '2024-03-01 05:20:00' AND time < '2024-03-01 06:40:00' GROUP BY time(10m) tz('Asia/Kolkata')`,
		`SELECT count(n) FROM m WHERE time >= '2024-03-01 05:20:00' AND time < '2024-03-01 06:40:00' GROUP BY time(10m)`,
		`SELECT max(f) FROM m WHERE ` + wide + ` GROUP BY time(5m), host fill(null); SELECT count(s) FROM m WHERE ` + part + ` GROUP BY time(7m) fill(none)`,
	}
	for i, q := range queries {
		for _, epoch := range []string{"", "ms", "s", "u", "h"} {
			t.Run(fmt.Sprintf("%02d/%s", i, epoch), func(t *testing.T) {
				compareOracle(t, infl.URL, silt.url, url.Values{"db": {"tdb"}}, epoch, q)
				compareOracle(t, infl.URL, split.url, url.Values{"db": {"tdb"}}, epoch, q)
			})
		}
	}
	// Grafana's bound parameters: the same statement text with other
	// values, each after the other's plans are kept.
	bound := `SELECT mean(f), count(n) FROM m WHERE host = $h AND time >= $from AND time <= $to GROUP BY time(5m) fill(null)`
	for i, p := range []string{
		fmt.Sprintf(`{"h":"a","from":%q,"to":%q}`, at(0), at(30*time.Minute)),
		fmt.Sprintf(`{"h":"b","from":%q,"to":%q}`, at(10*time.Minute), at(60*time.Minute)),
		fmt.Sprintf(`{"h":"a","from":%q,"to":%q}`, at(40*time.Minute), at(50*time.Minute)),
	} {
		t.Run(fmt.Sprintf("params/%d", i), func(t *testing.T) {
			compareOracle(t, infl.URL, silt.url, url.Values{"db": {"tdb"}, "params": {p}}, "", bound)
			compareOracle(t, infl.URL, split.url, url.Values{"db": {"tdb"}, "params": {p}}, "", bound)
		})
	}
}

// compareOracle asks InfluxDB q once and Silt three times (the plan
// cache's first, kept and reused plans): every answer must be InfluxDB's.
func compareOracle(t *testing.T, influxURL, siltURL string, params url.Values, epoch, q string) {
	t.Helper()
	if epoch != "" {
		params.Set("epoch", epoch)
	}
	wantCode, want := getQuery(t, influxURL, params, q)
	for again := 1; again <= 3; again++ {
		code, got := getQuery(t, siltURL, params, q)
		if code != wantCode {
			t.Fatalf("%s (time %d): status InfluxDB %d, Silt %d\ninflux: %s\nsilt:   %s", q, again, wantCode, code, want, got)
		}
		if err := sameJSON(want, got, false); err != nil {
			t.Fatalf("%s (epoch %q, time %d)\n%v\ninflux: %s\nsilt:   %s", q, epoch, again, err, trunc(want), trunc(got))
		}
	}
}
