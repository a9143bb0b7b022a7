package exec

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

// The relational oracle: WITH, subqueries (in FROM, scalar, IN, EXISTS),
// UNION/INTERSECT/EXCEPT, window functions, DISTINCT ON and joins, each
// compared with PostgreSQL 15 over the dialect table m (NULL tags, sparse
// fields, rewritten and late points; half in a segment, half in the head)
// and a second table ev of sparser events on the same hosts.

// eventsDataset is table ev: points every 5h31m on some of m's series and
// one of its own, a field v (float) and k (int), some missing.
func eventsDataset() []pgoracle.Point {
	r := rand.New(rand.NewPCG(7, 16))
	series := []map[string]string{
		{"host": "host_0", "dc": "a"}, {"host": "host_2", "dc": "b"}, {"host": "host_9", "dc": "z"}, {"dc": "a"}, {},
	}
	var points []pgoracle.Point
	step := 5*time.Hour + 31*time.Minute
	for n := 0; n < 300; n++ {
		t := dialectStart.Add(time.Duration(n) * step).UnixNano()
		for si, tags := range series {
			if (n+si)%7 == 3 {
				continue
			}
			f := map[string]any{}
			if r.IntN(5) != 0 {
				f["v"] = float64(r.IntN(2000)) / 8
			}
			if r.IntN(4) != 0 || len(f) == 0 {
				f["k"] = int64(r.IntN(9))
			}
			points = append(points, pgoracle.Point{Time: t, Tags: tags, Fields: f})
		}
	}
	return points
}

func relationalCases() []oracleCase {
	var cs []oracleCase
	add := func(s string) { cs = append(cs, oracleCase{silt: s}) }

	// WITH
	add("WITH h AS (SELECT host, count(*) AS n, avg(f) AS a FROM m GROUP BY host) SELECT * FROM h ORDER BY host")
	add("WITH h AS (SELECT host, sum(i) AS s FROM m GROUP BY host) SELECT host, s / 2 AS half, s FROM h WHERE s > 1000 ORDER BY 1")
	add("WITH a AS (SELECT time, host, f FROM m WHERE f > 50), b AS (SELECT host, count(*) AS n FROM a GROUP BY host) SELECT * FROM b ORDER BY n DESC, host")
	add("WITH x(h, c) AS (SELECT host, count(*) FROM m GROUP BY host) SELECT h, c FROM x ORDER BY h")
	add("WITH d AS (SELECT date_trunc('month', time) AS mo, max(f) AS mx FROM m GROUP BY 1) SELECT mo, mx, mx - (SELECT min(mx) FROM d) AS above FROM d ORDER BY mo")
	add("WITH t AS (SELECT * FROM m WHERE host = 'host_1') SELECT count(*), count(i), sum(i), min(time), max(time) FROM t")
	add("WITH t AS (SELECT host, dc, i FROM m WHERE i IS NOT NULL) SELECT dc, host, max(i) FROM t GROUP BY dc, host ORDER BY dc, host")
	add("WITH t AS (SELECT time, i FROM m WHERE host = 'host_0') SELECT date_bin('1 day', time, TIMESTAMP '2025-01-01') AS d, sum(i) FROM t GROUP BY 1 ORDER BY 1 LIMIT 10")
	add("WITH a AS (SELECT host FROM m GROUP BY host), b AS (SELECT * FROM a WHERE host IS NOT NULL) SELECT count(*) FROM b")
	add("WITH t AS (SELECT s, count(*) AS n FROM m GROUP BY s) SELECT upper(s), n FROM t ORDER BY s NULLS FIRST")
	// subqueries in FROM
	add("SELECT host, n FROM (SELECT host, count(*) AS n FROM m GROUP BY host) AS x ORDER BY host")
	add("SELECT x.host, x.mx FROM (SELECT host, max(f) AS mx FROM m GROUP BY host) x WHERE x.mx > 100 ORDER BY x.host")
	add("SELECT avg(n) FROM (SELECT dc, count(*) AS n FROM m GROUP BY dc) t")
	add("SELECT * FROM (SELECT time, host, i FROM m WHERE i > 190) t ORDER BY time, host LIMIT 15")
	add("SELECT d, count(*) FROM (SELECT time::date AS d FROM m WHERE b) t GROUP BY d ORDER BY d LIMIT 20")
	add("SELECT sum(x) FROM (SELECT i * 2 AS x FROM m) AS t")
	add("SELECT * FROM (SELECT host, dc FROM m GROUP BY host, dc) t(h, d) ORDER BY h, d")
	// scalar subqueries
	add("SELECT time, host, f FROM m WHERE f = (SELECT max(f) FROM m)")
	add("SELECT time, host, i FROM m WHERE i > (SELECT avg(i) FROM m) + 100 ORDER BY time, host, dc")
	add("SELECT host, count(*), (SELECT count(*) FROM m) AS total FROM m GROUP BY host ORDER BY host")
	add("SELECT (SELECT max(time) FROM m) AS last, (SELECT min(time) FROM ev) AS first")
	add("SELECT time, host, dc FROM m WHERE time > (SELECT max(time) FROM m) - interval '3 days' ORDER BY time, host, dc")
	add("SELECT host, max(f) FROM m GROUP BY host HAVING max(f) > (SELECT avg(f) FROM m) ORDER BY host")
	add("SELECT (SELECT f FROM m WHERE f > 1000) AS none")
	add("SELECT (SELECT i FROM m WHERE i IS NOT NULL ORDER BY time, host, dc LIMIT 1) AS first_i")
	add("SELECT (SELECT host FROM m GROUP BY host) AS more_than_one_row")
	// IN, NOT IN, EXISTS
	add("SELECT time, host, v FROM ev WHERE host IN (SELECT host FROM m WHERE i > 195) ORDER BY time, host")
	add("SELECT time, host, k FROM ev WHERE k NOT IN (SELECT i FROM m WHERE i BETWEEN 0 AND 4) ORDER BY time, host, dc")
	add("SELECT time, host, k FROM ev WHERE k NOT IN (SELECT i FROM m WHERE i < 3) ORDER BY time, host, dc")
	add("SELECT host, count(*) FROM m WHERE dc IN (SELECT dc FROM ev WHERE v > 240) GROUP BY host ORDER BY host")
	add("SELECT count(*) FROM m WHERE EXISTS (SELECT 1 FROM ev WHERE v > 249)")
	add("SELECT count(*) FROM m WHERE NOT EXISTS (SELECT 1 FROM ev WHERE v > 1000)")
	add("SELECT time, host, f FROM m WHERE f IN (SELECT v FROM ev) ORDER BY time, host, dc")
	add("SELECT host, i IN (SELECT k FROM ev) AS hit FROM m WHERE time < TIMESTAMPTZ '2025-11-20 00:00:00+00' ORDER BY time, host, dc")
	// set operations
	add("SELECT host FROM m UNION SELECT host FROM ev ORDER BY 1")
	add("SELECT host, dc FROM m UNION ALL SELECT host, dc FROM ev ORDER BY host, dc LIMIT 40")
	add("SELECT count(*) FROM (SELECT host, dc FROM m UNION ALL SELECT host, dc FROM ev) t")
	add("SELECT host FROM m INTERSECT SELECT host FROM ev ORDER BY host")
	add("SELECT host FROM m EXCEPT SELECT host FROM ev ORDER BY host")
	add("SELECT dc FROM ev EXCEPT SELECT dc FROM m ORDER BY dc")
	add("SELECT i FROM m WHERE i < 0 INTERSECT ALL SELECT k - 5 FROM ev ORDER BY 1")
	add("SELECT k FROM ev EXCEPT ALL SELECT i FROM m WHERE i < 5 ORDER BY 1")
	add("SELECT i FROM m WHERE i > 195 UNION SELECT v FROM ev WHERE v > 245 ORDER BY 1")
	add("SELECT 'm' AS src, count(*) FROM m UNION ALL SELECT 'ev', count(*) FROM ev ORDER BY src")
	add("SELECT host, time FROM m WHERE i = 200 UNION SELECT host, time FROM ev WHERE k = 8 AND v > 240 EXCEPT SELECT host, time FROM m WHERE dc = 'a' ORDER BY 2, 1")
	add("(SELECT host FROM m ORDER BY host LIMIT 2) UNION ALL (SELECT dc FROM m ORDER BY dc DESC LIMIT 2) ORDER BY 1")
	add("WITH u AS (SELECT time, f AS x FROM m WHERE host = 'host_0' UNION ALL SELECT time, v FROM ev WHERE host = 'host_0') SELECT date_trunc('month', time) AS mo, count(x), round(avg(x)::numeric, 6) FROM u GROUP BY 1 ORDER BY 1")
	// window functions
	const w = " FROM m WHERE host = 'host_1' ORDER BY time"
	add("SELECT time, i, row_number() OVER (ORDER BY time) AS rn" + w)
	add("SELECT time, host, i, row_number() OVER (PARTITION BY host, dc ORDER BY time) AS rn FROM m ORDER BY host, dc, time")
	add("SELECT time, i, lag(i) OVER (ORDER BY time) AS prev, lead(i) OVER (ORDER BY time) AS next" + w)
	add("SELECT time, i, lag(i, 2, -1) OVER (ORDER BY time) AS p2, lead(f, 3) OVER (ORDER BY time) AS n3" + w)
	add("SELECT time, f, f - lag(f) OVER (ORDER BY time) AS delta" + w)
	add("SELECT time, i, sum(i) OVER (ORDER BY time) AS running" + w)
	add("SELECT time, f, avg(f) OVER (ORDER BY time ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS mavg" + w)
	add("SELECT time, f, avg(f) OVER (ORDER BY time ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS centered" + w)
	add("SELECT time, i, min(i) OVER (ORDER BY time ROWS 3 PRECEDING) AS lo, max(i) OVER (ORDER BY time ROWS BETWEEN CURRENT ROW AND 3 FOLLOWING) AS hi" + w)
	add("SELECT time, i, count(i) OVER (ORDER BY time ROWS BETWEEN 5 PRECEDING AND 1 PRECEDING) AS c, count(*) OVER (ORDER BY time ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS rest" + w)
	add("SELECT time, i, sum(i) OVER () AS total, sum(i) OVER (ORDER BY time ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS remaining" + w)
	add("SELECT time, f, first_value(f) OVER (ORDER BY time) AS fv, last_value(f) OVER (ORDER BY time) AS lv" + w)
	add("SELECT time, f, first_value(f) OVER (ORDER BY time ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS fv, last_value(f) OVER (ORDER BY time ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS lv" + w)
	add("SELECT time, host, dc, i, rank() OVER (PARTITION BY dc ORDER BY i DESC) AS r, dense_rank() OVER (PARTITION BY dc ORDER BY i DESC) AS dr FROM m WHERE time < TIMESTAMPTZ '2025-12-01 00:00:00+00' ORDER BY dc, r, time, host")
	add("SELECT time, host, dc, b, rank() OVER (PARTITION BY host ORDER BY b) AS r, percent_rank() OVER (PARTITION BY host ORDER BY b) AS pr, cume_dist() OVER (PARTITION BY host ORDER BY b) AS cd FROM m WHERE time < TIMESTAMPTZ '2025-11-25 00:00:00+00' ORDER BY host, time, dc")
	add("SELECT time, i, ntile(4) OVER (ORDER BY time) AS q" + w)
	add("SELECT host, sum(i) AS s, rank() OVER (ORDER BY sum(i) DESC) AS r FROM m GROUP BY host ORDER BY r, host")
	add("SELECT dc, host, count(*) AS n, sum(count(*)) OVER (PARTITION BY dc) AS dc_total FROM m GROUP BY dc, host ORDER BY dc, host")
	add("SELECT date_trunc('week', time) AS wk, avg(f) AS a, avg(avg(f)) OVER (ORDER BY date_trunc('week', time) ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS ma FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT time, host, dc, f, sum(f) OVER (PARTITION BY host, dc ORDER BY time RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run FROM m WHERE time < TIMESTAMPTZ '2025-11-20 00:00:00+00' ORDER BY host, dc, time")
	add("SELECT time, b, count(*) OVER (ORDER BY b) AS peers_incl FROM m WHERE host = 'host_2' ORDER BY time")
	add("SELECT time, host, dc, i FROM (SELECT time, host, dc, i, row_number() OVER (PARTITION BY host ORDER BY i DESC NULLS LAST, time) AS rn FROM m) t WHERE rn <= 2 ORDER BY host, rn")
	add("SELECT time, i, (i - avg(i) OVER (ORDER BY time ROWS BETWEEN 3 PRECEDING AND 3 FOLLOWING)) AS dev" + w)
	add("SELECT time, f, lag(f) OVER (ORDER BY time) IS NULL AS first_row, f > lag(f) OVER (ORDER BY time) AS up" + w)
	add("SELECT host, time, i, max(i) OVER (PARTITION BY host) AS hmax FROM m WHERE i > 190 ORDER BY host, time, dc")
	add("SELECT time, s, min(s) OVER (ORDER BY time ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS ms, max(time) OVER (ORDER BY time ROWS BETWEEN 1 FOLLOWING AND 1 FOLLOWING) AS nt" + w)
	add("SELECT time, i, row_number() OVER (ORDER BY time DESC) AS rd" + w + " LIMIT 10")
	// DISTINCT ON
	add("SELECT DISTINCT ON (host) host, time, f FROM m ORDER BY host, time DESC")
	add("SELECT DISTINCT ON (host, dc) host, dc, time, i FROM m WHERE i IS NOT NULL ORDER BY host, dc, i DESC, time")
	add("SELECT DISTINCT ON (dc) dc, host, f FROM m WHERE f IS NOT NULL ORDER BY dc, f, time, host")
	add("SELECT DISTINCT ON (date_trunc('month', time)) date_trunc('month', time) AS mo, time, host, i FROM m WHERE i IS NOT NULL ORDER BY date_trunc('month', time), i DESC, time, host, dc")
	add("SELECT DISTINCT ON (1) host, time FROM m ORDER BY 1, 2")
	// joins
	add("SELECT m.time, m.host, m.f, ev.v FROM m JOIN ev ON m.host = ev.host AND m.time = ev.time ORDER BY m.time, m.host")
	add("SELECT count(*) FROM m JOIN ev ON m.host = ev.host")
	add("SELECT m.host, count(*), sum(ev.k) FROM m JOIN ev USING (host) GROUP BY m.host ORDER BY 1")
	add("SELECT host, count(*) FROM m JOIN ev USING (host, dc) GROUP BY host ORDER BY host")
	add("SELECT a.host, a.n, b.n AS evn FROM (SELECT host, count(*) AS n FROM m GROUP BY host) a LEFT JOIN (SELECT host, count(*) AS n FROM ev GROUP BY host) b ON a.host = b.host ORDER BY a.host")
	add("SELECT a.host, b.host AS bhost, a.n, b.n FROM (SELECT host, count(*) AS n FROM m GROUP BY host) a RIGHT JOIN (SELECT host, count(*) AS n FROM ev GROUP BY host) b ON a.host = b.host ORDER BY b.host, a.host")
	add("SELECT host, a.n, b.n FROM (SELECT host, count(*) AS n FROM m GROUP BY host) a FULL JOIN (SELECT host, count(*) AS n FROM ev GROUP BY host) b USING (host) ORDER BY host, a.n, b.n")
	add("SELECT * FROM (SELECT dc, count(*) AS n FROM m GROUP BY dc) a FULL OUTER JOIN (SELECT dc, sum(k) AS k FROM ev GROUP BY dc) b USING (dc) ORDER BY dc, n, k")
	add("SELECT a.dc, b.dc FROM (SELECT DISTINCT dc FROM m) a CROSS JOIN (SELECT DISTINCT dc FROM ev) b ORDER BY 1, 2")
	add("SELECT a.dc, b.dc FROM (SELECT DISTINCT dc FROM m) a, (SELECT DISTINCT dc FROM ev) b WHERE a.dc < b.dc ORDER BY 1, 2")
	add("SELECT m.time, m.host, ev.time AS et FROM m JOIN ev ON m.host = ev.host AND ev.time BETWEEN m.time AND m.time + interval '2 hours' ORDER BY 1, 2, 3")
	add("SELECT m.time, m.host, ev.v FROM m LEFT JOIN ev ON m.host = ev.host AND m.time = ev.time AND ev.v > 100 WHERE m.host = 'host_2' ORDER BY m.time")
	add("SELECT a.bucket, a.host, a.f, b.v FROM (SELECT date_trunc('day', time) AS bucket, host, avg(f) AS f FROM m GROUP BY 1, 2) a JOIN (SELECT date_trunc('day', time) AS bucket, host, avg(v) AS v FROM ev GROUP BY 1, 2) b ON a.bucket = b.bucket AND a.host = b.host ORDER BY 1, 2")
	add("SELECT a.bucket, a.host, a.f, b.v FROM (SELECT date_trunc('day', time) AS bucket, host, avg(f) AS f FROM m GROUP BY 1, 2) a LEFT JOIN (SELECT date_trunc('day', time) AS bucket, host, avg(v) AS v FROM ev GROUP BY 1, 2) b USING (bucket, host) WHERE a.host = 'host_2' ORDER BY 1, 2")
	add("SELECT x.host, y.host, x.i, y.i FROM m x JOIN m y ON x.time = y.time AND x.host < y.host AND x.i = y.i ORDER BY x.time, 1, 2")
	add("WITH e AS (SELECT host, max(v) AS mv FROM ev GROUP BY host) SELECT m.host, count(*) FROM m JOIN e ON m.host = e.host AND m.f < e.mv / 2 GROUP BY m.host ORDER BY 1")
	add("SELECT ev.host, ev.k, m.i FROM ev LEFT JOIN m ON ev.k = m.i AND ev.time = m.time AND ev.host = m.host WHERE ev.host = 'host_0' ORDER BY ev.time")
	add("SELECT count(*), count(ev.v) FROM m LEFT JOIN ev ON m.time = ev.time AND m.host = ev.host")
	add("SELECT m.host, ev.host FROM m NATURAL JOIN ev ORDER BY 1 LIMIT 5")
	add("SELECT m.time, m.host, m.i, ev.k FROM m JOIN ev ON m.host = ev.host AND m.time = ev.time WHERE m.time > TIMESTAMPTZ '2025-12-20 00:00:00+00' AND ev.k > 3 AND m.dc = 'a' ORDER BY 1, 2")
	add("SELECT m.time, m.host FROM m LEFT JOIN ev ON m.host = ev.host AND m.time = ev.time WHERE ev.time IS NULL AND m.host = 'host_0' AND m.time < TIMESTAMPTZ '2025-12-01 00:00:00+00' ORDER BY 1")
	add("SELECT ev.time, ev.host, m.i FROM m RIGHT JOIN ev ON m.host = ev.host AND m.time = ev.time WHERE ev.time BETWEEN '2025-12-01T00:00:00Z' AND '2025-12-05T00:00:00Z' ORDER BY 1, 2, 3")
	add("SELECT a.host, b.dc, count(*) FROM m a, ev b WHERE a.host = b.host AND a.time = b.time AND b.v > 100 GROUP BY 1, 2 ORDER BY 1, 2")
	add("SELECT count(*) FROM m WHERE host IN (SELECT host FROM m UNION ALL SELECT 'x' || i::text FROM m WHERE i < 30)")
	add("SELECT count(*) FROM m WHERE s NOT IN (SELECT 'x' || i::text FROM m WHERE i < 30 UNION SELECT 'Alpha')")
	add("SELECT count(*) FROM m WHERE i IN (SELECT k * 7 FROM ev UNION SELECT i FROM m WHERE i > 180)")
	// Grafana's PostgreSQL macros, as they expand
	add("SELECT floor(extract(epoch from time)/3600)*3600 AS \"time\", avg(f) AS value FROM m WHERE time BETWEEN '2025-11-20T00:00:00Z' AND '2025-12-20T00:00:00Z' GROUP BY 1 ORDER BY 1")
	add("SELECT floor(extract(epoch from time)/86400)*86400 AS \"time\", host AS metric, max(i) FROM m WHERE time >= to_timestamp(1763596800) AND time <= to_timestamp(1766188800) GROUP BY 1, 2 ORDER BY 1, 2")
	add("SELECT to_timestamp(floor(extract(epoch from time)/21600)*21600) AS time, count(*) FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT extract(epoch from time) AS time, f FROM m WHERE host = 'host_0' AND time BETWEEN '2025-11-20T00:00:00Z' AND '2025-11-28T00:00:00Z' ORDER BY 1")
	add("SELECT floor(extract(epoch from time)/600)*600 AS \"time\", avg(f) FROM m WHERE time >= '2025-11-20T00:00:00Z' GROUP BY 1 ORDER BY 1 LIMIT 30")
	return cs
}

// TestRelationalAgainstPostgres runs the relational cases over an
// engine whose tables are half in segments, half in the head.
func TestRelationalAgainstPostgres(t *testing.T) {
	o, eng := relationalFixture(t)
	var tl tally
	for _, c := range relationalCases() {
		check(t, o, eng, c, &tl)
	}
	r := rand.New(rand.NewPCG(16, 17))
	for range 40 {
		check(t, o, eng, randomRelationalCase(r), &tl)
	}
	t.Logf("relational oracle: %d queries run, %d passed, %d rejected by the front end, %d errors on both sides",
		tl.run, tl.passed, tl.rejected, tl.errorsAgreed)
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
}

// randomRelationalCase draws a window function over a random partition,
// order and frame, or a set operation or join over random filters.
func randomRelationalCase(r *rand.Rand) oracleCase {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	switch r.IntN(3) {
	case 0:
		fn := pick("sum(i)", "avg(f)", "min(f)", "max(i)", "count(f)", "count(*)", "first_value(i)", "last_value(f)", "max(s)", "min(time)")
		part := pick("", "PARTITION BY host ", "PARTITION BY dc ", "PARTITION BY host, dc ", "PARTITION BY b ")
		bound := func() string {
			return pick("UNBOUNDED PRECEDING", "CURRENT ROW", fmt.Sprintf("%d PRECEDING", r.IntN(5)), fmt.Sprintf("%d FOLLOWING", r.IntN(5)))
		}
		var frame string
		switch r.IntN(4) {
		case 0:
		case 1:
			frame = " ROWS BETWEEN UNBOUNDED PRECEDING AND " + pick("CURRENT ROW", "UNBOUNDED FOLLOWING", "2 FOLLOWING")
		default:
			a, b := bound(), pick("CURRENT ROW", "UNBOUNDED FOLLOWING", fmt.Sprintf("%d FOLLOWING", r.IntN(5)))
			if strings.HasSuffix(a, "FOLLOWING") {
				b = "UNBOUNDED FOLLOWING"
			}
			frame = " ROWS BETWEEN " + a + " AND " + b
		}
		where := pick("time < TIMESTAMPTZ '2025-12-01 00:00:00+00'", "i > 100", "host IS NOT NULL AND time < TIMESTAMPTZ '2025-12-10 00:00:00+00'", "b")
		return oracleCase{silt: fmt.Sprintf("SELECT time, host, dc, %s OVER (%sORDER BY time, host, dc%s) AS w FROM m WHERE %s ORDER BY time, host, dc", fn, part, frame, where)}
	case 1:
		op := pick("UNION", "UNION ALL", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL")
		a := pick("i", "i % 7", "k")
		la := strings.Replace(a, "k", "i % 9", 1)
		ra := strings.Replace(a, "i", "k", 1)
		return oracleCase{silt: fmt.Sprintf("SELECT host, %s AS x FROM m WHERE i < %d %s SELECT host, %s FROM ev WHERE k > %d ORDER BY 1, 2", la, r.IntN(100), op, ra, r.IntN(6))}
	}
	kind := pick("JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN")
	on := pick("a.host = b.host", "a.host = b.host AND a.d = b.d", "a.d = b.d AND a.x < b.x", "a.dc = b.dc AND a.d = b.d")
	return oracleCase{silt: fmt.Sprintf("SELECT a.host, a.dc, a.d, a.x, b.host, b.d, b.x FROM (SELECT host, dc, date_trunc('week', time) AS d, max(i) AS x FROM m WHERE i > %d GROUP BY 1, 2, 3) a %s (SELECT host, dc, date_trunc('week', time) AS d, sum(k) AS x FROM ev GROUP BY 1, 2, 3) b ON %s ORDER BY 1, 2, 3, 4, 5, 6, 7",
		r.IntN(150), kind, on)}
}

// TestRelationalMemoryLimit checks that joins, windows and CTEs stop at
// the query memory limit with ErrMemoryLimit.
func TestRelationalMemoryLimit(t *testing.T) {
	eng := loadEngine(t, dialectTable, dialectDataset())
	schemas, _ := eng.Tables(testDB)
	cat, names := Catalog(schemas)
	for _, text := range []string{
		"SELECT count(*) FROM m a CROSS JOIN m b",
		"SELECT count(*) FROM m a JOIN m b ON a.dc = b.dc",
		"WITH x AS (SELECT * FROM m) SELECT count(*) FROM x a, x b WHERE a.i = b.i",
		"SELECT time, sum(f) OVER (ORDER BY time) FROM m",
	} {
		q, err := sql.Compile(text, cat, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		_, err = RunLimited(context.Background(), q, EngineSource{Engine: eng, DB: testDB}, names, Limits{MaxMemoryBytes: 200 << 10})
		if !errors.Is(err, ErrMemoryLimit) {
			t.Errorf("%s under a 200 KiB limit: %v, want the memory limit", text, err)
		}
		if !strings.Contains(text, "OVER") {
			continue
		}
		if _, err := RunLimited(context.Background(), q, EngineSource{Engine: eng, DB: testDB}, names, Limits{MaxMemoryBytes: 64 << 20}); err != nil {
			t.Errorf("%s under 64 MiB: %v", text, err)
		}
	}
}

// grafanaMacro expands the Grafana PostgreSQL data source's macros the
// way its query editor sends them (plain PostgreSQL, or TimescaleDB's
// time_bucket when pg is false and timescale is set), for a dashboard
// range from..to.
func grafanaMacro(text string, from, to time.Time, timescale bool) string {
	group := func(col, iv string) string {
		d, _ := time.ParseDuration(strings.Trim(iv, "' "))
		if timescale {
			return fmt.Sprintf("time_bucket('%.3fs',%s)", d.Seconds(), col)
		}
		return fmt.Sprintf("floor(extract(epoch from %s)/%v)*%v", col, d.Seconds(), d.Seconds())
	}
	r := strings.NewReplacer(
		"$__timeFilter(time)", fmt.Sprintf("time BETWEEN '%s' AND '%s'", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano)),
		"$__timeFrom()", "'"+from.UTC().Format(time.RFC3339Nano)+"'",
		"$__timeTo()", "'"+to.UTC().Format(time.RFC3339Nano)+"'",
		"$__timeEpoch(time)", `extract(epoch from time) as "time"`,
		"$__time(time)", `time AS "time"`,
		"$__timeGroupAlias(time,'5m')", group("time", "5m")+` AS "time"`,
		"$__timeGroupAlias(time,'1h')", group("time", "1h")+` AS "time"`,
		"$__timeGroupAlias(time,'6h')", group("time", "6h")+` AS "time"`,
		"$__timeGroup(time,'1h')", group("time", "1h"),
		"$__timeGroup(time,'30s')", group("time", "30s"),
		"$__timeGroup(time,'6h')", group("time", "6h"),
	)
	return r.Replace(text)
}

// TestGrafanaMacrosAgainstPostgres runs the query shapes Grafana's
// PostgreSQL data source builds (its macros expanded as it expands them)
// against PostgreSQL; TimescaleDB's time_bucket form is compared with
// PostgreSQL's date_bin, which buckets the same.
func TestGrafanaMacrosAgainstPostgres(t *testing.T) {
	o := pgoracle.Start(t)
	points := dialectDataset()
	eng := loadEngine(t, dialectTable, points)
	loadOracle(t, o, eng, dialectTable, points)
	from, to := time.Date(2025, 11, 20, 3, 17, 0, 0, time.UTC), time.Date(2025, 12, 24, 0, 0, 0, 0, time.UTC)
	queries := []string{
		`SELECT $__timeGroupAlias(time,'5m'), avg(f) AS "f" FROM m WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`,
		`SELECT $__timeGroupAlias(time,'1h'), host AS metric, max(i) AS "max" FROM m WHERE $__timeFilter(time) GROUP BY 1, 2 ORDER BY 1, 2`,
		`SELECT $__timeGroup(time,'1h'), count(*) FROM m WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`,
		`SELECT $__timeGroup(time,'6h') AS time, dc, sum(i) FROM m WHERE $__timeFilter(time) AND dc IS NOT NULL GROUP BY 1, dc ORDER BY 1, dc`,
		`SELECT $__timeGroup(time,'30s') AS "time", avg(f) FROM m WHERE $__timeFilter(time) AND host = 'host_0' GROUP BY time ORDER BY 1`,
		`SELECT $__timeEpoch(time), f FROM m WHERE $__timeFilter(time) AND host = 'host_1' ORDER BY 1`,
		`SELECT $__time(time), host, i FROM m WHERE time >= $__timeFrom() AND time < $__timeTo() AND i > 150 ORDER BY 1, 2, dc`,
		`SELECT $__timeGroupAlias(time,'1h'), avg(f) - lag(avg(f)) OVER (ORDER BY $__timeGroup(time,'1h')) AS delta FROM m WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`,
		`SELECT $__timeGroupAlias(time,'1h'), sum(count(*)) OVER (ORDER BY $__timeGroup(time,'1h')) AS cumulative FROM m WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`,
		`SELECT "time", host AS metric, v FROM (SELECT $__timeGroupAlias(time,'6h'), host, avg(f) AS v FROM m WHERE $__timeFilter(time) GROUP BY 1, 2) t WHERE host IS NOT NULL ORDER BY 1, 2`,
		`WITH b AS (SELECT $__timeGroupAlias(time,'1h'), max(f) AS v FROM m WHERE $__timeFilter(time) GROUP BY 1) SELECT "time", v, avg(v) OVER (ORDER BY "time" ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) AS smooth FROM b ORDER BY 1`,
	}
	var tl tally
	for _, q := range queries {
		check(t, o, eng, oracleCase{silt: grafanaMacro(q, from, to, false)}, &tl)
	}
	for _, q := range []string{
		`SELECT $__timeGroupAlias(time,'5m'), avg(f) AS "f" FROM m WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`,
		`SELECT $__timeGroupAlias(time,'1h'), host, count(*) FROM m WHERE $__timeFilter(time) GROUP BY 1, 2 ORDER BY 1, 2`,
	} {
		silt := grafanaMacro(q, from, to, true)
		pg := strings.NewReplacer("time_bucket('300.000s',time)", "date_bin('300 seconds', time, TIMESTAMPTZ '1970-01-01 00:00:00+00')",
			"time_bucket('3600.000s',time)", "date_bin('3600 seconds', time, TIMESTAMPTZ '1970-01-01 00:00:00+00')").Replace(silt)
		check(t, o, eng, oracleCase{silt: silt, pg: pg}, &tl)
	}
	t.Logf("grafana macro oracle: %d queries run, %d passed, %d rejected by the front end", tl.run, tl.passed, tl.rejected)
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
}

// relationalFixture starts PostgreSQL and an engine holding the dialect
// table m and the events table ev, ev half in segments and half in the
// head, and loads both tables into PostgreSQL too.
func relationalFixture(t *testing.T) (*pgoracle.Oracle, *engine.Engine) {
	o := pgoracle.Start(t)
	points := dialectDataset()
	eng := loadEngine(t, dialectTable, points)
	events := eventsDataset()
	writeLP(t, eng, "ev", events[:len(events)/2])
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	writeLP(t, eng, "ev", events[len(events)/2:])
	loadOracle(t, o, eng, dialectTable, points)
	loadOracle(t, o, eng, "ev", events)
	return o, eng
}
