package exec

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/siltdb/silt/query/sql"
)

// The construct oracle: more cases for the constructs the dialect and
// relational oracles have few of — percentile_disc and percentile_cont,
// mode(), nth_value, lead/lag with offsets and defaults, the ranking
// functions, ROWS frames, DISTINCT ON, aggregate FILTER, joins of the two
// tables on tags and time buckets, set operations, string and time
// functions — each compared with PostgreSQL 15 on the relational fixture
// (table m with NULL tags, sparse fields, rewritten and late points, half
// in a segment and half in the head; table ev of sparser events).
func constructCases() []oracleCase {
	var cs []oracleCase
	add := func(s string) { cs = append(cs, oracleCase{silt: s}) }
	const order = " ORDER BY time, host, dc"
	win := func(sel string) { add("SELECT time, host, dc, " + sel + " FROM m" + order) }

	// percentile_disc and percentile_cont
	add("SELECT host, percentile_disc(0.5) WITHIN GROUP (ORDER BY f) AS p FROM m GROUP BY host ORDER BY host")
	add("SELECT dc, percentile_disc(0.9) WITHIN GROUP (ORDER BY i) AS p, percentile_disc(0) WITHIN GROUP (ORDER BY i) AS lo, percentile_disc(1) WITHIN GROUP (ORDER BY i) AS hi FROM m GROUP BY dc ORDER BY dc")
	add("SELECT host, percentile_disc(0.25) WITHIN GROUP (ORDER BY time) AS t FROM m GROUP BY host ORDER BY host")
	add("SELECT dc, percentile_disc(0.5) WITHIN GROUP (ORDER BY s) AS p FROM m GROUP BY dc ORDER BY dc")
	add("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY f) FILTER (WHERE b) AS p, percentile_disc(0.5) WITHIN GROUP (ORDER BY f) FILTER (WHERE NOT b) AS q FROM m")
	add("SELECT date_trunc('month', time) AS mo, percentile_disc(0.75) WITHIN GROUP (ORDER BY f) AS p FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT host, percentile_cont(0.1) WITHIN GROUP (ORDER BY i) AS p10, percentile_cont(0.5) WITHIN GROUP (ORDER BY i) AS p50 FROM m GROUP BY host ORDER BY host")
	add("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY i) AS p, percentile_cont(0.5) WITHIN GROUP (ORDER BY f) AS c FROM m WHERE i > 1000")
	add("SELECT host, dc FROM m GROUP BY host, dc HAVING percentile_disc(0.5) WITHIN GROUP (ORDER BY f) > 50 ORDER BY host, dc")
	add("SELECT dc, percentile_disc(0.33) WITHIN GROUP (ORDER BY f * 2 + i) AS p FROM m GROUP BY dc ORDER BY dc")

	// mode()
	add("SELECT dc, mode() WITHIN GROUP (ORDER BY host) AS h FROM m GROUP BY dc ORDER BY dc")
	add("SELECT host, mode() WITHIN GROUP (ORDER BY i % 5) AS r FROM m GROUP BY host ORDER BY host")
	add("SELECT date_trunc('month', time) AS mo, mode() WITHIN GROUP (ORDER BY s) AS s, mode() WITHIN GROUP (ORDER BY b) FILTER (WHERE f > 50) AS b FROM m GROUP BY 1 ORDER BY 1")

	// nth_value, lead and lag
	win("nth_value(f, 2) OVER (PARTITION BY host ORDER BY time, dc) AS n")
	win("nth_value(i, 3) OVER (PARTITION BY dc ORDER BY time, host ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS n")
	win("nth_value(s, 1) OVER (ORDER BY time, host, dc ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS n")
	win("nth_value(time, 2) OVER (PARTITION BY dc ORDER BY f DESC NULLS LAST, time, host RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n")
	win("nth_value(b, 4) OVER (PARTITION BY host, dc ORDER BY time ROWS BETWEEN CURRENT ROW AND 5 FOLLOWING) AS n")
	win("nth_value(f, 2) OVER (PARTITION BY host, dc ORDER BY time RANGE BETWEEN INTERVAL '1 day' PRECEDING AND CURRENT ROW) AS n")
	win("lead(f) OVER (PARTITION BY host, dc ORDER BY time) AS nx")
	win("lead(i, 2) OVER (PARTITION BY host ORDER BY time, dc) AS nx")
	win("lag(i, 3, -1) OVER (PARTITION BY dc ORDER BY time, host) AS pv")
	win("lead(s, 1, 'none') OVER (ORDER BY time, host, dc) AS nx")
	win("f - lag(f) OVER (PARTITION BY host, dc ORDER BY time) AS delta")
	win("EXTRACT(EPOCH FROM time - lag(time) OVER (PARTITION BY host, dc ORDER BY time)) AS gap")
	win("(f - lag(f) OVER (PARTITION BY host, dc ORDER BY time)) / EXTRACT(EPOCH FROM time - lag(time) OVER (PARTITION BY host, dc ORDER BY time)) AS rate")

	// ranking
	win("rank() OVER (PARTITION BY dc ORDER BY i DESC NULLS LAST) AS r, dense_rank() OVER (PARTITION BY dc ORDER BY i DESC NULLS LAST) AS d")
	win("percent_rank() OVER (PARTITION BY host ORDER BY f) AS pr, cume_dist() OVER (PARTITION BY host ORDER BY f) AS cd")
	win("ntile(4) OVER (PARTITION BY dc ORDER BY time, host) AS q")
	win("ntile(3) OVER (ORDER BY i NULLS FIRST, time, host, dc) AS q")
	win("row_number() OVER (PARTITION BY b ORDER BY f DESC, time, host, dc) AS rn")
	win("dense_rank() OVER (ORDER BY date_trunc('week', time)) AS wk")
	add("SELECT host, sum(i) AS s, rank() OVER (ORDER BY sum(i) DESC) AS r FROM m GROUP BY host ORDER BY host")
	add("SELECT * FROM (SELECT time, host, dc, f, row_number() OVER (PARTITION BY host ORDER BY f DESC NULLS LAST, time, dc) AS rn FROM m) x WHERE rn <= 3 ORDER BY host, rn")

	// ROWS frames: moving averages and windows ahead
	win("avg(f) OVER (PARTITION BY host, dc ORDER BY time ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS ma")
	win("sum(i) OVER (PARTITION BY host, dc ORDER BY time ROWS BETWEEN 1 FOLLOWING AND 3 FOLLOWING) AS ahead")
	win("count(s) OVER (PARTITION BY dc ORDER BY time, host ROWS BETWEEN 5 PRECEDING AND 2 PRECEDING) AS c")
	win("min(f) OVER (PARTITION BY host ORDER BY time, dc ROWS 2 PRECEDING) AS lo, max(f) OVER (PARTITION BY host ORDER BY time, dc ROWS 2 PRECEDING) AS hi")
	win("sum(f) OVER (PARTITION BY host, dc ORDER BY time) AS run")
	win("sum(f) OVER (PARTITION BY dc) AS tot, f / NULLIF(sum(f) OVER (PARTITION BY dc), 0) AS share")
	win("sum(CASE WHEN b THEN 1 ELSE 0 END) OVER (PARTITION BY host ORDER BY time, dc ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS t3")
	win("sum(i) OVER (ORDER BY date_trunc('day', time)) AS upto_day")
	add("SELECT date_trunc('day', time) AS d, host, avg(f) AS a, avg(avg(f)) OVER (PARTITION BY host ORDER BY date_trunc('day', time) ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS ma FROM m GROUP BY 1, 2 ORDER BY 2, 1")

	// DISTINCT ON
	add("SELECT DISTINCT ON (host) host, time, f FROM m ORDER BY host, time DESC, dc")
	add("SELECT DISTINCT ON (host, dc) host, dc, time, i FROM m WHERE i IS NOT NULL ORDER BY host, dc, i DESC, time")
	add("SELECT DISTINCT ON (date_trunc('month', time)) date_trunc('month', time) AS mo, host, dc, f FROM m WHERE f IS NOT NULL ORDER BY date_trunc('month', time), f DESC, time, host, dc")
	add("SELECT DISTINCT ON (b) b, s, time FROM m ORDER BY b NULLS FIRST, time, host, dc")
	add("SELECT DISTINCT ON (dc) dc, time, host FROM m ORDER BY dc, time, host LIMIT 3")
	add("SELECT DISTINCT ON (x.host) x.host, x.w, x.mx FROM (SELECT host, date_trunc('week', time) AS w, max(f) AS mx FROM m GROUP BY 1, 2) x ORDER BY x.host, x.mx DESC NULLS LAST, x.w")

	// FILTER
	add("SELECT host, count(*) FILTER (WHERE b) AS t, count(*) FILTER (WHERE NOT b) AS f, count(*) FILTER (WHERE b IS NULL) AS n FROM m GROUP BY host ORDER BY host")
	add("SELECT dc, sum(i) FILTER (WHERE s LIKE '%a%') AS si, avg(f) FILTER (WHERE i > 50) AS af FROM m GROUP BY dc ORDER BY dc")
	add("SELECT max(time) FILTER (WHERE f > 100) AS t, min(s) FILTER (WHERE dc IS NULL) AS s FROM m")
	add("SELECT host FROM m GROUP BY host HAVING count(*) FILTER (WHERE f > 100) > 10 ORDER BY host")
	add("SELECT dc, count(DISTINCT s) FILTER (WHERE b) AS ds, count(DISTINCT host) FILTER (WHERE i < 0) AS dh FROM m GROUP BY dc ORDER BY dc")
	add("SELECT date_trunc('week', time) AS w, bool_and(b) FILTER (WHERE i > 0) AS a, bool_or(b) FILTER (WHERE i <= 0) AS o FROM m GROUP BY 1 ORDER BY 1")

	// joins: two measurements on tags and time buckets
	add("SELECT a.d, a.host, a.f, b.v FROM (SELECT date_trunc('day', time) AS d, host, avg(f) AS f FROM m GROUP BY 1, 2) a LEFT JOIN (SELECT date_trunc('day', time) AS d, host, avg(v) AS v FROM ev GROUP BY 1, 2) b ON a.d = b.d AND a.host = b.host ORDER BY 1, 2")
	add("SELECT host, a.n, b.n FROM (SELECT host, count(*) AS n FROM m GROUP BY host) a JOIN (SELECT host, count(*) AS n FROM ev GROUP BY host) b USING (host) ORDER BY host")
	add("SELECT COALESCE(a.dc, b.dc) AS dc, a.n, b.n FROM (SELECT dc, count(*) AS n FROM m GROUP BY dc) a FULL JOIN (SELECT dc, count(*) AS n FROM ev GROUP BY dc) b ON a.dc = b.dc ORDER BY 1, 2, 3")
	add("SELECT a.host, a.d, a.mx, b.v FROM (SELECT host, date_trunc('day', time) AS d, max(f) AS mx FROM m GROUP BY 1, 2) a JOIN (SELECT host, date_trunc('day', time) AS d, max(v) AS v FROM ev GROUP BY 1, 2) b ON a.host = b.host AND a.d = b.d AND b.v > a.mx ORDER BY 1, 2")
	add("SELECT a.d, a.s, b.s AS prev FROM (SELECT date_trunc('day', time) AS d, sum(i) AS s FROM m GROUP BY 1) a LEFT JOIN (SELECT date_trunc('day', time) AS d, sum(i) AS s FROM m GROUP BY 1) b ON a.d = b.d + INTERVAL '1 day' ORDER BY 1")
	add("SELECT a.dc AS mdc, b.dc AS edc FROM (SELECT DISTINCT dc FROM m) a CROSS JOIN (SELECT DISTINCT dc FROM ev) b ORDER BY 1, 2")
	add("SELECT m.dc, count(*) AS n, avg(ev.v) AS v FROM m JOIN ev ON m.host = ev.host AND date_trunc('day', m.time) = date_trunc('day', ev.time) GROUP BY m.dc ORDER BY 1")
	add("SELECT a.host FROM (SELECT DISTINCT host FROM m) a LEFT JOIN (SELECT DISTINCT host FROM ev) b ON a.host = b.host WHERE b.host IS NULL ORDER BY 1")
	add("SELECT m.time, m.host, m.dc, m.i, ev.k FROM m JOIN ev ON m.host = ev.host AND m.dc = ev.dc AND m.time = ev.time ORDER BY 1, 2, 3")

	// set operations
	add("SELECT host, dc FROM m UNION SELECT host, dc FROM ev ORDER BY 1, 2")
	add("SELECT host FROM m INTERSECT SELECT host FROM ev ORDER BY 1")
	add("SELECT dc FROM m EXCEPT SELECT dc FROM ev ORDER BY 1")
	add("SELECT i % 3 AS x FROM m WHERE i IS NOT NULL INTERSECT ALL SELECT k % 3 FROM ev ORDER BY 1")
	add("(SELECT host, max(f) AS x FROM m GROUP BY host) UNION ALL (SELECT host, max(v) FROM ev GROUP BY host) ORDER BY 1, 2")
	add("SELECT s FROM m UNION SELECT host FROM ev ORDER BY 1 LIMIT 5 OFFSET 2")
	add("SELECT dc FROM m UNION SELECT dc FROM ev INTERSECT SELECT dc FROM m WHERE f > 100 ORDER BY 1")
	add("SELECT i AS x FROM m WHERE i > 190 UNION SELECT v FROM ev WHERE v > 240 ORDER BY 1")
	add("SELECT host, date_trunc('month', time) AS mo FROM m WHERE f > 100 EXCEPT ALL SELECT host, date_trunc('month', time) FROM ev WHERE v > 200 ORDER BY 1, 2")

	// strings
	add("SELECT s, lower(s) AS lo, upper(s) AS up, length(s) AS n, substr(s, 2, 3) AS sub, replace(s, 'a', 'A') AS r, split_part(s, ',', 2) AS p, starts_with(s, 'a') AS sw, trim(s) AS t, s || '!' AS e FROM (SELECT DISTINCT s FROM m) x ORDER BY s")
	add("SELECT s, regexp_replace(s, '[aeiou]', '_', 'g') AS r, left(s, 2) AS l, right(s, 2) AS rr, strpos(s, 'a') AS p, ltrim(s) AS lt, rtrim(s) AS rt, btrim(s, ' ,xz') AS bt FROM (SELECT DISTINCT s FROM m) x ORDER BY s")
	win("concat(host, '-', dc, '-', i) AS c, host || '/' || dc AS j")
	add("SELECT split_part(s, ' ', 1) AS w, count(*) AS n FROM m WHERE s IS NOT NULL GROUP BY 1 ORDER BY 1")
	add("SELECT host, string_agg(s, ',' ORDER BY s) AS ss FROM m WHERE s <> '' AND f > 90 GROUP BY host ORDER BY host")
	add("SELECT upper(host) AS h, count(*) AS n FROM m GROUP BY upper(host) ORDER BY 1")

	// time
	win("EXTRACT(isodow FROM time) AS dow, EXTRACT(week FROM time) AS wk, EXTRACT(doy FROM time) AS doy, EXTRACT(quarter FROM time) AS q, EXTRACT(epoch FROM time) AS ep")
	add("SELECT date_trunc('quarter', time AT TIME ZONE 'America/New_York') AS q, count(*) AS n FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT date_trunc('week', time, 'Asia/Kolkata') AS w, max(f) AS mx FROM m GROUP BY 1 ORDER BY 1")
	win("time + INTERVAL '1 month 2 days' AS later, time - INTERVAL '90 minutes' AS earlier")
	win("to_timestamp(floor(EXTRACT(EPOCH FROM time) / 3600) * 3600) AS hr")
	add("SELECT date_part('month', time) AS mo, date_part('hour', time) AS h, count(*) AS n FROM m GROUP BY 1, 2 ORDER BY 1, 2")
	add("SELECT host, EXTRACT(EPOCH FROM max(time) - min(time)) AS span FROM m GROUP BY host ORDER BY host")
	return cs
}

// constructErrors are refused by PostgreSQL and by Silt's planner with
// the same SQLSTATE.
var constructErrors = []string{
	"SELECT nth_value(f, 0) OVER (ORDER BY time) FROM m",
	"SELECT nth_value(f, -2) OVER (PARTITION BY host ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM m",
	"SELECT nth_value(f) OVER (ORDER BY time) FROM m",
	"SELECT ntile(0) OVER (ORDER BY time) FROM m",
	"SELECT host, percentile_disc(0.5) WITHIN GROUP (ORDER BY f) FROM m",
	"SELECT DISTINCT ON (host) host, time FROM m ORDER BY time",
	"SELECT host FROM m UNION SELECT host, dc FROM ev",
	"SELECT count(*) FILTER (WHERE i) FROM m",
}

// TestConstructsAgainstPostgres runs the construct cases (none may be
// refused by Silt's front end) and the refusals.
func TestConstructsAgainstPostgres(t *testing.T) {
	o, eng := relationalFixture(t)
	var tl tally
	for _, c := range constructCases() {
		check(t, o, eng, c, &tl)
	}
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
	schemas, _ := eng.Tables(testDB)
	cat, _ := Catalog(schemas)
	agreed := 0
	for _, q := range constructErrors {
		_, _, pgErr := o.Query(q)
		var pe *pgconn.PgError
		if !errors.As(pgErr, &pe) {
			t.Errorf("%s: PostgreSQL answered (%v)", q, pgErr)
			continue
		}
		_, err := sql.Compile(q, cat, time.Now())
		var se *sql.Error
		if !errors.As(err, &se) || se.SQLState != pe.Code {
			t.Errorf("%s: Silt %v, PostgreSQL %s %s", q, err, pe.Code, pe.Message)
			continue
		}
		agreed++
	}
	t.Logf("construct oracle: %d queries run, %d passed, %d rejected by the front end, %d errors on both sides; %d of %d refusals with PostgreSQL's SQLSTATE",
		tl.run, tl.passed, tl.rejected, tl.errorsAgreed, agreed, len(constructErrors))
}
