package sql

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func outputNames(q *Query) []string {
	names := make([]string, len(q.Outputs))
	for i, o := range q.Outputs {
		names[i] = o.Name
	}
	return names
}

func scanNames(q *Query) []string {
	names := make([]string, len(q.Scan))
	for i, c := range q.Scan {
		names[i] = c.Name
	}
	return names
}

func exprStrings[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

var origin2000 = ts("2000-01-01T00:00:00Z")

// TestTSBSQueries checks the plans of the TSBS cpu-only query shapes field
// by field.
func TestTSBSQueries(t *testing.T) {
	t.Run("single-groupby-1-1-1", func(t *testing.T) {
		q := compile(t, `SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user)
			FROM cpu WHERE hostname IN ('host_1') AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T01:00:00Z'
			GROUP BY minute ORDER BY minute`)
		if q.Kind != QuerySelect || q.Table.Name != "cpu" || !q.Aggregated {
			t.Fatalf("kind/table/aggregated: %v %v %v", q.Kind, q.Table.Name, q.Aggregated)
		}
		if want := (TimeRange{ts("2016-01-01T00:00:00Z"), ts("2016-01-01T01:00:00Z")}); q.TimeRange != want {
			t.Errorf("time range %v, want %v", q.TimeRange, want)
		}
		if got := q.Residual.String(); got != "(hostname IN ('host_1'))" {
			t.Errorf("residual %s", got)
		}
		in, ok := q.Residual.(*InList)
		if !ok || in.Not || in.HasNull || len(in.Values) != 1 || in.Values[0].Str != "host_1" {
			t.Errorf("residual is not hostname IN ('host_1'): %#v", q.Residual)
		}
		if len(q.GroupBy) != 1 || q.TimeKey != 0 || !q.GroupBy[0].IsTime() {
			t.Fatalf("group by %v time key %d", q.GroupBy, q.TimeKey)
		}
		if b := q.GroupBy[0].Bucket; b.Width != 60e9 || b.Origin != origin2000 {
			t.Errorf("bucket %+v", b)
		}
		if len(q.Aggregates) != 1 || q.Aggregates[0].Func != AggMax || q.Aggregates[0].Type != TypeFloat64 ||
			q.Aggregates[0].Arg.(*ColumnRef).Column.Name != "usage_user" {
			t.Errorf("aggregates %v", q.Aggregates)
		}
		if got := outputNames(q); !reflect.DeepEqual(got, []string{"minute", "max"}) {
			t.Errorf("names %v", got)
		}
		if k, ok := q.Outputs[0].Expr.(*KeyRef); !ok || k.Key != 0 || q.Outputs[0].Type != TypeTimestamp {
			t.Errorf("output 0 %v", q.Outputs[0].Expr)
		}
		if a, ok := q.Outputs[1].Expr.(*AggRef); !ok || a.Agg != 0 || q.Outputs[1].Type != TypeFloat64 {
			t.Errorf("output 1 %v", q.Outputs[1].Expr)
		}
		if len(q.OrderBy) != 1 || q.OrderBy[0].Output != 0 || q.OrderBy[0].Desc || q.OrderBy[0].NullsFirst {
			t.Errorf("order by %v", q.OrderBy)
		}
		if q.Limit != -1 || q.Offset != 0 {
			t.Errorf("limit %d offset %d", q.Limit, q.Offset)
		}
		if got := scanNames(q); !reflect.DeepEqual(got, []string{"time", "hostname", "usage_user"}) {
			t.Errorf("scan %v", got)
		}
	})

	t.Run("single-groupby-5-8-1", func(t *testing.T) {
		q := compile(t, `SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute,
			max(usage_user), max(usage_system), max(usage_idle), max(usage_user), max(usage_system)
			FROM cpu WHERE hostname IN ('host_9', 'host_3', 'host_9', 'host_5') AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T08:00:00Z'
			GROUP BY minute ORDER BY minute`)
		if got := exprStrings(q.Aggregates, Aggregate.String); !reflect.DeepEqual(got, []string{"max(usage_user)", "max(usage_system)", "max(usage_idle)"}) {
			t.Errorf("aggregates (deduplicated) %v", got)
		}
		if got := exprStrings(q.Outputs, func(o Output) string { return o.Expr.String() }); !reflect.DeepEqual(got, []string{"$key0", "$agg0", "$agg1", "$agg2", "$agg0", "$agg1"}) {
			t.Errorf("outputs %v", got)
		}
		if got := outputNames(q); !reflect.DeepEqual(got, []string{"minute", "max", "max", "max", "max", "max"}) {
			t.Errorf("names %v", got)
		}
		if got := q.Residual.String(); got != "(hostname IN ('host_9', 'host_3', 'host_5'))" {
			t.Errorf("residual %s", got)
		}
	})

	t.Run("double-groupby-1", func(t *testing.T) {
		q := compile(t, `SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS hour, hostname, avg(usage_user) AS mean_usage_user
			FROM cpu WHERE time >= '2016-01-01T00:00:00Z' AND time < '2016-01-02T00:00:00Z'
			GROUP BY hour, hostname ORDER BY hour, hostname`)
		if q.Residual != nil {
			t.Errorf("residual %v, want none", q.Residual)
		}
		if len(q.GroupBy) != 2 || q.TimeKey != 0 || q.GroupBy[1].Column.Name != "hostname" || q.GroupBy[1].IsTime() {
			t.Fatalf("group by %v", q.GroupBy)
		}
		if q.GroupBy[0].Bucket.Width != 3600e9 || q.GroupBy[1].Type() != TypeString {
			t.Errorf("keys %+v", q.GroupBy)
		}
		if got := outputNames(q); !reflect.DeepEqual(got, []string{"hour", "hostname", "mean_usage_user"}) {
			t.Errorf("names %v", got)
		}
		if q.Aggregates[0].Func != AggAvg || q.Aggregates[0].Type != TypeFloat64 {
			t.Errorf("aggregate %v", q.Aggregates[0])
		}
		if got := exprStrings(q.OrderBy, SortKey.String); !reflect.DeepEqual(got, []string{"#0 ASC NULLS LAST", "#1 ASC NULLS LAST"}) {
			t.Errorf("order %v", got)
		}
	})

	t.Run("high-cpu-1", func(t *testing.T) {
		q := compile(t, `SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T12:00:00Z' AND hostname IN ('host_1')`)
		if q.Aggregated || len(q.GroupBy) != 0 || q.TimeKey != -1 {
			t.Errorf("aggregated %v", q.Aggregated)
		}
		want := []string{"time", "hostname", "region", "datacenter", "usage_user", "usage_system", "usage_idle", "n", "u", "ok", "msg"}
		if got := outputNames(q); !reflect.DeepEqual(got, want) {
			t.Errorf("names %v", got)
		}
		if got := scanNames(q); !reflect.DeepEqual(got, want) {
			t.Errorf("scan %v", got)
		}
		if got := q.Residual.String(); got != "((usage_user > 90.0) AND (hostname IN ('host_1')))" {
			t.Errorf("residual %s", got)
		}
		if q.TimeRange.Min != ts("2016-01-01T00:00:00Z") || q.TimeRange.Max != ts("2016-01-01T12:00:00Z") {
			t.Errorf("range %v", q.TimeRange)
		}
		for i, o := range q.Outputs {
			c, ok := o.Expr.(*ColumnRef)
			if !ok || c.Column.Index != i || o.Type != c.Column.Type {
				t.Errorf("output %d: %v", i, o)
			}
		}
	})

	t.Run("high-cpu-all", func(t *testing.T) {
		q := compile(t, `SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T12:00:00Z'`)
		b, ok := q.Residual.(*Binary)
		if !ok || b.Op != OpGt || b.L.(*ColumnRef).Column.Name != "usage_user" || b.R.(*Const).Value.Float != 90 {
			t.Errorf("residual %v", q.Residual)
		}
	})

	t.Run("lastpoint", func(t *testing.T) {
		q := compile(t, `SELECT hostname, last(usage_user, time) FROM cpu GROUP BY hostname`)
		if len(q.GroupBy) != 1 || q.TimeKey != -1 || q.GroupBy[0].Column.Kind != KindTag {
			t.Fatalf("group by %v", q.GroupBy)
		}
		a := q.Aggregates[0]
		if a.Func != AggLast || a.Type != TypeFloat64 || a.Arg.String() != "usage_user" {
			t.Errorf("aggregate %v", a)
		}
		if got := outputNames(q); !reflect.DeepEqual(got, []string{"hostname", "last"}) {
			t.Errorf("names %v", got)
		}
		if !q.TimeRange.IsFull() || q.Where != nil {
			t.Errorf("range %v where %v", q.TimeRange, q.Where)
		}
		if got := scanNames(q); !reflect.DeepEqual(got, []string{"time", "hostname", "usage_user"}) {
			t.Errorf("scan %v (last reads time)", got)
		}
	})

	t.Run("groupby-orderby-limit", func(t *testing.T) {
		q := compile(t, `SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user)
			FROM cpu WHERE time < '2016-01-01T12:00:00Z' GROUP BY minute ORDER BY minute DESC LIMIT 5`)
		if q.TimeRange.Min != math.MinInt64 || q.TimeRange.Max != ts("2016-01-01T12:00:00Z") {
			t.Errorf("range %v", q.TimeRange)
		}
		if len(q.OrderBy) != 1 || !q.OrderBy[0].Desc || !q.OrderBy[0].NullsFirst || q.OrderBy[0].Output != 0 {
			t.Errorf("order %v", q.OrderBy)
		}
		if q.Limit != 5 || q.Offset != 0 {
			t.Errorf("limit %d offset %d", q.Limit, q.Offset)
		}
	})

	t.Run("cpu-max-all-8", func(t *testing.T) {
		q := compile(t, `SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS hour,
			max(usage_user) AS max_usage_user, max(usage_system) AS max_usage_system
			FROM cpu WHERE hostname IN ('host_1','host_2') AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T08:00:00Z'
			GROUP BY hour ORDER BY hour`)
		if got := outputNames(q); !reflect.DeepEqual(got, []string{"hour", "max_usage_user", "max_usage_system"}) {
			t.Errorf("names %v", got)
		}
	})

	t.Run("now-relative", func(t *testing.T) {
		q := compile(t, `SELECT hostname, count(*) FROM cpu WHERE time > now() - interval '1 hour' GROUP BY 1`)
		if want := testNow.Add(-3600e9).UnixNano() + 1; q.TimeRange.Min != want || q.TimeRange.Max != math.MaxInt64 {
			t.Errorf("range %v", q.TimeRange)
		}
	})
}

// TestPlanDump pins whole plans for a few queries.
func TestPlanDump(t *testing.T) {
	cases := []struct{ sql, want string }{
		{`SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user) FROM cpu
			WHERE hostname IN ('host_1') AND time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T01:00:00Z'
			GROUP BY minute ORDER BY minute`, `
select from cpu
  scan: time, hostname, usage_user
  time: [2026-01-01T00:00:00Z, 2026-01-01T01:00:00Z)
  where: ((hostname IN ('host_1')) AND (time >= 2026-01-01T00:00:00Z) AND (time < 2026-01-01T01:00:00Z))
  residual: (hostname IN ('host_1'))
  group: [date_bin(1m0s, time, 2000-01-01T00:00:00Z)]
  aggs: [max(usage_user):float64]
  output: "minute":timestamp = $key0; "max":float64 = $agg0
  order: #0 ASC NULLS LAST
`},
		{`SELECT max(usage_user) - min(usage_user) AS spread, count(*), hostname FROM cpu
			WHERE region = 'eu' OR region ~ '^us-' GROUP BY hostname HAVING count(*) > 10 ORDER BY count(*) DESC, max(usage_idle) LIMIT 10 OFFSET 20`, `
select from cpu
  scan: hostname, region, usage_user, usage_idle
  time: [-infinity, infinity)
  where: ((region = 'eu') OR (region ~ '^us-'))
  residual: ((region = 'eu') OR (region ~ '^us-'))
  group: [hostname]
  aggs: [max(usage_user):float64, min(usage_user):float64, count(*):int64, max(usage_idle):float64]
  having: ($agg2 > 10)
  output: "spread":float64 = ($agg0 - $agg1); "count":int64 = $agg2; "hostname":string = $key0
  order: #1 DESC NULLS FIRST, $agg3 ASC NULLS LAST
  limit: 10 offset 20
`},
		{`SELECT time, usage_user * 2 + n AS x FROM cpu WHERE n BETWEEN 1 AND 5 AND NOT ok ORDER BY time DESC NULLS LAST, usage_user`, `
select from cpu
  scan: time, usage_user, n, ok
  time: [-infinity, infinity)
  where: ((n >= 1) AND (n <= 5) AND (NOT ok))
  residual: ((n >= 1) AND (n <= 5) AND (NOT ok))
  output: "time":timestamp = time; "x":float64 = ((usage_user * 2.0) + float64(n))
  order: #0 DESC NULLS LAST, usage_user ASC NULLS LAST
`},
		{`SELECT count(*) FROM cpu WHERE time >= '2026-01-01' AND time < '2025-01-01'`, `
select from cpu
  scan: 
  time: empty
  where: ((time >= 2026-01-01T00:00:00Z) AND (time < 2025-01-01T00:00:00Z))
  residual: none
  group: []
  aggs: [count(*):int64]
  output: "count":int64 = $agg0
`},
		{`SELECT DISTINCT hostname, region FROM cpu ORDER BY 2, 1`, `
select from cpu
  scan: hostname, region
  time: [-infinity, infinity)
  output: "hostname":string = hostname; "region":string = region
  distinct
  order: #1 ASC NULLS LAST, #0 ASC NULLS LAST
`},
		{`SELECT 1 AS one, 'x', now() - interval '1 day', 7 / 2, 2.5 * 2`, `
select (no table)
  output: "one":int64 = 1; "?column?":string = 'x'; "?column?":timestamp = 2026-01-01T03:04:05Z; "?column?":int64 = 3; "?column?":float64 = 5.0
`},
		{`SHOW TABLES`, "show tables\n"},
		{`DESCRIBE cpu`, "describe cpu\n"},
	}
	for _, c := range cases {
		q := compile(t, c.sql)
		if got, want := q.String(), strings.TrimPrefix(c.want, "\n"); got != want {
			t.Errorf("%s\n got:\n%s\nwant:\n%s", c.sql, got, want)
		}
	}
}

// TestExpressions checks how single select expressions resolve: folded
// constants, inserted casts, types.
func TestExpressions(t *testing.T) {
	cases := []struct {
		expr, want string
		typ        Type
	}{
		{"usage_user", "usage_user", TypeFloat64},
		{"cpu.usage_user", "usage_user", TypeFloat64},
		{"public.cpu.usage_user", "usage_user", TypeFloat64},
		{"(usage_user)", "usage_user", TypeFloat64},
		{"usage_user + usage_system", "(usage_user + usage_system)", TypeFloat64},
		{"usage_user + 1", "(usage_user + 1.0)", TypeFloat64},
		{"usage_user + '1'", "(usage_user + 1.0)", TypeFloat64},
		{"n + 1", "(n + 1)", TypeInt64},
		{"n + 1.5", "(float64(n) + 1.5)", TypeFloat64},
		{"n * usage_user", "(float64(n) * usage_user)", TypeFloat64},
		{"n / 2", "(n / 2)", TypeInt64},
		{"n % 3", "(n % 3)", TypeInt64},
		{"n % 2.5", "(float64(n) % 2.5)", TypeFloat64},
		{"-n", "(-n)", TypeInt64},
		{"+n", "n", TypeInt64},
		{"-(-n)", "(-(-n))", TypeInt64},
		{"u + 1", "(float64(u) + 1.0)", TypeFloat64},
		{"u / 2", "(float64(u) / 2.0)", TypeFloat64},
		{"u % 2", "(float64(u) % 2.0)", TypeFloat64},
		{"u + u", "(float64(u) + float64(u))", TypeFloat64},
		{"u - n", "(float64(u) - float64(n))", TypeFloat64},
		{"-u", "(-float64(u))", TypeFloat64},
		{"u::int8", "int64(u)", TypeInt64},
		{"u = u", "(u = u)", TypeBool},
		{"u > -1", "(float64(u) > -1.0)", TypeBool},
		{"u >= 7", "(u >= 7::uint64)", TypeBool},
		{"u = n", "(float64(u) = float64(n))", TypeBool},
		{"n > 1.5", "(float64(n) > 1.5)", TypeBool},
		{"1 < n", "(n > 1)", TypeBool},
		{"'a' = hostname", "(hostname = 'a')", TypeBool},
		{"hostname = region", "(hostname = region)", TypeBool},
		{"hostname <> 'a'", "(hostname <> 'a')", TypeBool},
		{"hostname != 'a'", "(hostname <> 'a')", TypeBool},
		{"msg >= 'm'", "(msg >= 'm')", TypeBool},
		{"ok = true", "(ok = TRUE)", TypeBool},
		{"ok = 't'", "(ok = TRUE)", TypeBool},
		{"ok", "ok", TypeBool},
		{"NOT ok", "(NOT ok)", TypeBool},
		{"NOT NOT ok", "ok", TypeBool},
		{"NOT (n < 5)", "(n >= 5)", TypeBool},
		{"NOT (n < 5 AND hostname = 'a')", "((n >= 5) OR (hostname <> 'a'))", TypeBool},
		{"ok IS TRUE", "((ok IS NOT NULL) AND ok)", TypeBool},
		{"ok IS NOT TRUE", "((ok IS NULL) OR (NOT ok))", TypeBool},
		{"ok IS FALSE", "((ok IS NOT NULL) AND (NOT ok))", TypeBool},
		{"ok IS UNKNOWN", "(ok IS NULL)", TypeBool},
		{"msg IS NULL", "(msg IS NULL)", TypeBool},
		{"msg IS NOT NULL", "(msg IS NOT NULL)", TypeBool},
		{"NOT (msg IS NULL)", "(msg IS NOT NULL)", TypeBool},
		{"hostname IN ('a', 'b', 'a')", "(hostname IN ('a', 'b'))", TypeBool},
		{"hostname NOT IN ('a', NULL)", "(hostname NOT IN ('a', NULL))", TypeBool},
		{"NOT (hostname IN ('a'))", "(hostname NOT IN ('a'))", TypeBool},
		{"n IN (1, 2)", "(n IN (1, 2))", TypeBool},
		{"n IN (1, 2.5)", "(float64(n) IN (1.0, 2.5))", TypeBool},
		{"usage_user IN (1, '2')", "(usage_user IN (1.0, 2.0))", TypeBool},
		{"time IN ('2026-01-01')", "(time IN (2026-01-01T00:00:00Z))", TypeBool},
		{"hostname ~ '^host_[0-9]+$'", "(hostname ~ '^host_[0-9]+$')", TypeBool},
		{"hostname ~* 'HOST'", "(hostname ~ '(?i)HOST')", TypeBool},
		{"hostname !~ 'x'", "(hostname !~ 'x')", TypeBool},
		{"hostname !~* 'x'", "(hostname !~ '(?i)x')", TypeBool},
		{"hostname LIKE 'host\\_1%'", "(hostname ~ '(?s)^host_1.*$')", TypeBool},
		{"hostname LIKE 'a.b_c'", "(hostname ~ '(?s)^a\\.b.c$')", TypeBool},
		{"hostname NOT LIKE '%x'", "(hostname !~ '(?s)^.*x$')", TypeBool},
		{"hostname ILIKE 'A%'", "(hostname ~ '(?i)(?s)^A.*$')", TypeBool},
		{"n BETWEEN 1 AND 5", "((n >= 1) AND (n <= 5))", TypeBool},
		{"n NOT BETWEEN 1 AND 5", "((n < 1) OR (n > 5))", TypeBool},
		{"n BETWEEN SYMMETRIC 5 AND 1", "(((n >= 5) AND (n <= 1)) OR ((n >= 1) AND (n <= 5)))", TypeBool},
		{"ok AND (n > 1 AND n < 5)", "(ok AND (n > 1) AND (n < 5))", TypeBool},
		{"ok OR (ok OR n > 1)", "(ok OR ok OR (n > 1))", TypeBool},
		{"ok AND true", "ok", TypeBool},
		{"ok AND false", "FALSE", TypeBool},
		{"ok OR true", "TRUE", TypeBool},
		{"ok OR NULL", "(ok OR NULL)", TypeBool},
		{"n::float8", "float64(n)", TypeFloat64},
		{"CAST(usage_user AS bigint)", "int64(usage_user)", TypeInt64},
		{"n::int4", "n", TypeInt64},
		{"time::timestamptz", "time", TypeTimestamp},
		{"'5'::int8 + 1", "6", TypeInt64},
		{"1 + 2 * 3", "7", TypeInt64},
		{"7 / 2", "3", TypeInt64},
		{"-7 % 3", "-1", TypeInt64},
		{"7.0 / 2", "3.5", TypeFloat64},
		{"2.5::float8::int8", "2", TypeInt64},
		{"3.5::float8::int8", "4", TypeInt64},
		{"2.5::int8", "3", TypeInt64},
		{"-2.5::int8", "-3", TypeInt64},
		{"'abc'", "'abc'", TypeString},
		{"'it''s'", "'it''s'", TypeString},
		{"NULL", "NULL", TypeString},
		{"n + NULL", "NULL", TypeInt64},
		{"hostname = NULL", "NULL", TypeBool},
		{"true", "TRUE", TypeBool},
		{"1e3", "1000.0", TypeFloat64},
		{"9223372036854775807", "9223372036854775807", TypeInt64},
		{"0x10", "16", TypeInt64},
		{"now()", "2026-01-02T03:04:05Z", TypeTimestamp},
		{"CURRENT_TIMESTAMP", "2026-01-02T03:04:05Z", TypeTimestamp},
		{"now() - interval '1 hour'", "2026-01-02T02:04:05Z", TypeTimestamp},
		{"now() - '90 minutes'::interval", "2026-01-02T01:34:05Z", TypeTimestamp},
		{"now() + '1 day'", "2026-01-03T03:04:05Z", TypeTimestamp},
		{"interval '1 day' + now()", "2026-01-03T03:04:05Z", TypeTimestamp},
		{"TIMESTAMP '2026-01-31' + interval '1 month'", "2026-02-28T00:00:00Z", TypeTimestamp},
		{"TIMESTAMPTZ '2026-01-01 12:00:00+02'", "2026-01-01T10:00:00Z", TypeTimestamp},
		{"DATE '2026-03-04'", "2026-03-04T00:00:00Z", TypeTimestamp},
		{"'2026-01-01'::timestamptz", "2026-01-01T00:00:00Z", TypeTimestamp},
		{"to_timestamp(1.5)", "1970-01-01T00:00:01.5Z", TypeTimestamp},
		{"date_bin('15 minutes', time, TIMESTAMP '2000-01-01')", "date_bin(15m0s, time, 2000-01-01T00:00:00Z)", TypeTimestamp},
		{"date_bin('15 minutes', time)", "date_bin(15m0s, time, 1970-01-01T00:00:00Z)", TypeTimestamp},
		{"date_bin(interval '1 day', time, '2000-01-01T06:00:00Z')", "date_bin(24h0m0s, time, 2000-01-01T06:00:00Z)", TypeTimestamp},
		{"date_bin('1 hour', TIMESTAMP '1999-12-31 23:30:00', TIMESTAMP '2000-01-01')", "1999-12-31T23:00:00Z", TypeTimestamp},
		{"time_bucket('5m', time)", "date_bin(5m0s, time, 1970-01-01T00:00:00Z)", TypeTimestamp},
		{"time_bucket('1 hour', time, '2000-01-01')", "date_bin(1h0m0s, time, 2000-01-01T00:00:00Z)", TypeTimestamp},
		{"time_bucket('1 hour', time, interval '15 minutes')", "date_bin(1h0m0s, time, 1970-01-01T00:15:00Z)", TypeTimestamp},
		{"date_trunc('hour', time)", "date_bin(1h0m0s, time, 1970-01-01T00:00:00Z)", TypeTimestamp},
		{"date_trunc('minutes', time)", "date_bin(1m0s, time, 1970-01-01T00:00:00Z)", TypeTimestamp},
		{"date_trunc('day', time)", "date_bin(24h0m0s, time, 1970-01-01T00:00:00Z)", TypeTimestamp},
		{"date_trunc('week', time)", "date_bin(168h0m0s, time, 1970-01-05T00:00:00Z)", TypeTimestamp},
		{"date_trunc('week', TIMESTAMPTZ '2026-01-07 12:00Z')", "2026-01-05T00:00:00Z", TypeTimestamp},
		{"time > 1700000000000000000", "(time > 2023-11-14T22:13:20Z)", TypeBool},
		{"time >= '2026-01-01'", "(time >= 2026-01-01T00:00:00Z)", TypeBool},
		{"time < 'infinity'", "(time < infinity)", TypeBool},
		{"time BETWEEN '2026-01-01' AND '2026-01-02'", "((time >= 2026-01-01T00:00:00Z) AND (time <= 2026-01-02T00:00:00Z))", TypeBool},
	}
	for _, c := range cases {
		q, err := Compile("SELECT "+c.expr+" FROM cpu", testCatalog(), testNow)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		o := q.Outputs[0]
		if got := o.Expr.String(); got != c.want || o.Type != c.typ || o.Expr.Type() != c.typ {
			t.Errorf("%s: got %s : %s, want %s : %s", c.expr, got, o.Type, c.want, c.typ)
		}
	}
}

// TestCastsAreExplicit checks that the two operands of every Binary have
// one type, so the executor never converts on its own.
func TestCastsAreExplicit(t *testing.T) {
	for _, e := range []string{"n + usage_user", "u * n", "n < usage_user", "u = 5", "u > -5", "n % 2.5", "u % n", "n IN (1, 2.5)"} {
		q := compile(t, "SELECT "+e+" FROM cpu")
		Walk(q.Outputs[0].Expr, func(x Expr) bool {
			switch b := x.(type) {
			case *Binary:
				if b.L.Type() != b.R.Type() {
					t.Errorf("%s: operands %s and %s", e, b.L.Type(), b.R.Type())
				}
			case *InList:
				for _, v := range b.Values {
					if v.Type != b.X.Type() {
						t.Errorf("%s: IN value %v of type %s, X %s", e, v, v.Type, b.X.Type())
					}
				}
			}
			return true
		})
	}
}

func TestAggregates(t *testing.T) {
	cases := []struct {
		expr, agg string
		fn        AggFunc
		typ       Type
	}{
		{"count(*)", "count(*)", AggCountStar, TypeInt64},
		{"count(1)", "count(*)", AggCountStar, TypeInt64},
		{"count(usage_user)", "count(usage_user)", AggCount, TypeInt64},
		{"count(ALL usage_user)", "count(usage_user)", AggCount, TypeInt64},
		{"count(DISTINCT hostname)", "count(DISTINCT hostname)", AggCountDistinct, TypeInt64},
		{"sum(usage_user)", "sum(usage_user)", AggSum, TypeFloat64},
		{"sum(n)", "sum(n)", AggSum, TypeInt64},
		{"sum(u)", "sum(u)", AggSum, TypeUint64},
		{"sum(usage_user * 2)", "sum((usage_user * 2.0))", AggSum, TypeFloat64},
		{"min(n)", "min(n)", AggMin, TypeInt64},
		{"max(msg)", "max(msg)", AggMax, TypeString},
		{"max(hostname)", "max(hostname)", AggMax, TypeString},
		{"min(time)", "min(time)", AggMin, TypeTimestamp},
		{"avg(n)", "avg(n)", AggAvg, TypeFloat64},
		{"stddev(usage_user)", "stddev_samp(usage_user)", AggStddevSamp, TypeFloat64},
		{"stddev_samp(usage_user)", "stddev_samp(usage_user)", AggStddevSamp, TypeFloat64},
		{"stddev_pop(n)", "stddev_pop(n)", AggStddevPop, TypeFloat64},
		{"variance(usage_user)", "var_samp(usage_user)", AggVarSamp, TypeFloat64},
		{"var_pop(usage_user)", "var_pop(usage_user)", AggVarPop, TypeFloat64},
		{"first(usage_user, time)", "first(usage_user)", AggFirst, TypeFloat64},
		{"last(msg, time)", "last(msg)", AggLast, TypeString},
		{"first(ok)", "first(ok)", AggFirst, TypeBool},
		{"first(usage_user ORDER BY time)", "first(usage_user)", AggFirst, TypeFloat64},
		{"first(usage_user ORDER BY time DESC)", "last(usage_user)", AggLast, TypeFloat64},
		{"last(usage_user ORDER BY time ASC)", "last(usage_user)", AggLast, TypeFloat64},
		{"percentile_cont(0.5) WITHIN GROUP (ORDER BY usage_user)", "percentile_cont(0.5, usage_user)", AggPercentileCont, TypeFloat64},
		{"percentile_cont(0.9) WITHIN GROUP (ORDER BY n)", "percentile_cont(0.9, float64(n))", AggPercentileCont, TypeFloat64},
		{"percentile_cont(0.25) WITHIN GROUP (ORDER BY usage_user DESC)", "percentile_cont(0.75, usage_user)", AggPercentileCont, TypeFloat64},
		{"percentile_cont('1') WITHIN GROUP (ORDER BY usage_user)", "percentile_cont(1.0, usage_user)", AggPercentileCont, TypeFloat64},
		{"percentile_disc(0.5) WITHIN GROUP (ORDER BY n)", "percentile_disc(0.5, n)", AggPercentileDisc, TypeInt64},
		{"percentile_disc(0) WITHIN GROUP (ORDER BY hostname)", "percentile_disc(0.0, hostname)", AggPercentileDisc, TypeString},
		{"pg_catalog.max(n)", "max(n)", AggMax, TypeInt64},
	}
	for _, c := range cases {
		q, err := Compile("SELECT "+c.expr+" FROM cpu", testCatalog(), testNow)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if len(q.Aggregates) != 1 {
			t.Errorf("%s: aggregates %v", c.expr, q.Aggregates)
			continue
		}
		a := q.Aggregates[0]
		if a.String() != c.agg || a.Func != c.fn || a.Type != c.typ || q.Outputs[0].Type != c.typ {
			t.Errorf("%s: got %s %v %s, want %s %v %s", c.expr, a, a.Func, a.Type, c.agg, c.fn, c.typ)
		}
		if !q.Aggregated || q.GroupBy == nil || len(q.GroupBy) != 0 {
			t.Errorf("%s: aggregated %v group by %v", c.expr, q.Aggregated, q.GroupBy)
		}
	}
}

func TestAggregateExpressions(t *testing.T) {
	q := compile(t, `SELECT max(usage_user) - min(usage_user), max(usage_user) / 2, count(*) + count(n), hostname
		FROM cpu GROUP BY hostname HAVING max(usage_user) > 2 * min(usage_user) AND hostname <> 'x'`)
	want := []string{"($agg0 - $agg1)", "($agg0 / 2.0)", "($agg2 + $agg3)", "$key0"}
	if got := exprStrings(q.Outputs, func(o Output) string { return o.Expr.String() }); !reflect.DeepEqual(got, want) {
		t.Errorf("outputs %v, want %v", got, want)
	}
	if got := q.Having.String(); got != "(($agg0 > (2.0 * $agg1)) AND ($key0 <> 'x'))" {
		t.Errorf("having %s", got)
	}
	if got := exprStrings(q.Aggregates, Aggregate.String); !reflect.DeepEqual(got, []string{"max(usage_user)", "min(usage_user)", "count(*)", "count(n)"}) {
		t.Errorf("aggregates %v", got)
	}
	if got := outputNames(q); !reflect.DeepEqual(got, []string{"?column?", "?column?", "?column?", "hostname"}) {
		t.Errorf("names %v", got)
	}
	// Group context leaves only: KeyRef, AggRef, Const.
	for _, o := range q.Outputs {
		Walk(o.Expr, func(x Expr) bool {
			if _, ok := x.(*ColumnRef); ok {
				t.Errorf("column reference in group context: %s", o.Expr)
			}
			return true
		})
	}
}

// TestGroupByResolution follows PostgreSQL's rules for GROUP BY names.
func TestGroupByResolution(t *testing.T) {
	cases := []struct{ sql, keys, outputs string }{
		{"SELECT hostname, count(*) FROM cpu GROUP BY hostname", "hostname", "$key0 $agg0"},
		{"SELECT hostname, count(*) FROM cpu GROUP BY 1", "hostname", "$key0 $agg0"},
		{"SELECT hostname AS h, count(*) FROM cpu GROUP BY h", "hostname", "$key0 $agg0"},
		{"SELECT cpu.hostname, count(*) FROM cpu GROUP BY hostname", "hostname", "$key0 $agg0"},
		{"SELECT c.hostname, count(*) FROM cpu AS c GROUP BY c.hostname", "hostname", "$key0 $agg0"},
		{"SELECT count(*) FROM cpu GROUP BY hostname, region", "hostname region", "$agg0"},
		{"SELECT hostname, count(*) FROM cpu GROUP BY hostname, hostname, 1", "hostname", "$key0 $agg0"},
		{"SELECT region, hostname FROM cpu GROUP BY hostname, region", "hostname region", "$key1 $key0"},
		{"SELECT time, count(*) FROM cpu GROUP BY time", "time", "$key0 $agg0"},
		// The alias "time" names an input column: GROUP BY time groups by the raw time.
		{"SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS time, count(*) FROM cpu GROUP BY time",
			"time", "date_bin(1m0s, $key0, 2000-01-01T00:00:00Z) $agg0"},
		{"SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS t, count(*) FROM cpu GROUP BY t",
			"date_bin(1m0s, time, 2000-01-01T00:00:00Z)", "$key0 $agg0"},
		{"SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01'), count(*) FROM cpu GROUP BY date_bin('60 s', time, '2000-01-01')",
			"date_bin(1m0s, time, 2000-01-01T00:00:00Z)", "$key0 $agg0"},
		{"SELECT time_bucket('1h', time) AS b, hostname, max(n) FROM cpu GROUP BY 1, 2",
			"date_bin(1h0m0s, time, 1970-01-01T00:00:00Z) hostname", "$key0 $key1 $agg0"},
		{"SELECT hostname, count(*) FROM cpu GROUP BY hostname HAVING hostname > 'a'", "hostname", "$key0 $agg0"},
		{"SELECT count(*) FROM cpu HAVING count(*) > 0", "", "$agg0"},
		{"SELECT 1 FROM cpu HAVING true", "", "1"},
		{"SELECT count(*) FROM cpu GROUP BY ()", "", "$agg0"},
		{"SELECT 1 FROM cpu GROUP BY ()", "", "1"},
	}
	for _, c := range cases {
		q, err := Compile(c.sql, testCatalog(), testNow)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		keys := strings.Join(exprStrings(q.GroupBy, func(k GroupKey) string { return k.Expr.String() }), " ")
		outs := strings.Join(exprStrings(q.Outputs, func(o Output) string { return o.Expr.String() }), " ")
		if keys != c.keys || outs != c.outputs || !q.Aggregated {
			t.Errorf("%s:\n got keys %q outputs %q\nwant keys %q outputs %q", c.sql, keys, outs, c.keys, c.outputs)
		}
	}
	q := compile(t, "SELECT time, count(*) FROM cpu GROUP BY time")
	if k := q.GroupBy[0]; !k.IsTime() || k.Bucket != (Bucket{Width: 1}) || q.TimeKey != 0 {
		t.Errorf("GROUP BY time: %+v", k)
	}
}

// TestOrderBy follows PostgreSQL's rules for ORDER BY items.
func TestOrderBy(t *testing.T) {
	cases := []struct{ sql, order string }{
		{"SELECT usage_user FROM cpu ORDER BY usage_user", "#0 ASC NULLS LAST"},
		{"SELECT usage_user FROM cpu ORDER BY usage_user DESC", "#0 DESC NULLS FIRST"},
		{"SELECT usage_user FROM cpu ORDER BY usage_user ASC NULLS FIRST", "#0 ASC NULLS FIRST"},
		{"SELECT usage_user FROM cpu ORDER BY usage_user DESC NULLS LAST", "#0 DESC NULLS LAST"},
		{"SELECT usage_user AS x FROM cpu ORDER BY x", "#0 ASC NULLS LAST"},
		{"SELECT usage_user, n FROM cpu ORDER BY 2, 1", "#1 ASC NULLS LAST, #0 ASC NULLS LAST"},
		// An output name wins over an input column in ORDER BY.
		{"SELECT usage_user AS hostname FROM cpu ORDER BY hostname", "#0 ASC NULLS LAST"},
		{"SELECT usage_user FROM cpu ORDER BY n", "n ASC NULLS LAST"},
		{"SELECT usage_user FROM cpu ORDER BY usage_user + 1 DESC", "(usage_user + 1.0) DESC NULLS FIRST"},
		{"SELECT usage_user + 1 FROM cpu ORDER BY usage_user + 1", "#0 ASC NULLS LAST"},
		{"SELECT hostname, hostname FROM cpu ORDER BY hostname", "#0 ASC NULLS LAST"},
		{"SELECT hostname, count(*) FROM cpu GROUP BY hostname ORDER BY count(*) DESC", "#1 DESC NULLS FIRST"},
		{"SELECT hostname, count(*) FROM cpu GROUP BY hostname ORDER BY count DESC", "#1 DESC NULLS FIRST"},
		{"SELECT hostname FROM cpu GROUP BY hostname ORDER BY max(n)", "$agg0 ASC NULLS LAST"},
		{"SELECT 1 FROM cpu ORDER BY count(*)", "$agg0 ASC NULLS LAST"},
		{"SELECT usage_user FROM cpu ORDER BY 1 + 1", ""}, // a constant sorts nothing
		{"SELECT cpu.usage_user FROM cpu ORDER BY cpu.usage_user", "#0 ASC NULLS LAST"},
	}
	for _, c := range cases {
		q, err := Compile(c.sql, testCatalog(), testNow)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if got := strings.Join(exprStrings(q.OrderBy, SortKey.String), ", "); got != c.order {
			t.Errorf("%s: order %q, want %q", c.sql, got, c.order)
		}
	}
}

func TestLimitOffset(t *testing.T) {
	cases := []struct {
		sql           string
		limit, offset int64
	}{
		{"SELECT n FROM cpu", -1, 0},
		{"SELECT n FROM cpu LIMIT 10", 10, 0},
		{"SELECT n FROM cpu LIMIT 0", 0, 0},
		{"SELECT n FROM cpu LIMIT ALL", -1, 0},
		{"SELECT n FROM cpu LIMIT NULL", -1, 0},
		{"SELECT n FROM cpu LIMIT 2 + 3 OFFSET 4", 5, 4},
		{"SELECT n FROM cpu OFFSET 7", -1, 7},
		{"SELECT n FROM cpu LIMIT '3'", 3, 0},
		{"SELECT n FROM cpu LIMIT 2.5", 3, 0},
		{"SELECT n FROM cpu FETCH FIRST 3 ROWS ONLY", 3, 0},
		{"SELECT n FROM cpu OFFSET 2 ROWS FETCH NEXT 1 ROW ONLY", 1, 2},
		{"SELECT n FROM cpu LIMIT 9223372036854775807", math.MaxInt64, 0},
	}
	for _, c := range cases {
		q, err := Compile(c.sql, testCatalog(), testNow)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if q.Limit != c.limit || q.Offset != c.offset {
			t.Errorf("%s: limit %d offset %d, want %d %d", c.sql, q.Limit, q.Offset, c.limit, c.offset)
		}
	}
}

// TestOutputNames pins PostgreSQL's column names (checked against
// PostgreSQL 15).
func TestOutputNames(t *testing.T) {
	cases := []struct {
		sql   string
		names []string
	}{
		{"SELECT time, hostname, c.usage_user, (usage_user) FROM cpu c", []string{"time", "hostname", "usage_user", "usage_user"}},
		{"SELECT -usage_user, usage_user + 1, 'a', 1, -1, 1.5, true, NULL FROM cpu", []string{"?column?", "?column?", "?column?", "?column?", "?column?", "?column?", "?column?", "?column?"}},
		{"SELECT usage_user::float8, CAST(n AS float8), 'a'::text, (1)::int8, '1'::float8 + 1 FROM cpu", []string{"usage_user", "n", "text", "int8", "?column?"}},
		{"SELECT now(), current_timestamp, to_timestamp(1) FROM cpu", []string{"now", "current_timestamp", "to_timestamp"}},
		{"SELECT TIMESTAMP '2000-01-01', TIMESTAMPTZ '2000-01-01', timestamp with time zone '2000-01-01', DATE '2000-01-01' FROM cpu", []string{"timestamp", "timestamptz", "timestamptz", "date"}},
		{"SELECT count(*), count(hostname), count(DISTINCT hostname), sum(n), avg(usage_user), stddev(usage_user), stddev_pop(usage_user) FROM cpu", []string{"count", "count", "count", "sum", "avg", "stddev", "stddev_pop"}},
		{"SELECT max(usage_user) - min(usage_user), pg_catalog.max(usage_user), max(usage_user)::float8 FROM cpu", []string{"?column?", "max", "max"}},
		{"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY usage_user), percentile_disc(0.5) WITHIN GROUP (ORDER BY usage_user), first(n, time), last(n, time) FROM cpu", []string{"percentile_cont", "percentile_disc", "first", "last"}},
		{"SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01'), time_bucket('1m', time), date_trunc('hour', time) FROM cpu", []string{"date_bin", "time_bucket", "date_trunc"}},
		{"SELECT usage_user > 1, hostname IN ('a'), hostname ~ 'a', hostname LIKE 'a%', usage_user IS NULL, ok IS TRUE, NOT ok, n BETWEEN 1 AND 2 FROM cpu", []string{"?column?", "?column?", "?column?", "?column?", "?column?", "?column?", "?column?", "?column?"}},
		{`SELECT n AS "Mixed Case", n AS lower, n AS "UPPER" FROM cpu`, []string{"Mixed Case", "lower", "UPPER"}},
		{"SELECT n AS Folded FROM cpu", []string{"folded"}},
		{"SELECT *, used FROM mem", []string{"time", "hostname", "used", "Free", "used"}},
		{"SELECT m.*, 1 FROM mem m", []string{"time", "hostname", "used", "Free", "?column?"}},
	}
	for _, c := range cases {
		q, err := Compile(c.sql, testCatalog(), testNow)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if got := outputNames(q); !reflect.DeepEqual(got, c.names) {
			t.Errorf("%s:\n got %q\nwant %q", c.sql, got, c.names)
		}
	}
}

func TestMetaStatements(t *testing.T) {
	for _, sql := range []string{"SHOW TABLES", "show tables;", "  Show   Tables ; ", "SHOW tables"} {
		q := compile(t, sql)
		if q.Kind != QueryShowTables || q.Table != nil || len(q.Outputs) != 1 || q.Outputs[0].Name != "table_name" {
			t.Errorf("%q: %+v", sql, q)
		}
	}
	for _, sql := range []string{"DESCRIBE cpu", "desc cpu;", "DESCRIBE TABLE cpu", "describe public.cpu", `DESC "cpu"`, "DESCRIBE CPU"} {
		q := compile(t, sql)
		if q.Kind != QueryDescribe || q.Table == nil || q.Table.Name != "cpu" {
			t.Fatalf("%q: %+v", sql, q)
		}
		if got := outputNames(q); !reflect.DeepEqual(got, []string{"column_name", "data_type", "column_kind"}) {
			t.Errorf("%q: names %v", sql, got)
		}
		rows := q.DescribeRows()
		if len(rows) != 11 || !reflect.DeepEqual(rows[0], []string{"time", "timestamp", "time"}) ||
			!reflect.DeepEqual(rows[1], []string{"hostname", "string", "tag"}) ||
			!reflect.DeepEqual(rows[7], []string{"n", "int64", "field"}) ||
			!reflect.DeepEqual(rows[8], []string{"u", "uint64", "field"}) {
			t.Errorf("%q: rows %v", sql, rows)
		}
	}
	q := compile(t, `DESCRIBE "Weird"`)
	if q.Table.Name != "Weird" {
		t.Errorf("quoted describe: %v", q.Table.Name)
	}
	for _, c := range []struct{ sql, code string }{
		{"DESCRIBE nope", CodeUndefinedTable},
		{"DESCRIBE Weird", CodeUndefinedTable}, // folded to weird
		{"DESCRIBE other.cpu", CodeUndefinedTable},
		{"DESCRIBE", CodeSyntax},
		{"DESCRIBE cpu mem", CodeSyntax},
	} {
		if e := compileErr(t, c.sql); e.Code != c.code {
			t.Errorf("%q: code %s (%v), want %s", c.sql, e.Code, e, c.code)
		}
	}
	st, err := Parse("DESC public.cpu")
	if err != nil || st.Kind != StmtDescribe || st.Schema != "public" || st.Table != "cpu" {
		t.Errorf("Parse DESC public.cpu: %+v %v", st, err)
	}
}

func TestSelectWithoutFrom(t *testing.T) {
	q := compile(t, "SELECT 1, 'a' AS b, now()")
	if q.Table != nil || q.Aggregated || len(q.Outputs) != 3 || q.Limit != -1 {
		t.Fatalf("%+v", q)
	}
	for _, o := range q.Outputs {
		if _, ok := o.Expr.(*Const); !ok {
			t.Errorf("output %s is not constant", o.Expr)
		}
	}
	for _, sql := range []string{"SELECT count(*)", "SELECT 1 WHERE true", "SELECT 1 ORDER BY 1", "SELECT 1 LIMIT 1", "SELECT x"} {
		e := compileErr(t, sql)
		if sql == "SELECT x" {
			if e.Code != CodeUndefinedColumn {
				t.Errorf("%s: %v", sql, e)
			}
		} else if e.Code != CodeUnsupported {
			t.Errorf("%s: %v", sql, e)
		}
	}
}

func TestScanColumns(t *testing.T) {
	cases := []struct{ sql, scan string }{
		{"SELECT count(*) FROM cpu", ""},
		{"SELECT count(*) FROM cpu WHERE time > now()", ""},
		{"SELECT count(*) FROM cpu WHERE time > now() OR n > 1", "time n"},
		{"SELECT n FROM cpu ORDER BY usage_user", "usage_user n"},
		{"SELECT hostname FROM cpu GROUP BY hostname ORDER BY max(usage_idle)", "hostname usage_idle"},
		{"SELECT date_trunc('hour', time), sum(n) FROM cpu WHERE ok GROUP BY 1", "time n ok"},
	}
	for _, c := range cases {
		q := compile(t, c.sql)
		if got := strings.Join(scanNames(q), " "); got != c.scan {
			t.Errorf("%s: scan %q, want %q", c.sql, got, c.scan)
		}
	}
}

func TestCaseSensitiveNames(t *testing.T) {
	q := compile(t, `SELECT "Free", used FROM mem`)
	if q.Outputs[0].Name != "Free" || q.Outputs[0].Expr.(*ColumnRef).Column.Name != "Free" {
		t.Errorf("%v", q.Outputs)
	}
	e := compileErr(t, `SELECT Free FROM mem`)
	if e.Code != CodeUndefinedColumn || e.Message != `column "free" does not exist` || !strings.Contains(e.Hint, `"Free"`) {
		t.Errorf("%+v", e)
	}
	if e := compileErr(t, `SELECT x FROM "Weird"`); e.Code != CodeAmbiguous {
		t.Errorf("tag and field named x: %+v", e)
	}
}

func TestStatementReuse(t *testing.T) {
	st, err := Parse("SELECT max(n) FROM cpu WHERE time > now() - interval '1 minute'")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Plan(st, testCatalog(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Plan(st, testCatalog(), testNow.Add(3600e9))
	if err != nil {
		t.Fatal(err)
	}
	if b.TimeRange.Min-a.TimeRange.Min != 3600e9 {
		t.Errorf("ranges %v %v", a.TimeRange, b.TimeRange)
	}
	if _, err := Plan(&Statement{}, testCatalog(), testNow); err == nil {
		t.Error("Plan of a zero Statement succeeded")
	}
	if _, err := Compile("SELECT 1 FROM cpu", nil, testNow); err == nil {
		t.Error("nil catalog succeeded")
	}
}
