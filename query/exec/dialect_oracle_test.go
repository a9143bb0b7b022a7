package exec

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
)

// The dialect oracle: CASE, COALESCE, casts, math, strings, calendar time,
// numeric typing, grouping by expressions and aggregate FILTER, each
// compared with PostgreSQL 15 on a table of every field type with NULL
// tags, sparse fields, rewritten points and late points.

const dialectTable = "m"

var dialectStart = time.Date(2025, 11, 14, 21, 0, 0, 0, time.UTC)

// dialectStrings are the s field's values: case, padding, separators,
// empty, non-ASCII, numbers and booleans as text.
var dialectStrings = []string{"Alpha", "beta gamma", "  padded  ", "x,y,z", "MiXeD Case", "", "ünïcode ß",
	"a-b-c-d", "100", "true", "aaa bbb", "Zebra,crossing,now"}

// dialectDataset writes series with and without each tag, every 7h13m17.5s
// over some four months (across a year, quarters and months, at fractional
// seconds), fields present at random, then rewrites of some points (new
// values for some fields) and late points for times already written.
func dialectDataset() []pgoracle.Point {
	r := rand.New(rand.NewPCG(2026, 16))
	series := []map[string]string{
		{"host": "host_0", "dc": "a"}, {"host": "host_1", "dc": "a"}, {"host": "host_2", "dc": "b"},
		{"host": "host_3"}, {"dc": "a"}, {"dc": "b"}, {},
		{"host": "HOST_4", "dc": "c"},
	}
	step := 7*time.Hour + 13*time.Minute + 17*time.Second + 500*time.Millisecond
	fields := func() map[string]any {
		f := map[string]any{}
		for len(f) == 0 {
			if r.IntN(6) != 0 {
				f["i"] = int64(r.IntN(251) - 50)
			}
			if r.IntN(5) != 0 {
				v := math.Round((r.Float64()*120-10)*1000) / 1000
				switch r.IntN(25) {
				case 0:
					v = 0
				case 1:
					v = 2.5
				case 2:
					v = -3.5
				}
				f["f"] = v
			}
			if r.IntN(4) != 0 {
				f["b"] = r.IntN(2) == 0
			}
			if r.IntN(5) != 0 {
				f["s"] = dialectStrings[r.IntN(len(dialectStrings))]
			}
		}
		return f
	}
	var points, late []pgoracle.Point
	for n := 0; n < 420; n++ {
		t := dialectStart.Add(time.Duration(n) * step).UnixNano()
		for si, tags := range series {
			if (n+si)%11 == 5 {
				continue // a gap, filled late for some
			}
			p := pgoracle.Point{Time: t, Tags: tags, Fields: fields()}
			if n%37 == 3 && si == 2 {
				late = append(late, p) // written at the end
				continue
			}
			points = append(points, p)
			if r.IntN(20) == 0 { // rewritten later: some fields change
				late = append(late, pgoracle.Point{Time: t, Tags: tags, Fields: fields()})
			}
		}
	}
	r.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
	return append(points, late...)
}

// dialectCases are the queries; each names the construct it exercises.
func dialectCases() []oracleCase {
	var cs []oracleCase
	add := func(silt string) { cs = append(cs, oracleCase{silt: silt}) }
	addPG := func(silt, pg string) { cs = append(cs, oracleCase{silt: silt, pg: pg}) }
	const order = " ORDER BY time, host, dc"
	row := func(sel string) { add("SELECT time, host, dc, " + sel + " FROM m" + order) }
	rowW := func(sel, where string) { add("SELECT time, host, dc, " + sel + " FROM m WHERE " + where + order) }

	// A bigint field compared with a double constant (TSBS's usage_user >
	// 90.0): tested on raw rows in the scan through the implicit cast.
	add("SELECT * FROM m WHERE i > 150.0" + order)
	add("SELECT * FROM m WHERE i >= 150.5 AND f > 10" + order + " LIMIT 9")
	add("SELECT * FROM m WHERE i < -0.5 OR i IS NULL" + order)
	add("SELECT time, host, i, s, b FROM m WHERE i = 42.0" + order)
	add("SELECT time, host, i FROM m WHERE i <> 7.0 AND i <= 3.25" + order)
	add("SELECT count(*), sum(i) FROM m WHERE i > 1e9")
	add("SELECT host, count(*) FROM m WHERE i > 99.999 GROUP BY host ORDER BY host")

	// CASE, searched and simple
	row("CASE WHEN i > 100 THEN 'high' WHEN i > 0 THEN 'mid' ELSE 'low' END AS c")
	row("CASE dc WHEN 'a' THEN 1 WHEN 'b' THEN 2 END AS c")
	row("CASE WHEN b THEN f END")
	row("CASE WHEN b THEN i ELSE f END AS c")
	row("CASE WHEN i = 0 THEN NULL ELSE 1000 / i END AS c")
	row("CASE host WHEN 'host_1' THEN upper(s) WHEN 'host_2' THEN lower(s) ELSE s END AS c")
	row("CASE WHEN host IS NULL AND dc IS NULL THEN 'none' WHEN host IS NULL THEN dc ELSE host END AS c")
	rowW("i", "CASE WHEN host IS NULL THEN true ELSE i > 50 END")
	add("SELECT host, sum(CASE WHEN b THEN 1 ELSE 0 END) AS t, count(*) FROM m GROUP BY host ORDER BY host")
	add("SELECT host, CASE WHEN count(*) > 330 THEN 'big' ELSE 'small' END AS size FROM m GROUP BY host ORDER BY host")
	add("SELECT CASE WHEN f < 0 THEN 'neg' WHEN f < 50 THEN 'low' ELSE 'high' END AS band, count(*), avg(i) FROM m GROUP BY 1 ORDER BY 1")
	// COALESCE, NULLIF, GREATEST, LEAST
	row("coalesce(i, 0)")
	row("coalesce(host, 'none') AS h")
	row("coalesce(f, i) AS x")
	row("coalesce(s, host, dc, '?') AS x")
	row("coalesce(NULL, b, false) AS x")
	row("nullif(i, 0)")
	row("nullif(host, 'host_1') AS h")
	row("nullif(s, '') AS x")
	row("greatest(i, f) AS g, least(i, f) AS l")
	row("least(i, 10), greatest(i, 10, NULL)")
	row("greatest(host, dc) AS g, least(host, dc) AS l")
	row("greatest(time, TIMESTAMPTZ '2026-01-15 00:00:00+00') AS g")
	add("SELECT coalesce(host, 'none') AS h, count(*), max(coalesce(i, -1000)) FROM m GROUP BY 1 ORDER BY 1")
	// casts among int, float, text, bool and timestamp
	row("i::float8 AS x, f::bigint AS y, f::int AS z")
	row("i::text AS a, f::text AS b2, b::text AS c, time::text AS d")
	row("host::text || '/' || dc::text AS x")
	row("b::int AS x")
	row("CASE WHEN s = '100' THEN s::int END AS x, CASE WHEN s = '100' THEN s::float8 END AS y")
	row("CASE WHEN s = 'true' THEN s::bool END AS x")
	row("cast(i AS text) AS x, cast(f AS numeric) AS y")
	row("time::date AS d")
	add("SELECT time::text::timestamptz AS t FROM m ORDER BY time LIMIT 20")
	rowW("i", "i::text LIKE '1%'")
	rowW("f", "f::text = '2.5'")
	// IS [NOT] DISTINCT FROM
	rowW("i", "host IS DISTINCT FROM 'host_1'")
	rowW("i", "host IS NOT DISTINCT FROM NULL")
	rowW("i", "dc IS DISTINCT FROM 'a'")
	row("i IS DISTINCT FROM f AS d, b IS NOT DISTINCT FROM true AS e")
	row("host IS DISTINCT FROM dc AS d")

	// math
	row("abs(i), abs(f)")
	row("round(f) AS r1, round(f::numeric) AS r2")
	row("round(f::numeric, 1) AS r1, round(f::numeric, -1) AS r2, round(i / 7.0, 2) AS r3")
	row("ceil(f), ceiling(i), floor(f), floor(i)")
	row("trunc(f)")
	rowW("ln(f) AS a, log(f) AS b, log10(f) AS c", "f > 0")
	rowW("log(2, f::numeric) AS a", "f > 0")
	row("power(f, 2) AS a, power(i, 2) AS b, pow(2, i / 50) AS c")
	row("sqrt(abs(f)) AS a, cbrt(f) AS b")
	row("sign(i) AS a, sign(f) AS b")
	row("mod(i, 7) AS a, i % 7 AS b, mod(-i, 5) AS c")
	rowW("exp(f / 100) AS x", "f IS NOT NULL")
	add("SELECT ln(f) FROM m ORDER BY time") // zero and negative values: an error on both sides
	add("SELECT host, round(avg(f)::numeric, 3) AS a, abs(min(i)) AS b FROM m GROUP BY host ORDER BY host")

	// strings
	row("lower(s), upper(s), length(s)")
	row("lower(host) AS h, upper(dc) AS d, length(host) AS n")
	row("substr(s, 2, 3) AS a, substr(s, 0, 3) AS b, substr(s, 4) AS c")
	row("substring(s from 3) AS a, substring(s from 2 for 2) AS b, substring(s, 1, 1) AS c")
	row("concat(host, '-', i, '-', b, '-', f) AS x")
	row("concat(s) AS a, concat(NULL, dc) AS b")
	row("host || '/' || dc AS x")
	row("s || i AS a, 'v=' || f AS b, i || '' AS c")
	row("replace(s, 'a', 'A') AS a, replace(s, ' ', '') AS b")
	row("split_part(s, ',', 2) AS a, split_part(s, '-', -1) AS b, split_part(host, '_', 2) AS c")
	row("starts_with(s, 'a') AS a, starts_with(host, 'host') AS b")
	row("trim(s) AS a, ltrim(s) AS b, rtrim(s) AS c")
	row("btrim(s, 'ax') AS a, rtrim(s, ' d') AS b, ltrim(s, 'Z') AS c")
	row("trim(both 'a' from s) AS a, trim(leading ' ' from s) AS b, trim(trailing 'e' from s) AS c")
	row("regexp_replace(s, '[aeiou]', '_') AS a, regexp_replace(s, '[aeiou]', '_', 'g') AS b")
	row(`regexp_replace(s, '(\w+) (\w+)', '\2 \1') AS a, regexp_replace(s, 'A', '<\&>', 'gi') AS b`)
	row("left(s, 2) AS a, right(s, 3) AS b, left(s, -2) AS c, right(s, -2) AS d")
	row("strpos(s, 'a') AS a, strpos(host, '_') AS b")
	rowW("i", "lower(host) = 'host_4'")
	rowW("s", "upper(s) LIKE '%A%'")
	add("SELECT lower(s) AS l, count(*) FROM m GROUP BY lower(s) ORDER BY 1")
	add("SELECT length(s) AS n, count(*), min(s) FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT upper(host) AS h, count(*) FROM m GROUP BY 1 ORDER BY 1")

	// time: EXTRACT / date_part
	row("extract(epoch FROM time) AS e")
	row("extract(year FROM time) AS y, extract(month FROM time) AS mo, extract(day FROM time) AS d")
	row("extract(hour FROM time) AS h, extract(minute FROM time) AS mi, extract(second FROM time) AS s")
	row("extract(dow FROM time) AS a, extract(isodow FROM time) AS b, extract(doy FROM time) AS c")
	row("extract(week FROM time) AS a, extract(isoyear FROM time) AS b, extract(quarter FROM time) AS c")
	row("extract(decade FROM time) AS a, extract(century FROM time) AS b, extract(millennium FROM time) AS c")
	row("extract(milliseconds FROM time) AS a, extract(microseconds FROM time) AS b")
	row("date_part('hour', time) AS a, date_part('epoch', time) AS b, date_part('dow', time) AS c")
	add("SELECT extract(dow FROM time) AS dow, count(*), sum(i) FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT extract(hour FROM time) AS h, avg(f) FROM m WHERE host = 'host_1' GROUP BY 1 ORDER BY 1")
	// date_trunc, every unit
	for _, u := range []string{"microseconds", "milliseconds", "second", "minute", "hour", "day", "week", "month", "quarter", "year", "decade", "century", "millennium"} {
		row("date_trunc('" + u + "', time) AS t")
	}
	row("date_trunc('day', time, 'America/New_York') AS a, date_trunc('month', time, 'Asia/Tokyo') AS b")
	row("date_trunc('hour', time, 'Asia/Kolkata') AS a, date_trunc('week', time, 'UTC') AS b")
	add("SELECT date_trunc('month', time) AS m, count(*), avg(f), sum(i) FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT date_trunc('quarter', time) AS q, host, count(*) FROM m GROUP BY 1, 2 ORDER BY 1, 2")
	add("SELECT date_trunc('year', time) AS y, max(i) FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT date_trunc('week', time) AS w, count(*) FROM m WHERE dc = 'a' GROUP BY 1 ORDER BY 1")
	add("SELECT date_trunc('day', time, 'America/New_York') AS d, count(*) FROM m GROUP BY 1 ORDER BY 1")
	// AT TIME ZONE
	row("time AT TIME ZONE 'Europe/Paris' AS p")
	row("time AT TIME ZONE 'America/Los_Angeles' AS a, time AT TIME ZONE 'UTC' AS b")
	row("date_trunc('day', time AT TIME ZONE 'Asia/Tokyo') AS d")
	row("(time AT TIME ZONE 'Europe/Paris') AT TIME ZONE 'Asia/Tokyo' AS x")
	row("date_trunc('week', time AT TIME ZONE 'Europe/Berlin') AT TIME ZONE 'Europe/Berlin' AS a, date_trunc('month', time AT TIME ZONE 'America/New_York') AT TIME ZONE 'America/New_York' AS b")
	row("date_bin('1 hour', time AT TIME ZONE 'Asia/Kolkata', TIMESTAMP '2000-01-01') AT TIME ZONE 'Asia/Kolkata' AS a, coalesce(time AT TIME ZONE 'Asia/Tokyo', TIMESTAMP '2026-01-01') AT TIME ZONE 'Asia/Tokyo' AS b")
	add("SELECT TIMESTAMP '2026-01-01 12:00' AT TIME ZONE 'Europe/Paris' AS x, TIMESTAMPTZ '2026-01-01 12:00Z' AT TIME ZONE 'Europe/Paris' AS y FROM m LIMIT 1")
	// timestamp ± interval, timestamp − timestamp
	row("time + interval '1 month' AS a, time - interval '1 day 2 hours' AS b, time + interval '90 minutes' AS c")
	row("time - interval '1 year 3 months' AS a, interval '2 weeks' + time AS b")
	addPG("SELECT time, host, dc, time - TIMESTAMPTZ '2026-01-01 00:00:00+00' AS d FROM m"+order,
		"SELECT time, host, dc, (time - TIMESTAMPTZ '2026-01-01 00:00:00+00')::text AS d FROM m"+order)
	row("(time - TIMESTAMPTZ '2025-12-24 06:30:00.25+00')::text AS d")
	row("extract(epoch FROM time - TIMESTAMPTZ '2026-01-01 00:00:00+00') AS e")
	row("extract(day FROM time - TIMESTAMPTZ '2025-11-01 00:00:00+00') AS d, extract(hour FROM time - TIMESTAMPTZ '2025-11-01 00:00:00+00') AS h")
	rowW("i", "time - TIMESTAMPTZ '2025-11-14 00:00:00+00' < interval '20 days'")
	addPG("SELECT host, max(time) - min(time) AS span FROM m GROUP BY host ORDER BY host",
		"SELECT host, (max(time) - min(time))::text AS span FROM m GROUP BY host ORDER BY host")
	add("SELECT host, extract(epoch FROM max(time) - min(time)) AS span FROM m GROUP BY host ORDER BY host")
	rowW("i", "time + interval '1 month' < TIMESTAMPTZ '2026-01-01 00:00:00+00'")
	rowW("i", "time >= TIMESTAMPTZ '2026-02-01 00:00:00+00' - interval '1 day' * 7 AND time < TIMESTAMPTZ '2026-02-01 00:00:00+00' - interval '90 minutes' / 2")
	row("time + (interval '1 month' + interval '2 days') AS a, time - 3 * interval '1 hour 10 minutes' AS b, time + interval '1 hour' * 1.5 AS c")
	addPG("SELECT interval '1 day' * 3 - interval '2 hours' AS a, interval '10 minutes' / 4 AS b FROM m LIMIT 1",
		"SELECT (interval '1 day' * 3 - interval '2 hours')::text AS a, (interval '10 minutes' / 4)::text AS b FROM m LIMIT 1")
	// to_timestamp
	row("to_timestamp(i * 100000) AS a, to_timestamp(f) AS b")
	add("SELECT to_timestamp(1767225600.5) AS t FROM m LIMIT 1")

	// numeric typing: sum and avg of bigint are numeric
	add("SELECT sum(i) / count(*) AS a, avg(i) AS b, sum(i) AS c FROM m")
	add("SELECT host, sum(i) / count(*) AS a, sum(i) / count(i) AS b FROM m GROUP BY host ORDER BY host")
	add("SELECT host, round(sum(i) / count(*), 2) AS a, round(avg(i), 3) AS b FROM m GROUP BY host ORDER BY host")
	add("SELECT dc, sum(i) * 1.5 AS a, sum(i) / 7 AS b, avg(i) / 3 AS c, sum(i) % 7 AS d FROM m GROUP BY dc ORDER BY dc")
	add("SELECT host, sum(i)::float8 / count(*) AS a, sum(f) / count(*) AS b FROM m GROUP BY host ORDER BY host")
	add("SELECT round(avg(i)) AS a, round(sum(i) / 9.0) AS b FROM m")
	add("SELECT host FROM m GROUP BY host HAVING sum(i) / count(*) > 70 ORDER BY host")

	// GROUP BY a field or an expression, count(DISTINCT), FILTER
	add("SELECT i, count(*) FROM m GROUP BY i ORDER BY i NULLS FIRST LIMIT 40")
	add("SELECT b, count(*), avg(f) FROM m GROUP BY b ORDER BY b")
	add("SELECT s, count(*) FROM m GROUP BY s ORDER BY s")
	add("SELECT i % 3 AS r, count(*), sum(f) FROM m GROUP BY i % 3 ORDER BY 1")
	add("SELECT host || '@' || dc AS k, count(*) FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT host, b, count(*) FROM m GROUP BY host, b ORDER BY host, b")
	add("SELECT round(f / 10) AS bucket, count(*) FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT f > 50 AS hi, count(*) FROM m GROUP BY f > 50 ORDER BY 1")
	add("SELECT 'all' AS k, count(*), sum(i) FROM m GROUP BY 1")
	add("SELECT count(*) FROM m WHERE host = 'nope' GROUP BY 1 + 1")
	add("SELECT count(*) FROM m WHERE host = 'nope'")
	add("SELECT host, round(35.25 - f) AS a, round(f * 1.5) AS b, round(i * 1.5) AS c FROM m ORDER BY time, host, dc")
	add("SELECT count(DISTINCT i) AS a, count(DISTINCT s) AS b, count(DISTINCT b) AS c, count(DISTINCT f) AS d FROM m")
	add("SELECT host, count(DISTINCT s) AS a, count(DISTINCT i % 10) AS b FROM m GROUP BY host ORDER BY host")
	add("SELECT count(DISTINCT host || dc) AS a, count(DISTINCT date_trunc('month', time)) AS b FROM m")
	add("SELECT count(*) FILTER (WHERE b) AS t, count(*) FILTER (WHERE NOT b) AS f, count(*) FROM m")
	add("SELECT host, sum(i) FILTER (WHERE f > 50) AS a, avg(f) FILTER (WHERE i < 0) AS b FROM m GROUP BY host ORDER BY host")
	add("SELECT dc, max(s) FILTER (WHERE i > 0) AS a, min(time) FILTER (WHERE b) AS b FROM m GROUP BY dc ORDER BY dc")
	add("SELECT host, count(DISTINCT s) FILTER (WHERE b) AS a FROM m GROUP BY host ORDER BY host")
	add("SELECT host FROM m GROUP BY host HAVING count(*) FILTER (WHERE b) > 100 ORDER BY host")
	add("SELECT date_trunc('month', time) AS mo, count(*) FILTER (WHERE host IS NULL) AS nohost, count(*) FILTER (WHERE dc IS NULL) AS nodc FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT host, sum(i) FILTER (WHERE i > 0) / count(*) FILTER (WHERE i > 0) AS a FROM m GROUP BY host ORDER BY host")
	add("SELECT count(*) FILTER (WHERE time >= TIMESTAMPTZ '2026-01-01 00:00:00+00') AS a, percentile_cont(0.5) WITHIN GROUP (ORDER BY f) FILTER (WHERE b) AS p FROM m")

	// constants, without FROM
	add("SELECT lower('ABC') AS a, concat('a', 1, true, NULL) AS b, CASE WHEN 1 > 0 THEN 'y' END AS c, greatest(1, 2.5) AS d, coalesce(NULL, 3) AS e")
	add("SELECT (TIMESTAMPTZ '2026-01-02' - TIMESTAMPTZ '2026-01-01 01:00:00+00')::text AS a, extract(dow FROM TIMESTAMPTZ '2026-01-04') AS b, date_trunc('quarter', TIMESTAMPTZ '2026-05-17 10:00:00+00') AS c")
	add("SELECT round(2.5) AS a, round(2.5::float8) AS b, round(-2.5) AS c, round(2.675, 2) AS d, split_part('a,b,c', ',', 2) AS e, 'x' || 1.5 AS f, 1.5::text AS g")
	add("SELECT TIMESTAMPTZ '2026-01-31 12:00:00+00' + interval '1 month' AS a, TIMESTAMPTZ '2026-03-31 00:00:00+00' - interval '1 month' AS b, TIMESTAMP '2026-07-01 12:00' AT TIME ZONE 'America/New_York' AS c")
	addPG("SELECT interval '1 day 2 hours' AS a, interval '-90 minutes' AS b, interval '1 year 2 months 3 days 04:05:06.5' AS c",
		"SELECT interval '1 day 2 hours'::text AS a, interval '-90 minutes'::text AS b, interval '1 year 2 months 3 days 04:05:06.5'::text AS c")

	// bool_and, bool_or, every, string_agg, mode()
	add("SELECT host, bool_and(b), bool_or(b), every(i > -50) FROM m GROUP BY host ORDER BY host")
	add("SELECT dc, bool_or(f > 100) AS a, bool_and(s IS NOT NULL) AS b FROM m GROUP BY dc ORDER BY dc")
	add("SELECT bool_and(b) FILTER (WHERE i > 150) AS a, bool_or(b) FILTER (WHERE host IS NULL) AS b FROM m")
	add("SELECT host, string_agg(s, ',' ORDER BY s) AS x FROM m WHERE time < TIMESTAMPTZ '2025-11-25 00:00:00+00' GROUP BY host ORDER BY host")
	add("SELECT dc, string_agg(upper(left(s, 3)), ' | ' ORDER BY upper(left(s, 3)) DESC) AS x FROM m WHERE i > 150 GROUP BY dc ORDER BY dc")
	add("SELECT date_trunc('month', time) AS mo, string_agg(host, '' ORDER BY host) FILTER (WHERE i > 190) AS x FROM m GROUP BY 1 ORDER BY 1")
	add("SELECT host, mode() WITHIN GROUP (ORDER BY s) AS a, mode() WITHIN GROUP (ORDER BY i DESC) AS b, mode() WITHIN GROUP (ORDER BY b) AS c FROM m GROUP BY host ORDER BY host")
	add("SELECT mode() WITHIN GROUP (ORDER BY extract(dow FROM time)) AS a, mode() WITHIN GROUP (ORDER BY lower(s)) FILTER (WHERE b) AS b FROM m")
	return cs
}

// TestDialectAgainstPostgres runs the dialect cases over an engine with
// a segment and a head (late points merged at read), then over one with
// compacted segments and rollups, where the plain aggregates are answered
// from rollups.
func TestDialectAgainstPostgres(t *testing.T) {
	o := pgoracle.Start(t)
	points := dialectDataset()
	eng := loadEngine(t, dialectTable, points)
	loadOracle(t, o, eng, dialectTable, points)
	cases := dialectCases()
	n, seed := 80, uint64(16)
	if v, err := strconv.Atoi(os.Getenv("SILT_ORACLE_QUERIES")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("SILT_ORACLE_SEED"), 10, 64); err == nil {
		seed = v
	}
	r := rand.New(rand.NewPCG(seed, 16))
	for range n {
		cases = append(cases, randomDialectCase(r))
	}
	run := func(stage string, eng *engine.Engine) tally {
		var tl tally
		for _, c := range cases {
			check(t, o, eng, c, &tl)
		}
		t.Logf("dialect oracle, %s: %d queries run, %d passed, %d rejected by the front end, %d errors on both sides, %d answered from rollups",
			stage, tl.run, tl.passed, tl.rejected, tl.errorsAgreed, tl.fromRollups)
		if tl.rejected > 0 {
			t.Errorf("%s: %d queries rejected by the front end", stage, tl.rejected)
		}
		return tl
	}
	run("segment and head", eng)

	cfg := engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true}
	cfg.Compaction.Disabled = true
	cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 256, TargetRows: 5000, L0Max: 2, MaxTail: 3}
	cfg.Compaction.ColdAfter = time.Nanosecond
	cfg.Rollups.MinRowsPerWindow = 1
	reng, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reng.Close() })
	const chunks = 4
	for c := range chunks {
		writeLP(t, reng, dialectTable, points[c*len(points)/chunks:(c+1)*len(points)/chunks])
		if err := reng.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := reng.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tl := run("compacted, with rollups", reng); tl.fromRollups == 0 {
		t.Errorf("no query was answered from rollups")
	}
}

// exprGen builds random typed expressions over the dialect table's
// columns, for randomDialectCase.
type exprGen struct{ r *rand.Rand }

func (g exprGen) pick(opts ...func() string) string { return opts[g.r.IntN(len(opts))]() }

func (g exprGen) lit(n int) string { return strconv.Itoa(g.r.IntN(n) - n/4) }

func (g exprGen) intE(d int) string {
	leaf := func() string {
		return g.pick(func() string { return "i" }, func() string { return g.lit(20) }, func() string { return "length(s)" })
	}
	if d <= 0 {
		return leaf()
	}
	return g.pick(leaf,
		func() string { return "abs(" + g.intE(d-1) + ")" },
		func() string { return "(" + g.intE(d-1) + " % 7)" },
		func() string { return "(" + g.intE(d-1) + " + " + g.intE(d-1) + ")" },
		func() string { return "(" + g.intE(d-1) + " * 3)" },
		func() string { return "(" + g.intE(d-1) + " / nullif(" + g.intE(d-1) + ", 0))" },
		func() string { return "coalesce(" + g.intE(d-1) + ", " + g.lit(9) + ")" },
		func() string { return "nullif(" + g.intE(d-1) + ", " + g.lit(9) + ")" },
		func() string { return "greatest(" + g.intE(d-1) + ", " + g.intE(d-1) + ")" },
		func() string { return "least(" + g.intE(d-1) + ", " + g.lit(50) + ")" },
		func() string {
			return "CASE WHEN " + g.boolE(d-1) + " THEN " + g.intE(d-1) + " ELSE " + g.intE(d-1) + " END"
		},
		func() string { return "strpos(" + g.textE(d-1) + ", 'a')" },
		func() string { return "length(" + g.textE(d-1) + ")" },
		func() string { return "b::int" },
		func() string {
			return "extract(" + g.pick(func() string { return "hour" }, func() string { return "dow" }, func() string { return "month" }) + " FROM " + g.timeE(d-1) + ")::int"
		},
	)
}

func (g exprGen) floatE(d int) string {
	leaf := func() string {
		return g.pick(func() string { return "f" }, func() string { return "f" }, func() string { return g.lit(100) + ".25" })
	}
	if d <= 0 {
		return leaf()
	}
	return g.pick(leaf,
		func() string { return "abs(" + g.floatE(d-1) + ")" },
		func() string { return "round(" + g.floatE(d-1) + ")" },
		func() string { return "ceil(" + g.floatE(d-1) + ")" },
		func() string { return "floor(" + g.floatE(d-1) + ")" },
		func() string { return "sign(" + g.floatE(d-1) + ")" },
		func() string { return "(" + g.floatE(d-1) + " * " + g.intE(d-1) + ")" },
		func() string { return "(" + g.floatE(d-1) + " - " + g.floatE(d-1) + ")" },
		func() string { return "coalesce(" + g.floatE(d-1) + ", " + g.intE(d-1) + ")" },
		func() string { return "sqrt(abs(" + g.floatE(d-1) + "))" },
		func() string { return g.intE(d-1) + "::float8" },
		func() string { return "greatest(" + g.floatE(d-1) + ", " + g.intE(d-1) + ")" },
		func() string {
			return "CASE " + g.textE(0) + " WHEN 'Alpha' THEN " + g.floatE(d-1) + " WHEN 'true' THEN 1 END"
		},
		func() string {
			return "extract(epoch FROM " + g.timeE(d-1) + " - TIMESTAMPTZ '2025-12-01 00:00:00+00')"
		},
	)
}

func (g exprGen) textE(d int) string {
	leaf := func() string {
		return g.pick(func() string { return "s" }, func() string { return "host" }, func() string { return "dc" }, func() string { return "'Ab,c d'" })
	}
	if d <= 0 {
		return leaf()
	}
	return g.pick(leaf,
		func() string { return "lower(" + g.textE(d-1) + ")" },
		func() string { return "upper(" + g.textE(d-1) + ")" },
		func() string {
			return "substr(" + g.textE(d-1) + ", " + g.lit(6) + ", " + strconv.Itoa(g.r.IntN(5)) + ")"
		},
		func() string { return "concat(" + g.textE(d-1) + ", '-', " + g.intE(d-1) + ")" },
		func() string { return "(" + g.textE(d-1) + " || " + g.textE(d-1) + ")" },
		func() string { return "replace(" + g.textE(d-1) + ", 'a', 'xy')" },
		func() string {
			return "split_part(" + g.textE(d-1) + ", ',', " + []string{"-2", "-1", "1", "2", "3"}[g.r.IntN(5)] + ")"
		},
		func() string { return "trim(" + g.textE(d-1) + ")" },
		func() string { return "rtrim(" + g.textE(d-1) + ", 'a ')" },
		func() string { return "left(" + g.textE(d-1) + ", " + g.lit(8) + ")" },
		func() string { return "right(" + g.textE(d-1) + ", " + g.lit(8) + ")" },
		func() string { return "coalesce(" + g.textE(d-1) + ", " + g.textE(d-1) + ", '~')" },
		func() string { return "nullif(" + g.textE(d-1) + ", 'a')" },
		func() string { return "regexp_replace(" + g.textE(d-1) + ", '[abc_]', '.', 'g')" },
		func() string { return "i::text" },
		func() string { return "f::text" },
		func() string {
			return "CASE WHEN " + g.boolE(d-1) + " THEN " + g.textE(d-1) + " END"
		},
	)
}

func (g exprGen) boolE(d int) string {
	leaf := func() string {
		return g.pick(func() string { return "b" }, func() string { return "i > " + g.lit(100) })
	}
	if d <= 0 {
		return leaf()
	}
	return g.pick(leaf,
		func() string { return g.intE(d-1) + " > " + g.intE(d-1) },
		func() string { return g.floatE(d-1) + " <= " + g.lit(60) },
		func() string { return g.textE(d-1) + " < " + g.textE(d-1) },
		func() string { return g.textE(d-1) + " LIKE '%a%'" },
		func() string { return "starts_with(" + g.textE(d-1) + ", 'h')" },
		func() string { return g.textE(d-1) + " IS DISTINCT FROM " + g.textE(d-1) },
		func() string { return g.intE(d-1) + " IS NOT DISTINCT FROM " + g.intE(d-1) },
		func() string { return "NOT (" + g.boolE(d-1) + ")" },
		func() string { return "(" + g.boolE(d-1) + " AND " + g.boolE(d-1) + ")" },
		func() string { return "(" + g.boolE(d-1) + " OR " + g.boolE(d-1) + ")" },
		func() string { return "coalesce(" + g.boolE(d-1) + ", false)" },
		func() string { return g.textE(d-1) + " IS NULL" },
		func() string { return g.timeE(d-1) + " < TIMESTAMPTZ '2026-01-20 00:00:00+00'" },
	)
}

func (g exprGen) timeE(d int) string {
	if d <= 0 {
		return "time"
	}
	units := []string{"hour", "day", "week", "month", "quarter", "year"}
	ivUnits := []string{"hour", "day", "week", "month", "year", "minutes"} // PostgreSQL's interval input has no quarter
	return g.pick(func() string { return "time" },
		func() string { return "date_trunc('" + units[g.r.IntN(len(units))] + "', " + g.timeE(d-1) + ")" },
		func() string {
			return "(" + g.timeE(d-1) + " + interval '" + strconv.Itoa(g.r.IntN(40)) + " " + ivUnits[g.r.IntN(len(ivUnits))] + "')"
		},
		func() string { return "(" + g.timeE(d-1) + " AT TIME ZONE 'Europe/Berlin')" },
	)
}

// hasColumn reports whether an expression's text names a column (a
// GROUP BY key must not be constant).
func hasColumn(e string) bool {
	for _, w := range strings.FieldsFunc(e, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) {
		switch w {
		case "i", "f", "s", "b", "host", "dc", "time":
			return true
		}
	}
	return false
}

// randomDialectCase is a row query or a grouped query over random
// expressions of every type.
func randomDialectCase(r *rand.Rand) oracleCase {
	g := exprGen{r}
	d := 1 + r.IntN(3)
	if r.IntN(3) > 0 {
		sel := []string{g.intE(d) + " AS a", g.floatE(d) + " AS b", g.textE(d) + " AS c", g.boolE(d) + " AS d", g.timeE(d) + " AS e"}
		q := "SELECT time, host, dc, " + strings.Join(sel, ", ") + " FROM m"
		if r.IntN(2) == 0 {
			q += " WHERE " + g.boolE(d)
		}
		return oracleCase{silt: q + " ORDER BY time, host, dc LIMIT " + strconv.Itoa(20+r.IntN(200))}
	}
	var key string
	for !hasColumn(key) {
		key = g.pick(func() string { return g.textE(d) }, func() string { return g.intE(d) }, func() string { return g.timeE(d) }, func() string { return g.boolE(d) })
	}
	aggs := []string{"count(*)", "sum(" + g.intE(d) + ")", "avg(" + g.floatE(d) + ")", "max(" + g.textE(d) + ")",
		"count(DISTINCT " + g.textE(d) + ")", "count(*) FILTER (WHERE " + g.boolE(d) + ")", "sum(" + g.intE(d) + ") / count(*)"}
	r.Shuffle(len(aggs), func(i, j int) { aggs[i], aggs[j] = aggs[j], aggs[i] })
	q := "SELECT " + key + " AS k, " + strings.Join(aggs[:2+r.IntN(3)], ", ") + " FROM m"
	if r.IntN(3) == 0 {
		q += " WHERE " + g.boolE(d)
	}
	return oracleCase{silt: q + " GROUP BY 1 ORDER BY 1 NULLS FIRST"}
}
