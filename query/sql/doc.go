// Package sql is Silt's SQL front end: it parses a statement with
// PostgreSQL's own grammar (github.com/pganalyze/pg_query_go/v6) and
// resolves it against a Catalog into a typed logical plan (*Query) that an
// executor runs without further analysis.
//
//	st, err := sql.Parse(text)            // syntax, statement kind
//	q, err := sql.Plan(st, catalog, now)  // names, types, groups, time range
//	q, err := sql.Compile(text, catalog, now) // both
//
// Every error is an *Error with a stable Code, PostgreSQL's SQLSTATE and,
// for anything outside the dialect, Code "unsupported" and the Construct
// it names ("JOIN", "window function", "CASE", ...). No clause is ever
// ignored: what is not described below is an error.
//
// # Results must equal PostgreSQL's
//
// The dialect is a subset of PostgreSQL 15 with a few documented additions
// (marked "Silt extension"; PostgreSQL rejects those queries, so they never
// disagree with it on a query it accepts). Output column names follow
// PostgreSQL: the alias; else a column's name; else a function's name
// (count, max, date_bin, time_bucket, now, ...); else the type name of a
// cast of a literal ('1'::text is "text", TIMESTAMP '...' is "timestamp");
// else "?column?". Duplicate names are allowed.
//
// Silt works in UTC: timestamps are int64 nanoseconds (PostgreSQL keeps
// microseconds), a literal without a zone is UTC, a day is 24 hours. Strings
// compare by bytes (PostgreSQL's "C" collation); the oracle database must
// use it too.
//
// # Statements
//
//   - SELECT, below.
//   - SHOW TABLES: one column table_name. Also PostgreSQL's parse of it.
//   - DESCRIBE t, DESC t, DESCRIBE TABLE t (t may be "quoted" or public.t):
//     columns column_name, data_type, column_kind. Recognised textually
//     before the PostgreSQL parser (they are not PostgreSQL grammar), so
//     they take no comments.
//   - EXPLAIN [ANALYZE] [VERBOSE] select, EXPLAIN (ANALYZE, ...) select:
//     one column "QUERY PLAN" (Kind QueryExplain; query/exec renders the
//     plan). FORMAT must be TEXT; PostgreSQL's other options are taken
//     and change nothing.
//
// Anything else (INSERT, UPDATE, DELETE, DDL, SET, several statements at
// once, ...) is unsupported.
//
// # SELECT
//
//	SELECT [DISTINCT] item [[AS] alias], ...
//	FROM [public.]table [[AS] alias]
//	[WHERE predicate]
//	[GROUP BY key, ...]
//	[HAVING predicate]
//	[ORDER BY expr [ASC|DESC] [NULLS FIRST|LAST], ...]
//	[LIMIT n|ALL] [OFFSET n] | [OFFSET n] [FETCH FIRST n ROWS ONLY]
//
// FROM names a table (or, below, a subquery, a WITH query or joins); the
// schema may be omitted or "public". A
// table has the column time (timestamp), tag columns (strings) and field
// columns (float64, int64, uint64, bool, string). Names follow PostgreSQL:
// unquoted identifiers are folded to lower case, so a mixed-case column
// must be written "Quoted" (the error for an unquoted one says so).
// SELECT without FROM takes only constant expressions (SELECT 1).
//
// Select items: *, t.*, column references (col, t.col, public.t.col),
// literals, arithmetic, comparisons, the functions and aggregates below,
// and expressions over aggregates (max(a) - min(a)).
//
// Relational forms (rel.go, join_plan.go, window_plan.go,
// correlated.go, recursive.go): WITH and WITH RECURSIVE, subqueries in
// FROM, scalar, IN and EXISTS subqueries (correlated with the queries
// around them too, at any depth: Subquery.Outer and OuterRef), UNION / INTERSECT / EXCEPT [ALL], DISTINCT ON,
// window functions (row_number, rank, dense_rank, percent_rank,
// cume_dist, ntile, lag, lead, first_value, last_value, nth_value, sum, avg, min,
// max, count over ROWS frames and RANGE frames without offsets), and
// joins (INNER, LEFT, RIGHT, FULL, CROSS, NATURAL, ON, USING, FROM
// lists). Such a statement plans into Rels that a Query reads through
// Query.Input; see Rel.
//
// Not supported (each an "unsupported" error naming it): correlated
// subqueries aggregating the enclosing query's columns, LATERAL, ANY/ALL (subquery) other
// than IN, VALUES, the WINDOW clause, RANGE frames with offsets, GROUPS
// frames, GROUPING SETS / ROLLUP / CUBE, aggregate ORDER BY
// (except in first/last), DISTINCT in aggregates other than count,
// ANY/ALL, SIMILAR TO, LIKE ... ESCAPE, COLLATE, arrays, row constructors,
// parameters ($1), FOR UPDATE, TABLESAMPLE, ONLY, FETCH ... WITH TIES,
// and any function not listed here.
//
// # Expressions
//
// Literals: integers (64-bit), decimals ("1.5", which PostgreSQL types
// numeric; Silt uses float64 — int64 column ⊕ decimal literal is float64
// in Silt where PostgreSQL computes numeric), 'strings', TRUE/FALSE, NULL,
// typed literals TIMESTAMP '...', TIMESTAMPTZ '...', DATE '...', INTERVAL
// '...', and casts x::type / CAST(x AS type) to timestamp[tz], date,
// interval, float8/float4/real/numeric/decimal (all float64),
// int8/int4/int2/bigint/integer/smallint (all int64), text/varchar/char,
// bool. At run time: among numbers; anything to text (PostgreSQL's text
// output: shortest float8 form, '2026-01-02 03:04:05.5+00', true/false);
// text to numbers, bool and timestamps (PostgreSQL's input rules and
// errors); bool to int/int4; timestamptz to date (midnight UTC). Casts
// PostgreSQL lacks (bigint::bool, timestamptz::bigint) are its error.
//
// Numeric typing: a decimal literal, a ::numeric cast, sum and avg of
// integers, and arithmetic on any of them are PostgreSQL numeric. Silt
// computes them in float64 (sum of integers exactly in int64), so that
// sum(i) / count(*) is 7.69 as in PostgreSQL, not 7; round(x) of a
// numeric rounds half away from zero, of a float half to even.
//
// A quoted literal without a type takes its type from the other operand,
// as in PostgreSQL: time >= '2026-01-01T00:00:00Z', usage > '90',
// hostname = 'a'.
//
// Timestamp text: 'YYYY-MM-DD', optionally 'T' or ' ' and
// 'HH:MM[:SS[.fraction]]', optionally a zone 'Z', 'UTC', '+HH', '+HH:MM',
// '+HHMM'; also 'epoch', 'now', 'infinity', '-infinity'. Interval text:
// '1 hour', '90 s', '1h30m', '1.5 hours', '1 day 02:00:00', '@ 2 days
// ago', ISO 8601 'PT1H'; units us/ms/s/m/h/d/w/mon/y and their long forms
// ('ns', nanoseconds, is a Silt extension). now() and CURRENT_TIMESTAMP are
// the Plan's now argument; timestamp ± interval folds when both are
// constant (months clamp to the month's end, as PostgreSQL), as do
// interval ± interval and interval * or / a number. Over columns:
// timestamp ± a constant interval, and timestamp − timestamp, an interval
// (nanoseconds at run time, output as PostgreSQL's text '2 days
// 01:00:00'); intervals compare with constant intervals without months.
//
// Arithmetic: + - * / % and unary minus on numbers. int64 op int64 is
// int64 (division truncates; overflow is an error); with a float64 operand
// the result is float64; % on float64 exists only with a decimal literal
// or uint64 operand (PostgreSQL has % for numeric but not for double
// precision); x/0 and x%0 are errors for every type, as in PostgreSQL.
// uint64 has no PostgreSQL type; the oracle stores it as numeric(20,0), so
// Silt computes arithmetic involving uint64 in float64 as numeric would
// (u/2 is 2.5, u-10 may be negative). Comparisons stay exact: uint64 with
// uint64 or a non-negative integer literal compare as uint64; with int64 or
// a negative literal, as float64.
//
// Predicates: AND, OR, NOT; = <> != < <= > >= on numbers, strings,
// booleans and timestamps; IS [NOT] DISTINCT FROM; [NOT] BETWEEN
// [SYMMETRIC]; [NOT] IN (constant, ...); ~ ~* !~ !~* (Go RE2 regular expressions, which match anywhere like
// PostgreSQL's; RE2 lacks backreferences and a few POSIX classes); [NOT]
// LIKE / ILIKE (% and _, backslash escapes); IS [NOT] NULL; IS [NOT]
// TRUE/FALSE/UNKNOWN. Comparing time with an integer literal reads it as
// Unix epoch nanoseconds (Silt extension). SQL's three-valued logic
// applies throughout.
//
// # Functions
//
//   - date_bin(stride, time [, origin]): the start of the stride-wide bucket
//     holding time, buckets aligned on origin (floored, also before the
//     origin). PostgreSQL requires origin; Silt's two-argument form uses
//     the Unix epoch 1970-01-01T00:00:00Z, as DataFusion and InfluxDB 3
//     do. Queries compared with PostgreSQL must pass the origin. Strides
//     with months or years are an error, as in PostgreSQL.
//   - time_bucket(width, time [, origin | offset interval]): date_bin by
//     TimescaleDB's name. Its default origin here is the Unix epoch too
//     (TimescaleDB's is 2000-01-03, which only differs for widths that do
//     not divide a day, e.g. weeks).
//   - date_trunc(unit, time [, zone]) for microseconds through week
//     (weeks start on Monday) in UTC is a fixed-width bucket; month,
//     quarter, year, decade, century, millennium, and any unit in another
//     zone, are calendar truncations (Func).
//   - now(), CURRENT_TIMESTAMP, to_timestamp(seconds).
//   - EXTRACT(field FROM ts|interval), date_part: epoch, year, month, day,
//     hour, minute, second, milliseconds, microseconds, dow, isodow, doy,
//     week, isoyear, quarter, decade, century, millennium (of an interval:
//     epoch, day, hour, minute, second, milliseconds, microseconds).
//   - ts AT TIME ZONE 'Zone/Name': a timestamptz gives the wall-clock time
//     there; a timestamp without time zone (TIMESTAMP literal, x::timestamp,
//     or a former AT TIME ZONE) the instant. Zone names only.
//   - CASE (searched and simple), COALESCE, NULLIF, GREATEST, LEAST, with
//     PostgreSQL's common-type rules; arms evaluated only where reached.
//   - math: abs, round(x [, digits]), ceil, ceiling, floor, trunc, ln, log,
//     log10, log(b, x), exp, power, pow, sqrt, cbrt, sign, mod.
//   - strings: lower, upper (ASCII, the "C" locale), length, char_length,
//     substr, substring(s FROM n FOR m), left, right, concat, ||, replace,
//     split_part, starts_with, strpos, trim/btrim/ltrim/rtrim,
//     regexp_replace (constant pattern; flags g, i).
//
// # Aggregates
//
// count(*), count(x), count(DISTINCT x), sum, min, max, avg, stddev
// (= stddev_samp), stddev_samp, stddev_pop, variance (= var_samp),
// var_samp, var_pop, percentile_cont(f) WITHIN GROUP (ORDER BY x [DESC]),
// percentile_disc(f) WITHIN GROUP (ORDER BY x), mode() WITHIN GROUP
// (ORDER BY x [DESC]), bool_and, every, bool_or, string_agg(text,
// constant delimiter [ORDER BY expr [DESC]]) (without ORDER BY in no
// particular order), first(x, time), last(x, time).
//
//   - Every aggregate takes FILTER (WHERE predicate).
//   - NULLs are skipped; an empty group gives count 0 and NULL otherwise.
//   - sum keeps the argument's type (PostgreSQL's sum(bigint) is numeric;
//     Silt's is int64, numeric in further arithmetic, and overflow is an
//     error); avg, stddev and variance are float64 (PostgreSQL: numeric for
//     integer input).
//   - min/max take numbers, strings and timestamps (not booleans, as in
//     PostgreSQL).
//   - first/last are Silt's (TimescaleDB's spelling): the x of the row with
//     the earliest/latest time among rows where x is not NULL. Also
//     accepted: first(x) and last(x) (ordered by time), and first(x ORDER
//     BY time [ASC|DESC]) (DESC turns first into last). Ordering by
//     anything but time is not supported.
//   - percentile fractions are constants in [0, 1].
//   - Which row first/last pick among rows of equal time (different series
//     in one group) is not specified.
//
// # Grouping
//
// GROUP BY keys are tags, fields, at most one time key (date_bin /
// time_bucket / fixed-width date_trunc over time, or time itself), and any
// other row expression (KindExpr keys). GROUP BY () adds no key (one
// group, as without GROUP BY); a constant key is not supported. A row without a tag has NULL there, and
// NULL is a group of its own, as in PostgreSQL. A GROUP BY item is resolved as PostgreSQL
// does: an integer is a select-list position, a bare name is first a
// column of the table and only then a select-list alias (so "SELECT
// date_bin(...) AS time ... GROUP BY time" groups by the raw time column,
// exactly as in PostgreSQL), anything else an expression. In a grouped
// query every column outside an aggregate must match a GROUP BY key,
// else PostgreSQL's error: column "cpu.x" must appear in the GROUP BY clause
// or be used in an aggregate function.
//
// ORDER BY items resolve as in PostgreSQL: a position, an output column
// name (alias or derived name), or an expression (which may be hidden,
// i.e. not in the select list, except with DISTINCT). The default is ASC,
// with NULLS LAST for ASC and NULLS FIRST for DESC.
//
// # The plan
//
// Query.TimeRange is a conservative [Min, Max) bound on time derived from
// the whole WHERE tree (AND intersects, OR takes the hull, anything else is
// unbounded); Query.Residual is WHERE without the top-level conjuncts that
// the range enforces exactly. Aggregates are deduplicated and numbered;
// outputs, HAVING and ORDER BY of a grouped query are expressions over
// KeyRef (group keys) and AggRef (aggregate results). See Query for the
// evaluation order; Conjuncts splits a predicate for index lookups.
//
// # Limits
//
// Expressions may nest at most 1000 deep (estimated from the tokens before
// parsing: PostgreSQL's C parser, which pg_query_go runs in-process,
// overflows its stack and crashes the process at some 25,000 levels). Long
// flat lists (IN lists, AND/OR chains, select lists) are not limited.
package sql
