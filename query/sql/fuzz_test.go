package sql

import (
	"errors"
	"testing"
)

// FuzzPlan checks that no SQL text makes Parse or Plan panic, that every
// error is an *Error with a code, and that a plan is well formed.
func FuzzPlan(f *testing.F) {
	seeds := []string{
		"SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user) FROM cpu WHERE hostname IN ('host_1') AND time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T01:00:00Z' GROUP BY minute ORDER BY minute",
		"SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= now() - interval '1 hour'",
		"SELECT hostname, last(usage_user, time) FROM cpu GROUP BY hostname",
		"SELECT max(usage_user) - min(usage_user), count(*) FROM cpu GROUP BY hostname HAVING count(*) > 1 ORDER BY 2 DESC LIMIT 5 OFFSET 1",
		"SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY n), count(DISTINCT hostname) FROM cpu WHERE NOT (time < '2026-01-01' OR hostname ~ '^a') AND n BETWEEN 1 AND 5",
		"SELECT DISTINCT hostname FROM cpu ORDER BY hostname",
		"SELECT u + 1, u - n, -u, n % 2.5, n / 0 FROM cpu",
		"SELECT 1, 'a', now(), NULL",
		"SHOW TABLES", "DESCRIBE cpu", `DESC "Weird"`,
		"SELECT * FROM cpu JOIN mem ON true",
		"SELECT hostname FROM cpu WHERE hostname LIKE 'a%' OR ok IS NOT TRUE",
		"SELECT time_bucket('5m', time), first(n ORDER BY time DESC) FROM cpu GROUP BY 1",
		"SELECT date_trunc('week', time), sum(u) FROM cpu GROUP BY 1",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"SELECT CASE WHEN n > 1 THEN 'a' WHEN ok THEN msg ELSE NULL END, coalesce(u, n, 0), nullif(hostname, 'x'), greatest(n, usage_user) FROM cpu",
		"SELECT lower(hostname) || '/' || substr(msg, 2, 3), split_part(msg, ',', -1), regexp_replace(msg, '(a)', '\\1\\&', 'gi') FROM cpu WHERE n IS DISTINCT FROM 3",
		"SELECT extract(dow FROM time), date_trunc('month', time, 'Europe/Paris'), time AT TIME ZONE 'Asia/Tokyo', time - interval '1 month', now() - time FROM cpu",
		"SELECT round(sum(n) / count(*), 2), count(DISTINCT msg) FILTER (WHERE ok), n::text FROM cpu GROUP BY n::text, date_trunc('year', time)",
		"",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	cat := testCatalog()
	f.Fuzz(func(t *testing.T, sql string) {
		q, err := Compile(sql, cat, testNow)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("%q: error %T %v without code", sql, err, err)
			}
			if e.Code == CodeUnsupported && e.Construct == "" {
				t.Fatalf("%q: unsupported without a construct: %v", sql, e)
			}
			if e.Position < 0 || e.Position > len(sql)+1 {
				t.Fatalf("%q: position %d", sql, e.Position)
			}
			return
		}
		_ = q.String()
		checkPlan(t, sql, q)
	})
}

// checkPlan verifies the invariants an executor relies on.
func checkPlan(t *testing.T, sql string, q *Query) {
	t.Helper()
	if q.Kind != QuerySelect {
		return
	}
	for i, o := range q.Outputs {
		_, isConst := o.Expr.(*Const)
		if o.Expr == nil || o.Type != o.Expr.Type() || o.Type == TypeInterval && isConst {
			t.Fatalf("%q: output %d %+v", sql, i, o)
		}
	}
	rowOnly := func(e Expr) {
		Walk(e, func(x Expr) bool {
			switch x.(type) {
			case *KeyRef, *AggRef, *aggCall:
				t.Fatalf("%q: group-context node in row context: %s", sql, e)
			}
			checkNode(t, sql, x)
			return true
		})
	}
	groupOnly := func(e Expr) {
		Walk(e, func(x Expr) bool {
			switch y := x.(type) {
			case *ColumnRef, *aggCall:
				t.Fatalf("%q: row-context node in group context: %s", sql, e)
			case *KeyRef:
				if y.Key < 0 || y.Key >= len(q.GroupBy) {
					t.Fatalf("%q: bad key ref %d", sql, y.Key)
				}
			case *AggRef:
				if y.Agg < 0 || y.Agg >= len(q.Aggregates) || y.T != q.Aggregates[y.Agg].Type {
					t.Fatalf("%q: bad agg ref %d", sql, y.Agg)
				}
			}
			checkNode(t, sql, x)
			return true
		})
	}
	rowOnly(q.Where)
	rowOnly(q.Residual)
	for _, k := range q.GroupBy {
		rowOnly(k.Expr)
		if k.IsTime() && k.Bucket.Width <= 0 {
			t.Fatalf("%q: bucket %+v", sql, k.Bucket)
		}
	}
	for _, a := range q.Aggregates {
		rowOnly(a.Arg)
		rowOnly(a.Filter)
		if a.Filter != nil && a.Filter.Type() != TypeBool {
			t.Fatalf("%q: filter %s", sql, a.Filter)
		}
		if (a.Arg == nil) != (a.Func == AggCountStar) {
			t.Fatalf("%q: aggregate %v", sql, a)
		}
	}
	ctx := rowOnly
	if q.Aggregated {
		ctx = groupOnly
	} else if len(q.Aggregates) > 0 || len(q.GroupBy) > 0 || q.Having != nil {
		t.Fatalf("%q: grouping parts in a non-aggregate query", sql)
	}
	for _, o := range q.Outputs {
		ctx(o.Expr)
	}
	ctx(q.Having)
	for _, k := range q.OrderBy {
		ctx(k.Expr)
		if k.Output >= len(q.Outputs) {
			t.Fatalf("%q: order output %d", sql, k.Output)
		}
	}
	if q.Limit < -1 || q.Offset < 0 {
		t.Fatalf("%q: limit %d offset %d", sql, q.Limit, q.Offset)
	}
}

// checkNode verifies the typing rules of one node.
func checkNode(t *testing.T, sql string, x Expr) {
	switch y := x.(type) {
	case *Binary:
		if y.L.Type() != y.R.Type() {
			t.Fatalf("%q: binary operands %s and %s in %s", sql, y.L.Type(), y.R.Type(), y)
		}
		if y.Op.Comparison() != (y.T == TypeBool) && y.L.Type() != TypeBool {
			t.Fatalf("%q: binary result %s in %s", sql, y.T, y)
		}
	case *Logic:
		if len(y.Args) < 2 {
			t.Fatalf("%q: logic with %d args", sql, len(y.Args))
		}
		for _, a := range y.Args {
			if a.Type() != TypeBool {
				t.Fatalf("%q: logic arg %s", sql, a)
			}
		}
	case *InList:
		for _, v := range y.Values {
			if v.Null || v.Type != y.X.Type() {
				t.Fatalf("%q: IN value %v", sql, v)
			}
		}
	case *Match:
		if y.Re == nil || y.X.Type() != TypeString {
			t.Fatalf("%q: match %s", sql, y)
		}
	case *Cast:
		if !castable(y.X.Type(), y.To) {
			t.Fatalf("%q: cast %s", sql, y)
		}
	case *DateBin:
		if y.Bucket.Width <= 0 || y.X.Type() != TypeTimestamp {
			t.Fatalf("%q: date_bin %s", sql, y)
		}
	case *Func:
		for _, a := range y.Args {
			if a == nil {
				t.Fatalf("%q: nil argument in %s", sql, y)
			}
		}
		if y.Fn == FnRegexpReplace && y.Re == nil || y.Fn == FnExtract && y.Unit == "" {
			t.Fatalf("%q: function parameters in %s", sql, y)
		}
	case *Case:
		if len(y.Whens) == 0 {
			t.Fatalf("%q: CASE without arms", sql)
		}
		for _, w := range y.Whens {
			if w.Cond.Type() != TypeBool || w.Then.Type() != y.T {
				t.Fatalf("%q: CASE arm %s THEN %s of %s", sql, w.Cond, w.Then, y.T)
			}
		}
		if y.Else != nil && y.Else.Type() != y.T {
			t.Fatalf("%q: CASE ELSE %s of %s", sql, y.Else, y.T)
		}
	}
	// Run-time intervals are timestamp differences; constants compared with
	// them have no months.
	if x.Type() == TypeInterval {
		switch y := x.(type) {
		case *Func:
			if y.Fn != FnTsDiff {
				t.Fatalf("%q: interval from %s", sql, x)
			}
		case *Const:
			if y.Value.Interval.Months != 0 {
				t.Fatalf("%q: interval with months in a plan: %s", sql, x)
			}
		case *KeyRef:
		default:
			t.Fatalf("%q: interval in a plan: %s", sql, x)
		}
	}
}

// TestPlanInvariants runs checkPlan over the fuzz seeds and more.
func TestPlanInvariants(t *testing.T) {
	for _, sql := range []string{
		"SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user) FROM cpu GROUP BY minute ORDER BY minute",
		"SELECT max(usage_user) - min(usage_user), count(*) FROM cpu GROUP BY hostname HAVING count(*) > 1 ORDER BY 2 DESC, max(n)",
		"SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS time, count(*) FROM cpu GROUP BY time",
		"SELECT * FROM cpu WHERE n IN (1, 2.5) AND u > -1 AND ok IS NOT FALSE ORDER BY usage_user + n",
		"SELECT 1, now()",
		"SELECT CASE WHEN n > 1 THEN 'a' WHEN ok THEN msg END, coalesce(u, n, 0), greatest(n, usage_user), now() - time FROM cpu",
		"SELECT lower(hostname), count(*) FILTER (WHERE ok), sum(n) / count(*) FROM cpu GROUP BY 1 HAVING max(time) - min(time) > interval '1 day'",
		"SELECT extract(epoch FROM time - TIMESTAMPTZ '2026-01-01'), date_trunc('quarter', time) FROM cpu WHERE time - now() < '1 hour'",
	} {
		checkPlan(t, sql, compile(t, sql))
	}
}
