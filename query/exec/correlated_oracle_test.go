package exec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/query/sql"
)

// The correlated-subquery and WITH RECURSIVE oracle: each case compared
// with PostgreSQL over the dialect table m (NULL tags, sparse fields,
// rewritten and late points; half in a segment, half in the head) and
// the events table ev.

func correlatedCases() []oracleCase {
	var cs []oracleCase
	add := func(s string) { cs = append(cs, oracleCase{silt: s}) }

	// scalar subqueries reading the outer row, in SELECT and WHERE
	add("SELECT host, dc, (SELECT count(*) FROM ev WHERE ev.host = m.host) AS n FROM m WHERE time < TIMESTAMPTZ '2025-11-22 00:00:00+00' ORDER BY time, host, dc")
	add("SELECT time, host, f, (SELECT max(v) FROM ev WHERE ev.host = m.host AND ev.dc = m.dc) AS mv FROM m WHERE i > 180 ORDER BY time, host, dc")
	add("SELECT time, host, i FROM m WHERE i > (SELECT avg(k) * 20 FROM ev WHERE ev.dc = m.dc) ORDER BY time, host, dc")
	add("SELECT time, host, f FROM m WHERE f = (SELECT max(f) FROM m AS x WHERE x.host = m.host) ORDER BY host, time")
	add("SELECT time, host, dc, i FROM m AS a WHERE i = (SELECT max(i) FROM m b WHERE b.dc = a.dc) ORDER BY dc, time, host")
	add("SELECT time, host, (SELECT v FROM ev WHERE ev.host = m.host AND ev.time = m.time) AS v FROM m WHERE host = 'host_0' AND time < TIMESTAMPTZ '2025-12-10 00:00:00+00' ORDER BY time")
	add("SELECT time, host, (SELECT min(ev.time) FROM ev WHERE ev.host = m.host AND ev.time > m.time) AS next_ev FROM m WHERE host IN ('host_0', 'host_2') AND time < TIMESTAMPTZ '2025-11-25 00:00:00+00' ORDER BY time, host")
	add("SELECT time, host, f - (SELECT avg(f) FROM m x WHERE x.host IS NOT DISTINCT FROM m.host) AS dev FROM m WHERE i > 190 ORDER BY time, host, dc")
	add("SELECT DISTINCT host, (SELECT count(*) FROM m x WHERE x.host = m.host AND x.b) AS nb FROM m ORDER BY host")
	add("SELECT time, host, s, (SELECT count(*) FROM m x WHERE x.s = m.s AND x.time <= m.time) AS seen FROM m WHERE host = 'host_1' AND time < TIMESTAMPTZ '2025-11-24 00:00:00+00' ORDER BY time")
	add("SELECT time, host, i FROM m WHERE (SELECT count(*) FROM ev WHERE ev.host = m.host AND ev.k = m.i) > 0 ORDER BY time, host, dc")
	add("SELECT host, dc, (SELECT sum(k) FROM ev WHERE ev.host = m.host) + i AS x FROM m WHERE i > 185 ORDER BY time, host, dc")
	add("SELECT time, host, (SELECT ev.v FROM ev WHERE ev.host = m.host ORDER BY ev.time DESC LIMIT 1) AS last_v FROM m WHERE i > 190 ORDER BY time, host, dc")
	add("SELECT time, host, (SELECT ev.k FROM ev WHERE ev.host = m.host) AS many FROM m WHERE host = 'host_0'")
	add("SELECT time, dc, (SELECT count(*) FROM ev WHERE ev.dc = m.dc AND ev.host IS NULL) AS anon FROM m WHERE host IS NULL AND time < TIMESTAMPTZ '2025-11-23 00:00:00+00' ORDER BY time, dc")
	add("SELECT time, host, CASE WHEN f > (SELECT avg(v) FROM ev WHERE ev.host = m.host) THEN 'above' ELSE 'below' END AS side FROM m WHERE i > 185 ORDER BY time, host, dc")
	// EXISTS / NOT EXISTS
	add("SELECT time, host, i FROM m WHERE EXISTS (SELECT 1 FROM ev WHERE ev.host = m.host AND ev.time = m.time) ORDER BY time, host")
	add("SELECT count(*) FROM m WHERE NOT EXISTS (SELECT 1 FROM ev WHERE ev.host = m.host AND ev.time = m.time)")
	add("SELECT host, count(*) FROM m WHERE EXISTS (SELECT 1 FROM ev WHERE ev.dc = m.dc AND ev.k = 8) GROUP BY host ORDER BY host")
	add("SELECT count(*) FROM m WHERE NOT EXISTS (SELECT 1 FROM ev WHERE ev.host = m.host)")
	add("SELECT time, host, dc FROM m a WHERE EXISTS (SELECT 1 FROM m b WHERE b.host = a.host AND b.time = a.time AND b.dc IS DISTINCT FROM a.dc) ORDER BY time, host, dc")
	add("SELECT time, host, EXISTS (SELECT 1 FROM ev WHERE ev.host = m.host AND ev.v > m.f * 3) AS beaten FROM m WHERE host = 'host_2' AND time < TIMESTAMPTZ '2025-11-25 00:00:00+00' ORDER BY time")
	add("SELECT count(*) FROM m WHERE i > 100 AND EXISTS (SELECT 1 FROM ev WHERE ev.host = m.host AND ev.time BETWEEN m.time - interval '6 hours' AND m.time)")
	add("SELECT dc FROM (SELECT DISTINCT dc FROM m) d WHERE NOT EXISTS (SELECT 1 FROM ev WHERE ev.dc = d.dc) ORDER BY dc")
	// IN (SELECT ...) correlated
	add("SELECT time, host, i FROM m WHERE i IN (SELECT k FROM ev WHERE ev.host = m.host) AND time < TIMESTAMPTZ '2025-12-01 00:00:00+00' ORDER BY time, host, dc")
	add("SELECT count(*) FROM m WHERE i NOT IN (SELECT k FROM ev WHERE ev.host = m.host)")
	add("SELECT count(*) FROM m WHERE i NOT IN (SELECT k * 25 FROM ev WHERE ev.dc = m.dc)")
	add("SELECT time, host, i IN (SELECT k FROM ev WHERE ev.dc = m.dc AND ev.time < m.time) AS hit FROM m WHERE host = 'host_3' AND time < TIMESTAMPTZ '2025-11-28 00:00:00+00' ORDER BY time")
	add("SELECT count(*) FROM m WHERE host IN (SELECT host FROM ev WHERE ev.dc = m.dc)")
	add("SELECT time, host, f FROM m WHERE f IN (SELECT v FROM ev WHERE ev.host = m.host UNION SELECT f FROM m x WHERE x.dc = m.dc AND x.i > 195) ORDER BY time, host, dc")
	// in an aggregated query: over the group keys, in the select list,
	// HAVING and ORDER BY
	add("SELECT host, count(*) AS n, (SELECT count(*) FROM ev WHERE ev.host = m.host) AS evn FROM m GROUP BY host ORDER BY host")
	add("SELECT dc, max(i) AS mi, (SELECT max(k) FROM ev WHERE ev.dc = m.dc) AS mk FROM m GROUP BY dc ORDER BY dc")
	add("SELECT host, dc, avg(f) FROM m GROUP BY host, dc HAVING avg(f) > (SELECT avg(v) / 5 FROM ev WHERE ev.host = m.host) ORDER BY host, dc")
	add("SELECT host, count(*) FROM m GROUP BY host ORDER BY (SELECT count(*) FROM ev WHERE ev.host = m.host) DESC, host")
	// correlated subqueries over joins, CTEs and set operations
	add("WITH h AS (SELECT host, dc, max(i) AS mi FROM m GROUP BY host, dc) SELECT host, dc, mi, (SELECT count(*) FROM ev WHERE ev.host = h.host AND ev.k * 25 < h.mi) AS n FROM h ORDER BY host, dc")
	add("SELECT m.time, m.host, ev.v FROM m JOIN ev ON m.host = ev.host AND m.time = ev.time WHERE ev.v > (SELECT avg(v) FROM ev e2 WHERE e2.host = m.host) ORDER BY 1, 2")
	add("SELECT host, (SELECT count(*) FROM ev WHERE ev.host = x.host) AS n FROM (SELECT host FROM m UNION SELECT host FROM ev) x ORDER BY host")
	add("SELECT host, n FROM (SELECT host, (SELECT count(*) FROM m WHERE m.host = ev.host) AS n FROM ev WHERE k = 8) t ORDER BY host, n")
	add("SELECT time, host, i, sum(i) OVER (ORDER BY time) AS run FROM m WHERE EXISTS (SELECT 1 FROM ev WHERE ev.host = m.host AND ev.k = m.i % 9) AND host = 'host_1' ORDER BY time")
	add("SELECT time, host FROM m WHERE EXISTS (SELECT 1 FROM ev WHERE ev.host = m.host AND ev.time = m.time AND EXISTS (SELECT 1 FROM m x WHERE x.host = ev.host AND x.time > ev.time AND x.i > 190)) ORDER BY time, host")
	// subqueries nested in correlated ones: correlated with the one
	// around them (on other columns than it is with its own outer query),
	// and reading a query two and three levels out
	add("SELECT host, dc, (SELECT count(*) FROM ev WHERE ev.host = d.host AND EXISTS (SELECT 1 FROM m x WHERE x.dc = ev.dc AND x.i > 190)) AS n FROM (SELECT DISTINCT host, dc FROM m) d ORDER BY 1, 2")
	add("SELECT host, dc, (SELECT count(*) FROM ev WHERE EXISTS (SELECT 1 FROM m x WHERE x.host = d.host AND x.dc = ev.dc AND x.i > 190)) AS n FROM (SELECT DISTINCT host, dc FROM m) d ORDER BY 1, 2")
	add("SELECT dc FROM (SELECT DISTINCT dc FROM m) d WHERE EXISTS (SELECT 1 FROM ev WHERE ev.k > 5 AND EXISTS (SELECT 1 FROM m x WHERE x.dc = d.dc AND x.host = ev.host AND x.time = ev.time)) ORDER BY 1")
	add("SELECT host, dc FROM (SELECT DISTINCT host, dc FROM m) d WHERE NOT EXISTS (SELECT 1 FROM ev WHERE ev.dc = d.dc AND NOT EXISTS (SELECT 1 FROM m x WHERE x.host = ev.host AND x.dc = d.dc)) ORDER BY 1, 2")
	add("SELECT time, host, i FROM m WHERE host = 'host_0' AND time < TIMESTAMPTZ '2025-12-20 00:00:00+00' AND EXISTS (SELECT 1 FROM ev WHERE ev.host = m.host AND ev.k IN (SELECT x.i % 9 FROM m x WHERE x.dc = ev.dc AND x.time >= m.time AND x.time < m.time + interval '2 days')) ORDER BY time")
	add("SELECT host, (SELECT sum(k) FROM ev WHERE ev.k > (SELECT count(*) FROM m x WHERE x.host = d.host AND x.i > 180)) AS s FROM (SELECT DISTINCT host FROM m) d ORDER BY 1")
	add("SELECT dc FROM (SELECT DISTINCT dc FROM m) d WHERE EXISTS (SELECT 1 FROM ev WHERE ev.dc = d.dc AND EXISTS (SELECT 1 FROM m x WHERE x.host = ev.host AND EXISTS (SELECT 1 FROM ev e2 WHERE e2.host = x.host AND e2.dc = d.dc AND e2.k = 8))) ORDER BY 1")
	add("SELECT host FROM (SELECT DISTINCT host FROM m) d WHERE EXISTS (WITH c AS (SELECT k FROM ev WHERE ev.host = d.host) SELECT 1 FROM ev e2 WHERE e2.dc = 'b' AND e2.k IN (SELECT k FROM c)) ORDER BY 1")
	add("SELECT dc, count(*) AS n FROM m GROUP BY dc HAVING EXISTS (SELECT 1 FROM ev WHERE ev.dc = m.dc AND EXISTS (SELECT 1 FROM m x WHERE x.dc = m.dc AND x.host = ev.host AND x.i > 195)) ORDER BY dc")
	add("SELECT host, EXISTS (SELECT 1 FROM ev WHERE ev.k = 8 AND EXISTS (SELECT 1 FROM m x WHERE x.host = d.host AND x.time = ev.time)) AS e FROM (SELECT DISTINCT host FROM m) d ORDER BY 1")
	add("SELECT host, (SELECT max(v) FROM ev WHERE ev.host = d.host AND ev.v < (SELECT max(f) FROM m x WHERE x.host = d.host AND x.dc IS NOT DISTINCT FROM ev.dc)) AS mv FROM (SELECT DISTINCT host FROM m) d ORDER BY 1")
	add("SELECT time, host, (SELECT count(*) FROM ev WHERE ev.host = m.host AND ev.time < m.time AND ev.k = (SELECT min(x.i) % 9 FROM m x WHERE x.host = m.host AND x.time = m.time)) AS n FROM m WHERE host = 'host_2' AND time < TIMESTAMPTZ '2025-12-01 00:00:00+00' ORDER BY time")
	// a CTE of the outer subquery read in the nested one, which is
	// correlated with it too; two levels out through a FROM subquery and
	// a set operation's arm
	add("SELECT host FROM (SELECT DISTINCT host FROM m) d WHERE EXISTS (WITH c AS (SELECT k, dc FROM ev WHERE ev.host = d.host) SELECT 1 FROM ev e2 WHERE e2.k > 6 AND EXISTS (SELECT 1 FROM c WHERE c.dc = e2.dc AND c.k = e2.k)) ORDER BY 1")
	add("SELECT host, (SELECT count(*) FROM ev WHERE ev.k > 4 AND ev.v < (SELECT max(y.f) FROM (SELECT f FROM m x WHERE x.host = d.host AND x.dc IS NOT DISTINCT FROM ev.dc) y)) AS n FROM (SELECT DISTINCT host FROM m) d ORDER BY 1")
	add("SELECT dc, (SELECT count(*) FROM ev WHERE ev.dc = d.dc AND ev.k IN (SELECT i % 9 FROM m x WHERE x.dc = d.dc AND x.host IS NOT DISTINCT FROM ev.host UNION SELECT 8)) AS n FROM (SELECT DISTINCT dc FROM m) d ORDER BY 1")
	add("SELECT host FROM (SELECT DISTINCT host FROM m) d WHERE (SELECT count(*) FROM ev WHERE EXISTS (SELECT 1 FROM m x WHERE x.host = d.host AND x.time = ev.time)) > 2 ORDER BY 1")

	// WITH RECURSIVE
	add("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 50) SELECT sum(n), count(*), max(n) FROM t")
	add("WITH RECURSIVE fib(a, b, n) AS (SELECT 0::bigint, 1::bigint, 1 UNION ALL SELECT b, a + b, n + 1 FROM fib WHERE n < 60) SELECT n, a FROM fib ORDER BY n")
	add("WITH RECURSIVE t(x) AS (SELECT 1 UNION SELECT (x * 7) % 23 FROM t) SELECT x FROM t ORDER BY x")
	add("WITH RECURSIVE t(x) AS (SELECT 1 UNION ALL SELECT (x * 7) % 23 FROM t WHERE x <> 16) SELECT count(*), sum(x) FROM t")
	add("WITH RECURSIVE d(day) AS (SELECT TIMESTAMPTZ '2025-11-20 00:00:00+00' UNION ALL SELECT day + interval '1 day' FROM d WHERE day < TIMESTAMPTZ '2025-12-05 00:00:00+00') SELECT d.day, (SELECT count(*) FROM m WHERE m.time >= d.day AND m.time < d.day + interval '1 day') AS n FROM d ORDER BY 1")
	add("WITH RECURSIVE walk(t, host, steps) AS (SELECT min(time), 'host_0'::text, 0 FROM m WHERE host = 'host_0' UNION ALL SELECT (SELECT min(time) FROM m WHERE m.host = walk.host AND m.time > walk.t + interval '1 day'), host, steps + 1 FROM walk WHERE steps < 12) SELECT * FROM walk ORDER BY steps")
	add("WITH RECURSIVE r(i, s) AS (SELECT i, s FROM m WHERE i > 195 UNION SELECT i - 1, s FROM r WHERE i > 193) SELECT i, s, count(*) OVER (PARTITION BY i) AS c FROM r ORDER BY i, s NULLS FIRST")
	add("WITH RECURSIVE hosts AS (SELECT DISTINCT host FROM m WHERE host IS NOT NULL), chain(h, depth) AS (SELECT min(host), 1 FROM hosts UNION ALL SELECT (SELECT min(host) FROM hosts WHERE host > chain.h), depth + 1 FROM chain WHERE h IS NOT NULL) SELECT * FROM chain WHERE h IS NOT NULL ORDER BY depth")
	add("WITH RECURSIVE t(n, label) AS (SELECT 1, 'a'::text UNION ALL SELECT n + 1, label || (n % 10)::text FROM t WHERE n < 10) SELECT n, label, length(label) FROM t ORDER BY n")
	add("WITH RECURSIVE t(n) AS (SELECT 1.5::float8 UNION ALL SELECT n * 2 FROM t WHERE n < 1000) SELECT n FROM t ORDER BY n")
	add("WITH RECURSIVE t(n) AS (SELECT k FROM ev WHERE host = 'host_9' AND time < TIMESTAMPTZ '2025-11-25 00:00:00+00' UNION SELECT n + 3 FROM t WHERE n < 20) SELECT n, count(*) FROM t GROUP BY n ORDER BY n")
	add("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT a.n, b.n FROM t a JOIN t b ON b.n = a.n + 1 ORDER BY 1")
	add("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3), u AS (SELECT n * 10 AS m FROM t) SELECT * FROM u UNION ALL SELECT n FROM t ORDER BY 1")
	add("WITH RECURSIVE b(hi, n) AS (SELECT max(time), 0 FROM m UNION ALL SELECT hi - interval '5 days', n + 1 FROM b WHERE n < 6) SELECT n, hi, (SELECT count(*) FROM m WHERE time <= b.hi) AS c FROM b ORDER BY n")
	add("WITH RECURSIVE nope AS (SELECT host, count(*) AS n FROM m GROUP BY host) SELECT * FROM nope ORDER BY host")
	return cs
}

// TestCorrelatedAgainstPostgres runs the correlated-subquery and
// recursive cases over an engine whose tables are half in segments, half
// in the head.
func TestCorrelatedAgainstPostgres(t *testing.T) {
	o, eng := relationalFixture(t)
	var tl tally
	for _, c := range correlatedCases() {
		check(t, o, eng, c, &tl)
	}
	t.Logf("correlated oracle: %d queries run, %d passed, %d rejected by the front end, %d errors on both sides",
		tl.run, tl.passed, tl.rejected, tl.errorsAgreed)
	if tl.rejected > 0 {
		t.Errorf("%d queries rejected by the front end", tl.rejected)
	}
}

// TestRecursionLimit checks that a recursive query that never stops
// fails with the recursion limit (a memory-limit error) under a memory
// limit and without one, and that one that stops in time runs.
func TestRecursionLimit(t *testing.T) {
	eng := loadEngine(t, dialectTable, dialectDataset())
	schemas, _ := eng.Tables(testDB)
	cat, names := Catalog(schemas)
	run := func(text string, lim Limits) error {
		q, err := sql.Compile(text, cat, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		_, err = RunLimited(context.Background(), q, EngineSource{Engine: eng, DB: testDB}, names, lim)
		return err
	}
	const forever = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"
	for _, lim := range []Limits{{}, {MaxMemoryBytes: 2 << 20}} {
		err := run(forever, lim)
		if !errors.Is(err, ErrRecursionLimit) || !errors.Is(err, ErrMemoryLimit) {
			t.Fatalf("endless recursion under %d bytes: %v, want the recursion limit", lim.MaxMemoryBytes, err)
		}
		if want := recursionLimit(lim); !strings.Contains(err.Error(), "after "+itoa(want)+" rounds") {
			t.Errorf("endless recursion under %d bytes: %v, want it to name the %d-round limit", lim.MaxMemoryBytes, err, want)
		}
	}
	// Wide rows reach the memory limit before the round limit.
	wide := "WITH RECURSIVE t(n, s) AS (SELECT 1, (SELECT string_agg(s, ',') FROM m) UNION ALL SELECT n + 1, s FROM t) SELECT count(*) FROM t"
	if err := run(wide, Limits{MaxMemoryBytes: 1 << 20}); !errors.Is(err, ErrMemoryLimit) || errors.Is(err, ErrRecursionLimit) {
		t.Errorf("wide endless recursion under 1 MiB: %v, want the memory limit", err)
	}
	// A correlated subquery's rows count against the same limit.
	if err := run("SELECT count(*) FROM m WHERE i IN (SELECT x.i FROM m x CROSS JOIN m y WHERE x.host = m.host)", Limits{MaxMemoryBytes: 200 << 10}); !errors.Is(err, ErrMemoryLimit) {
		t.Errorf("a correlated subquery over a cross join under 200 KiB: %v, want the memory limit", err)
	}
	if err := run("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 999) SELECT count(*) FROM t", Limits{MaxMemoryBytes: 2 << 20}); err != nil {
		t.Errorf("999 rounds under 2 MiB: %v", err)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
