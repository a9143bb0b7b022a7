package sql

import (
	"math"
	"strings"
	"testing"
	"time"
)

func testTime(s string) int64 {
	t, _ := time.Parse("2006-01-02", s)
	return t.UnixNano()
}

// TestJoinPushDown checks that a WHERE conjunct on one joined table
// bounds that table's scan, and one on the NULL side of an outer join
// does not.
func TestJoinPushDown(t *testing.T) {
	q := compile(t, "SELECT a.n, b.used FROM cpu a JOIN mem b ON a.hostname = b.hostname WHERE a.time >= '2026-01-01' AND b.used > 5")
	if q.Input == nil || q.Input.Kind != RelJoin {
		t.Fatalf("not a join:\n%s", q)
	}
	l, r := q.Input.L.Query, q.Input.R.Query
	if l.TimeRange.Min == math.MinInt64 || !l.TimeRange.Contains(testTime("2026-01-01")) {
		t.Errorf("left scan's time range %s, want from 2026-01-01", l.TimeRange)
	}
	if r.Residual == nil || !strings.Contains(r.Residual.String(), "used") {
		t.Errorf("right scan's residual %v, want used > 5", r.Residual)
	}
	if len(q.Input.LeftKeys) != 1 || q.Input.On != nil {
		t.Errorf("keys %v, on %v: want one hash key and no residual", q.Input.LeftKeys, q.Input.On)
	}
	q = compile(t, "SELECT a.n FROM cpu a LEFT JOIN mem b ON a.hostname = b.hostname WHERE b.used IS NULL AND a.time < '2026-01-01'")
	if r := q.Input.R.Query; r.Where != nil {
		t.Errorf("the NULL side's scan got %s", r.Where)
	}
	if l := q.Input.L.Query; l.TimeRange.Max == math.MaxInt64 {
		t.Errorf("left scan not bounded: %s", l.TimeRange)
	}
}

// TestRelationalNames checks output names, duplicate names and USING.
func TestRelationalNames(t *testing.T) {
	for _, c := range []struct{ sql, names string }{
		{"SELECT * FROM cpu a JOIN mem b USING (hostname)", "hostname,time,region,datacenter,usage_user,usage_system,usage_idle,n,u,ok,msg,time,used,Free"},
		{"SELECT a.hostname, b.hostname FROM cpu a JOIN mem b ON a.hostname = b.hostname", "hostname,hostname"},
		{"SELECT b.* FROM cpu a JOIN mem b USING (hostname)", "time,hostname,used,Free"},
		{"WITH x(h) AS (SELECT hostname FROM mem) SELECT * FROM x", "h"},
		{"SELECT n FROM cpu UNION SELECT used FROM mem", "n"},
		{"SELECT hostname, rank() OVER (ORDER BY n) FROM cpu", "hostname,rank"},
	} {
		q := compile(t, c.sql)
		var names []string
		for _, o := range q.Outputs {
			names = append(names, o.Name)
		}
		if got := strings.Join(names, ","); got != c.names {
			t.Errorf("%s: columns %s, want %s", c.sql, got, c.names)
		}
	}
	for _, c := range []struct{ sql, msg string }{
		{"SELECT hostname FROM cpu a JOIN mem b ON true", `column reference "hostname" is ambiguous`},
		{"SELECT * FROM cpu a JOIN cpu a ON true", `table name "a" specified more than once`},
		{"SELECT * FROM cpu JOIN mem USING (nope)", `column "nope" specified in USING clause does not exist in left table`},
		{"SELECT n FROM cpu UNION SELECT hostname FROM mem", "UNION types bigint and text cannot be matched"},
		{"SELECT n FROM cpu UNION SELECT n, n FROM cpu", "each UNION query must have the same number of columns"},
		{"SELECT (SELECT n, n FROM cpu)", "subquery must return only one column"},
		{"SELECT DISTINCT ON (hostname) n FROM cpu ORDER BY n", "SELECT DISTINCT ON expressions must match initial ORDER BY expressions"},
		{"SELECT n FROM cpu WHERE row_number() OVER () > 1", "window functions are not allowed in WHERE"},
		{"SELECT sum(row_number() OVER ()) FROM cpu", "aggregate function calls cannot contain window function calls"},
		{"SELECT lag(lag(n) OVER ()) OVER () FROM cpu", "window function calls cannot be nested"},
	} {
		_, err := Compile(c.sql, testCatalog(), testNow)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %q", c.sql, err, c.msg)
		}
	}
}
