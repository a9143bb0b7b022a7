package sql

import (
	"strings"
	"testing"
)

// TestUnsupported checks that every construct outside the dialect is an
// "unsupported" error naming it.
func TestUnsupported(t *testing.T) {
	cases := []struct{ sql, construct string }{
		// FROM
		{"SELECT * FROM (cpu JOIN mem USING (hostname)) AS j", "alias on a JOIN"},
		{"SELECT * FROM cpu JOIN mem USING (hostname) AS j", "USING ... AS alias"},
		{"SELECT n FROM cpu WHERE EXISTS (SELECT 1 FROM mem HAVING max(cpu.n) > 0)", "aggregate of the enclosing query's columns in a subquery"},
		{"SELECT * FROM LATERAL (SELECT 1) s", "LATERAL"},
		{"SELECT * FROM cpu, LATERAL (SELECT 1) x", "LATERAL"},
		{"SELECT * FROM generate_series(1, 3)", "function in FROM"},
		{"SELECT * FROM ONLY cpu", "ONLY"},
		{"SELECT * FROM cpu TABLESAMPLE SYSTEM (10)", "TABLESAMPLE"},
		{"SELECT * FROM cpu AS c(a, b)", "column aliases in FROM"},
		{"SELECT * FROM db.public.cpu", "database-qualified table name"},
		// statement level
		{"WITH RECURSIVE x(a) AS (SELECT 1 UNION ALL SELECT a + 1 FROM x WHERE a < 3 LIMIT 2) SELECT * FROM x", "ORDER BY, LIMIT, OFFSET or WITH on a recursive query"},
		{"SELECT n FROM cpu WHERE n > ALL (SELECT n FROM mem)", "ALL (subquery)"},
		{"SELECT n FROM cpu WHERE n < ANY (SELECT n FROM mem)", "ANY/SOME with an operator other than ="},
		{"VALUES (1), (2)", "VALUES"},
		{"SELECT sum(n) OVER w FROM cpu WINDOW w AS (ORDER BY time)", "WINDOW clause"},
		{"SELECT * INTO t2 FROM cpu", "SELECT INTO"},
		{"SELECT * FROM cpu FOR UPDATE", "locking clause (FOR UPDATE/SHARE)"},
		{"SELECT n FROM cpu WINDOW w AS (ORDER BY time)", "WINDOW clause"},
		{"SELECT n FROM cpu ORDER BY n FETCH FIRST 3 ROWS WITH TIES", "FETCH ... WITH TIES"},
		{"SELECT count(*) FROM cpu GROUP BY DISTINCT hostname", "GROUP BY DISTINCT"},
		{"SELECT 1; SELECT 2", "multiple statements"},
		{"SELECT n FROM cpu;SELECT n FROM cpu;", "multiple statements"},
		{"INSERT INTO cpu (n) VALUES (1)", "INSERT"},
		{"UPDATE cpu SET n = 1", "UPDATE"},
		{"DELETE FROM cpu", "DELETE"},
		{"MERGE INTO cpu USING mem ON true WHEN MATCHED THEN DELETE", "MERGE"},
		{"CREATE TABLE t (a int)", "CREATE TABLE"},
		{"CREATE TABLE t AS SELECT 1", "CREATE TABLE AS"},
		{"CREATE INDEX i ON cpu (n)", "CREATE INDEX"},
		{"CREATE VIEW v AS SELECT 1", "CREATE VIEW"},
		{"DROP TABLE cpu", "DROP"},
		{"ALTER TABLE cpu ADD COLUMN x int", "ALTER TABLE"},
		{"TRUNCATE cpu", "TRUNCATE"},
		{"BEGIN", "transaction control (BEGIN/COMMIT/ROLLBACK)"},
		{"SET search_path = x", "SET"},
		{"SHOW server_version", "SHOW server_version"},
		{"EXPLAIN INSERT INTO cpu VALUES (1)", "EXPLAIN of INSERT"},
		{"EXPLAIN (FORMAT JSON) SELECT 1", "EXPLAIN (FORMAT JSON)"},
		{"COPY cpu TO STDOUT", "COPY"},
		{"GRANT SELECT ON cpu TO bob", "GRANT"},
		{"CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", "CREATE FUNCTION"},
		// grouping
		{"SELECT count(*) FROM cpu GROUP BY GROUPING SETS ((hostname), ())", "GROUPING SETS"},
		{"SELECT count(*) FROM cpu GROUP BY ROLLUP (hostname)", "ROLLUP"},
		{"SELECT count(*) FROM cpu GROUP BY CUBE (hostname)", "CUBE"},
		{"SELECT count(*) FROM cpu GROUP BY date_bin('1m', time, '2000-01-01'), date_bin('1h', time, '2000-01-01')", "more than one time key in GROUP BY"},
		{"SELECT count(*) FROM cpu GROUP BY time, date_trunc('hour', time)", "more than one time key in GROUP BY"},
		// aggregates
		{"SELECT sum(n) OVER (ORDER BY u RANGE BETWEEN 0.5 PRECEDING AND CURRENT ROW) FROM cpu", "RANGE frame over an unsigned integer with a fractional offset"},
		{"SELECT sum(n) OVER (ORDER BY time GROUPS 2 PRECEDING) FROM cpu", "GROUPS frame"},
		{"SELECT nth_value(n, n) OVER (ORDER BY time) FROM cpu", "nth_value() with a non-constant or non-integer position"},
		{"SELECT stddev(n) OVER (ORDER BY time) FROM cpu", "stddev() as a window function"},
		{"SELECT sum(DISTINCT n) FROM cpu", "sum(DISTINCT ...)"},
		{"SELECT sum(n ORDER BY time) FROM cpu", "ORDER BY inside an aggregate"},
		{"SELECT first(n, hostname) FROM cpu", "first() ordered by something other than time"},
		{"SELECT last(n ORDER BY n) FROM cpu", "last() ordered by something other than time"},
		{"SELECT first(n ORDER BY time, n) FROM cpu", "first() ordered by more than time"},
		{"SELECT percentile_cont(n) WITHIN GROUP (ORDER BY n) FROM cpu", "non-constant percentile fraction"},
		{"SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY n) FROM cpu", "ARRAY"},
		{"SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n DESC) FROM cpu", "percentile_disc with ORDER BY ... DESC"},
		{"SELECT string_agg(DISTINCT msg, ',') FROM cpu", "string_agg(DISTINCT ...)"},
		{"SELECT rank(1) WITHIN GROUP (ORDER BY n) FROM cpu", "function rank()"},
		{"SELECT array_agg(n) FROM cpu", "function array_agg()"},
		{"SELECT count(*)", "aggregate without FROM"},
		// expressions
		{"SELECT n FROM cpu WHERE n = ANY (ARRAY[1, 2])", "ANY"},
		{"SELECT n FROM cpu WHERE n > ALL (ARRAY[1, 2])", "ALL"},
		{"SELECT n FROM cpu WHERE hostname SIMILAR TO 'a%'", "SIMILAR TO"},
		{"SELECT n FROM cpu WHERE hostname LIKE 'a!%' ESCAPE '!'", "LIKE ... ESCAPE"},
		{"SELECT n FROM cpu WHERE (1, 2) IN (SELECT 1, 2)", "row constructor IN (subquery)"},
		{"SELECT n FROM cpu WHERE n IN (1, n)", "IN with non-constant values"},
		{"SELECT hostname COLLATE \"C\" FROM cpu", "COLLATE"},
		{"SELECT ARRAY[1, 2] FROM cpu", "ARRAY"},
		{"SELECT ROW(1, 2) FROM cpu", "ROW constructor"},
		{"SELECT $1 FROM cpu", "parameter $1"},
		{"SELECT n FROM cpu WHERE hostname ~ region", "non-constant pattern"},
		{"SELECT myschema.f(n) FROM cpu", "function myschema.f()"},
		{"SELECT CURRENT_DATE FROM cpu", "CURRENT DATE"},
		{"SELECT LOCALTIMESTAMP FROM cpu", "LOCALTIMESTAMP"},
		{"SELECT CURRENT_TIMESTAMP(3) FROM cpu", "CURRENT TIMESTAMP"},
		{"SELECT CURRENT_USER FROM cpu", "CURRENT USER"},
		{"SELECT GROUPING(hostname) FROM cpu GROUP BY hostname", "GROUPING"},
		{"SELECT n ^ 2 FROM cpu", "operator ^"},
		{"SELECT @ n FROM cpu", "prefix operator @"},
		{"SELECT n::numeric(10, 2) FROM cpu", "type modifier on numeric"},
		{"SELECT interval '1' hour FROM cpu", "interval field qualifier"},
		{"SELECT n::int[] FROM cpu", "array type int4[]"},
		{"SELECT n::json FROM cpu", "type json"},
		{"SELECT n::myschema.t FROM cpu", "type myschema.t"},
		{"SELECT interval '1 hour' * n FROM cpu", "interval arithmetic"},
		{"SELECT date_bin(interval '1 hour', time, time) FROM cpu", "date_bin with a non-constant origin"},
		{"SELECT date_trunc(msg, time) FROM cpu", "date_trunc with a non-constant unit"},
		{"SELECT to_timestamp('2020', 'YYYY') FROM cpu", "to_timestamp(text, format)"},
		{"SELECT substring(msg from 'a.') FROM cpu", "substring with a regular expression"},
		{"SELECT regexp_replace(msg, msg, 'x') FROM cpu", "regexp_replace with a non-constant pattern, replacement or flags"},
		{"SELECT time + (n * interval '1 second') FROM cpu", "interval arithmetic"},
		{"SELECT time AT TIME ZONE '+02' FROM cpu", "time zone '+02'"},
		{"SELECT n FROM cpu WHERE now() - time > interval '1 month'", "interval comparison with months or years"},
		{"SELECT extract(month FROM now() - time) FROM cpu", "EXTRACT(month FROM interval)"},
		{"SELECT count(cpu.*) FROM cpu", "* in an expression"},
		{"SELECT n FROM cpu LIMIT (SELECT 1)", "subquery in LIMIT"},
		{"SELECT n FROM cpu ORDER BY n USING <", "ORDER BY ... USING"},
		{"SELECT FROM cpu", "empty select list"},
		{"SELECT 1 WHERE true", "SELECT without FROM"},
		{"SELECT cpu.n FROM public.cpu WHERE db.public.cpu.n > 0", "database-qualified column reference"},
	}
	for _, c := range cases {
		q, err := Compile(c.sql, testCatalog(), testNow)
		if err == nil {
			t.Errorf("%s: no error; plan:\n%s", c.sql, q)
			continue
		}
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: %T %v", c.sql, err, err)
			continue
		}
		if e.Code != CodeUnsupported || e.Construct != c.construct || e.SQLState != "0A000" ||
			!strings.Contains(e.Message, c.construct) || !strings.Contains(e.Error(), "not supported") {
			t.Errorf("%s:\n got %s %q: %v\nwant unsupported %q", c.sql, e.Code, e.Construct, e, c.construct)
		}
	}
}

// TestErrors checks the other errors: PostgreSQL's wording, codes and
// SQLSTATEs.
func TestErrors(t *testing.T) {
	cases := []struct{ sql, code, state, msg string }{
		// syntax
		{"SELEC 1", CodeSyntax, "42601", `syntax error at or near "SELEC"`},
		{"SELECT n FROM cpu WHERE", CodeSyntax, "42601", "syntax error at end of input"},
		{"", CodeSyntax, "42601", "empty query"},
		{"  ;  ", CodeSyntax, "42601", "empty query"},
		{"-- just a comment", CodeSyntax, "42601", "empty query"},
		{"SELECT 'unterminated", CodeSyntax, "42601", "unterminated quoted string"},
		{"SELECT n FROM cpu GROUP BY 'x'", CodeSyntax, "42601", "non-integer constant in GROUP BY"},
		{"SELECT n FROM cpu ORDER BY 1.5", CodeSyntax, "42601", "non-integer constant in ORDER BY"},
		{"SELECT *", CodeSyntax, "42601", "SELECT * with no tables specified is not valid"},
		// names
		{"SELECT * FROM nope", CodeUndefinedTable, "42P01", `relation "nope" does not exist`},
		{"SELECT * FROM other.cpu", CodeUndefinedTable, "42P01", `relation "other.cpu" does not exist`},
		{`SELECT * FROM "CPU"`, CodeUndefinedTable, "42P01", `relation "CPU" does not exist`},
		{"SELECT nope FROM cpu", CodeUndefinedColumn, "42703", `column "nope" does not exist`},
		{"SELECT c.nope FROM cpu c", CodeUndefinedColumn, "42703", `column c.nope does not exist`},
		{"SELECT cpu.n FROM cpu c", CodeUndefinedTable, "42P01", `invalid reference to FROM-clause entry for table "cpu"`},
		{"SELECT x.n FROM cpu", CodeUndefinedTable, "42P01", `missing FROM-clause entry for table "x"`},
		{"SELECT public.cpu.n FROM cpu c", CodeUndefinedTable, "42P01", `missing FROM-clause entry for table "public.cpu"`},
		{"SELECT x.* FROM cpu", CodeUndefinedTable, "42P01", `missing FROM-clause entry for table "x"`},
		{"SELECT nope(1) FROM cpu", CodeUnsupported, "0A000", "function nope() is not supported"},
		{"SELECT n FROM cpu WHERE minute > 0", CodeUndefinedColumn, "42703", `column "minute" does not exist`},
		{"SELECT n AS m FROM cpu WHERE m > 0", CodeUndefinedColumn, "42703", `column "m" does not exist`},
		{"SELECT hostname AS a, region AS a FROM cpu ORDER BY a", CodeAmbiguous, "42702", `ORDER BY "a" is ambiguous`},
		{"SELECT hostname AS a, region AS a, count(*) FROM cpu GROUP BY a", CodeAmbiguous, "42702", `GROUP BY "a" is ambiguous`},
		// grouping
		{"SELECT hostname, usage_user FROM cpu GROUP BY hostname", CodeGrouping, "42803", `column "cpu.usage_user" must appear in the GROUP BY clause or be used in an aggregate function`},
		{"SELECT c.hostname, c.n FROM cpu c GROUP BY c.hostname", CodeGrouping, "42803", `column "c.n" must appear in the GROUP BY clause`},
		{"SELECT time, max(n) FROM cpu", CodeGrouping, "42803", `column "cpu.time" must appear in the GROUP BY clause`},
		{"SELECT *, count(*) FROM cpu", CodeGrouping, "42803", `column "cpu.time" must appear`},
		{"SELECT time, count(*) FROM cpu GROUP BY date_trunc('hour', time)", CodeGrouping, "42803", `column "cpu.time" must appear`},
		{"SELECT hostname AS region FROM cpu GROUP BY region", CodeGrouping, "42803", `column "cpu.hostname" must appear`},
		{"SELECT count(*) FROM cpu HAVING hostname = 'x'", CodeGrouping, "42803", `column "cpu.hostname" must appear`},
		{"SELECT hostname FROM cpu GROUP BY hostname ORDER BY n", CodeGrouping, "42803", `column "cpu.n" must appear`},
		{"SELECT count(*) FROM cpu GROUP BY count(*)", CodeGrouping, "42803", "aggregate functions are not allowed in GROUP BY"},
		{"SELECT count(*) FROM cpu GROUP BY 1", CodeGrouping, "42803", "aggregate functions are not allowed in GROUP BY"},
		{"SELECT sum(max(n)) FROM cpu", CodeGrouping, "42803", "aggregate function calls cannot be nested"},
		{"SELECT n FROM cpu WHERE count(*) > 1", CodeGrouping, "42803", "aggregate functions are not allowed in WHERE"},
		{"SELECT n FROM cpu LIMIT count(*)", CodeGrouping, "42803", "aggregate functions are not allowed in LIMIT"},
		{"SELECT DISTINCT hostname FROM cpu ORDER BY n", CodeGrouping, "42P10", "for SELECT DISTINCT, ORDER BY expressions must appear in select list"},
		// positions
		{"SELECT n FROM cpu ORDER BY 2", CodeInvalid, "42P10", "ORDER BY position 2 is not in select list"},
		{"SELECT n FROM cpu ORDER BY 0", CodeInvalid, "42P10", "ORDER BY position 0 is not in select list"},
		{"SELECT n FROM cpu GROUP BY 5", CodeInvalid, "42P10", "GROUP BY position 5 is not in select list"},
		// types
		{"SELECT CASE WHEN ok THEN 1 ELSE msg END FROM cpu", CodeType, "42804", "CASE types integer and text cannot be matched"},
		{"SELECT coalesce(n, time) FROM cpu", CodeType, "42804", "COALESCE types bigint and timestamp with time zone cannot be matched"},
		{"SELECT lower(n) FROM cpu", CodeUndefinedFunction, "42883", "function lower(bigint) does not exist"},
		{"SELECT n || n FROM cpu", CodeType, "42883", "operator does not exist: bigint || bigint"},
		{"SELECT ok::bigint FROM cpu", CodeType, "42846", "cannot cast type boolean to bigint"},
		{"SELECT n::bool FROM cpu", CodeType, "42846", "cannot cast type bigint to boolean"},
		{"SELECT time::bigint FROM cpu", CodeType, "42846", "cannot cast type timestamp with time zone to bigint"},
		{"SELECT extract(fortnight FROM time) FROM cpu", CodeInvalid, "22023", `unit "fortnight" not recognized for type timestamp with time zone`},
		{"SELECT time AT TIME ZONE 'Mars/Olympus' FROM cpu", CodeInvalid, "22023", `time zone "Mars/Olympus" not recognized`},
		{"SELECT split_part(msg, ',', 0) FROM cpu", CodeInvalid, "22023", "field position must not be zero"},
		{"SELECT now() FILTER (WHERE ok) FROM cpu", CodeUndefinedFunction, "42809", "FILTER specified, but now is not an aggregate function"},
		{"SELECT count(*) FILTER (WHERE count(*) > 1) FROM cpu", CodeGrouping, "42803", "aggregate functions are not allowed in FILTER"},
		{"SELECT sum(hostname) FROM cpu", CodeUndefinedFunction, "42883", "function sum(text) does not exist"},
		{"SELECT avg(time) FROM cpu", CodeUndefinedFunction, "42883", "function avg(timestamp with time zone) does not exist"},
		{"SELECT max(ok) FROM cpu", CodeUndefinedFunction, "42883", "function max(boolean) does not exist"},
		{"SELECT stddev(msg) FROM cpu", CodeUndefinedFunction, "42883", "function stddev(text) does not exist"},
		{"SELECT sum(n, n) FROM cpu", CodeUndefinedFunction, "42883", "function sum(bigint, bigint) does not exist"},
		{"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY hostname) FROM cpu", CodeUndefinedFunction, "42883", "function percentile_cont(double precision ORDER BY text) does not exist"},
		{"SELECT date_bin(5, time) FROM cpu", CodeUndefinedFunction, "42883", "function date_bin(integer, timestamp with time zone) does not exist"},
		{"SELECT date_bin('1h', n) FROM cpu", CodeUndefinedFunction, "42883", "function date_bin(unknown, bigint) does not exist"},
		{"SELECT date_bin('1h') FROM cpu", CodeUndefinedFunction, "42883", "function date_bin(unknown) does not exist"},
		{"SELECT now(1) FROM cpu", CodeUndefinedFunction, "42883", "function now(integer) does not exist"},
		{"SELECT sum(*) FROM cpu", CodeUndefinedFunction, "42809", "sum(*) must be used to call a parameterless aggregate function"},
		{"SELECT now(DISTINCT 1) FROM cpu", CodeUndefinedFunction, "42809", "DISTINCT specified, but now is not an aggregate function"},
		{"SELECT percentile_cont(0.5) FROM cpu", CodeUndefinedFunction, "42809", "WITHIN GROUP is required for ordered-set aggregate percentile_cont"},
		{"SELECT max(n) WITHIN GROUP (ORDER BY n) FROM cpu", CodeUndefinedFunction, "42809", "max is not an ordered-set aggregate, so it cannot have WITHIN GROUP"},
		{"SELECT n FROM cpu WHERE usage_user", CodeType, "42804", "argument of WHERE must be type boolean, not type double precision"},
		{"SELECT n FROM cpu WHERE hostname AND ok", CodeType, "42804", "argument of AND must be type boolean, not type text"},
		{"SELECT n FROM cpu WHERE NOT n", CodeType, "42804", "argument of NOT must be type boolean, not type bigint"},
		{"SELECT count(*) FROM cpu HAVING count(*)", CodeType, "42804", "argument of HAVING must be type boolean, not type bigint"},
		{"SELECT n FROM cpu WHERE hostname = 5", CodeType, "42883", "operator does not exist: text = integer"},
		{"SELECT n FROM cpu WHERE time = 1.5", CodeType, "42883", "operator does not exist: timestamp with time zone = numeric"},
		{"SELECT n FROM cpu WHERE time = n", CodeType, "42883", "operator does not exist: timestamp with time zone = bigint"},
		{"SELECT n FROM cpu WHERE n < time", CodeType, "42883", "operator does not exist: bigint < timestamp with time zone"},
		{"SELECT n FROM cpu WHERE ok = 1", CodeType, "42883", "operator does not exist: boolean = integer"},
		{"SELECT n FROM cpu WHERE usage_user ~ 'a'", CodeType, "42883", "operator does not exist: double precision ~ unknown"},
		{"SELECT n FROM cpu WHERE n LIKE 'a'", CodeType, "42883", "operator does not exist: bigint ~~ unknown"},
		{"SELECT -hostname FROM cpu", CodeType, "42883", "operator does not exist: - text"},
		{"SELECT hostname + 1 FROM cpu", CodeType, "42883", "operator does not exist: text + integer"},
		{"SELECT ok + 1 FROM cpu", CodeType, "42883", "operator does not exist: boolean + integer"},
		{"SELECT usage_user % 2 FROM cpu", CodeType, "42883", "operator does not exist: double precision % integer"},
		{"SELECT usage_user % 2.5 FROM cpu", CodeType, "42883", "operator does not exist: double precision % numeric"},
		{"SELECT 'a' + 'b' FROM cpu", CodeType, "42883", "operator is not unique: unknown + unknown"},
		{"SELECT LIMIT_ FROM cpu LIMIT 'x'", CodeUndefinedColumn, "42703", `column "limit_" does not exist`},
		{"SELECT n FROM cpu LIMIT true", CodeType, "42804", "argument of LIMIT must be type bigint, not type boolean"},
		{"SELECT n FROM cpu LIMIT n", CodeInvalid, "42P10", "argument of LIMIT must not contain variables"},
		// values
		{"SELECT n FROM cpu LIMIT -1", CodeInvalid, "2201W", "LIMIT must not be negative"},
		{"SELECT n FROM cpu OFFSET -1", CodeInvalid, "2201X", "OFFSET must not be negative"},
		{"SELECT n FROM cpu WHERE usage_user = 'abc'", CodeInvalid, "22P02", `invalid input syntax for type double precision: "abc"`},
		{"SELECT n FROM cpu WHERE n = '1.5'", CodeInvalid, "22P02", `invalid input syntax for type bigint: "1.5"`},
		{"SELECT n FROM cpu WHERE ok = 'maybe'", CodeInvalid, "22P02", `invalid input syntax for type boolean: "maybe"`},
		{"SELECT n FROM cpu WHERE time > 'garbage'", CodeInvalid, "22P02", `invalid input syntax for type timestamp with time zone: "garbage"`},
		{"SELECT n FROM cpu WHERE time > '2026-02-30'", CodeInvalid, "22P02", `invalid input syntax for type timestamp with time zone: "2026-02-30"`},
		{"SELECT n FROM cpu WHERE time > now() - interval 'a while'", CodeInvalid, "22P02", `invalid input syntax for type interval: "a while"`},
		{"SELECT n FROM cpu WHERE hostname ~ '('", CodeInvalid, "2201B", "invalid regular expression"},
		{"SELECT n FROM cpu WHERE hostname LIKE 'a\\'", CodeInvalid, "22025", "LIKE pattern must not end with escape character"},
		{"SELECT 1 / 0 FROM cpu", CodeDivisionByZero, "22012", "division by zero"},
		{"SELECT 1.5 % 0 FROM cpu", CodeDivisionByZero, "22012", "division by zero"},
		{"SELECT 9223372036854775807 + 1 FROM cpu", CodeInvalid, "22003", "bigint out of range"},
		{"SELECT -(-9223372036854775807 - 1) FROM cpu", CodeInvalid, "22003", "bigint out of range"},
		{"SELECT 1e300::float8::int8 FROM cpu", CodeInvalid, "22P02", "bigint out of range"},
		{"SELECT percentile_cont(1.5) WITHIN GROUP (ORDER BY n) FROM cpu", CodeInvalid, "22003", "percentile value 1.5 is not between 0 and 1"},
		{"SELECT percentile_cont(-0.1) WITHIN GROUP (ORDER BY n) FROM cpu", CodeInvalid, "22003", "percentile value -0.1 is not between 0 and 1"},
		{"SELECT date_bin('0 s', time, '2000-01-01') FROM cpu", CodeInvalid, "22023", "stride must be greater than zero"},
		{"SELECT date_bin('-1 h', time, '2000-01-01') FROM cpu", CodeInvalid, "22023", "stride must be greater than zero"},
		{"SELECT date_bin('1 month', time, '2000-01-01') FROM cpu", CodeUnsupported, "0A000", "timestamps cannot be binned into intervals containing months or years"},
		{"SELECT date_trunc('fortnight', time) FROM cpu", CodeInvalid, "22023", `unit "fortnight" not recognized`},
		{"SELECT TIMESTAMP '2026-01-01' + interval '1000 years' FROM cpu", CodeInvalid, "22008", "timestamp out of range"},
	}
	for _, c := range cases {
		e := compileErr(t, c.sql)
		if e.Code != c.code || e.SQLState != c.state || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s:\n got %s %s %q\nwant %s %s %q", c.sql, e.Code, e.SQLState, e.Message, c.code, c.state, c.msg)
		}
	}
}

func TestErrorPosition(t *testing.T) {
	cases := []struct {
		sql string
		at  string // the text the error points at
	}{
		{"SELECT nope FROM cpu", "nope FROM"},
		{"SELECT n FROM cpu WHERE hostname = 5", "= 5"},
		{"SELECT hostname, usage_user FROM cpu GROUP BY hostname", "usage_user FROM"},
		{"SELECT 1 FROM cpu JOIN mem ON 5", "5"},
		{"SELEC 1", "SELEC"},
		{"SELECT n FROM cpu ORDER BY 9", "9"},
		{"SELECT sum(n) OVER (ORDER BY time GROUPS 1 PRECEDING) FROM cpu", "sum(n)"},
		{"SELECT 'héllo', nope FROM cpu", "nope"},
		{"SELECT 'héllo' FROM cpu GROUP 5", "5"},
	}
	for _, c := range cases {
		e := compileErr(t, c.sql)
		want := strings.Index(c.sql, c.at) + 1
		if e.Position != want {
			t.Errorf("%s: position %d (%q), want %d", c.sql, e.Position, c.sql[max(e.Position-1, 0):], want)
		}
	}
}

// TestDeepNesting checks that deeply nested expressions are refused
// before they reach the C parser, which would overflow its stack on them
// (a crash of the whole process at about 25,000 levels).
func TestDeepNesting(t *testing.T) {
	deep := []string{
		"SELECT " + strings.Repeat("n + ", 30000) + "n FROM cpu",
		"SELECT " + strings.Repeat("'a' || ", 30000) + "'a' FROM cpu",
		"SELECT " + strings.Repeat("(", 30000) + "n" + strings.Repeat(")", 30000) + " FROM cpu",
		"SELECT n FROM cpu WHERE " + strings.Repeat("NOT ", 30000) + "ok",
		"SELECT " + strings.Repeat("- ", 30000) + "n FROM cpu",
		"SELECT n" + strings.Repeat("::int8", 30000) + " FROM cpu",
		"SELECT " + strings.Repeat("now(", 30000) + strings.Repeat(")", 30000) + " FROM cpu",
		"SELECT n FROM cpu WHERE " + strings.Repeat("(n > 1 AND ", 30000) + "ok" + strings.Repeat(")", 30000),
	}
	for _, sql := range deep {
		e := compileErr(t, sql)
		if e.Code != CodeUnsupported || !strings.HasPrefix(e.Construct, "expression nesting deeper than") {
			t.Errorf("%s...: %v", sql[:40], e)
		}
	}
	// Long but flat statements are fine.
	wide := []string{
		"SELECT n FROM cpu WHERE " + strings.Repeat("n > 1 AND ", 50000) + "ok",
		"SELECT n FROM cpu WHERE " + strings.Repeat("hostname = 'h' OR ", 50000) + "ok",
		"SELECT n FROM cpu WHERE hostname IN (" + strings.Repeat("'h', ", 50000) + "'h')",
		"SELECT " + strings.Repeat("n + 1, ", 20000) + "n FROM cpu",
		"SELECT " + strings.Repeat("(", 300) + "n" + strings.Repeat(")", 300) + " FROM cpu",
		"SELECT " + strings.Repeat("n + ", 500) + "n FROM cpu",
	}
	for _, sql := range wide {
		if _, err := Compile(sql, testCatalog(), testNow); err != nil {
			t.Errorf("%s...: %v", sql[:40], err)
		}
	}
}
