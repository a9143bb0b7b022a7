package influxql

import (
	"slices"
	"testing"

	"github.com/influxdata/influxql"
)

// TestWalkExprVisitsAsWalkFunc checks walkExpr against the parser's own
// walker: for each field of a set of SELECTs (nested calls, math,
// parentheses, literals, wildcards, regexes), the expressions walkExpr
// visits, in order, are those influxql.WalkFunc visits.
func TestWalkExprVisitsAsWalkFunc(t *testing.T) {
	for _, q := range []string{
		`SELECT * FROM cpu`,
		`SELECT usage_user, "usage system", host FROM cpu`,
		`SELECT last(*) FROM cpu GROUP BY *`,
		`SELECT (a + b) * -c / 2, a % 3, "x"::field FROM m`,
		`SELECT abs(mean(x)) / round(max(y) - min(y)), derivative(mean(z), 1s) FROM m GROUP BY time(1m)`,
		`SELECT percentile(x, 95), top(x, host, 3), count(distinct(host)) FROM m`,
		`SELECT sin(cos(tan(x + (y * (z - 1))))), mode(x) * 2, true, 'str', 1.5, 7 FROM m`,
		`SELECT holt_winters_with_fit(first(x), 10, 4), moving_average(mean(x), 3) FROM m GROUP BY time(1h)`,
		`SELECT max(/usage_.*/) FROM cpu`,
	} {
		stmt, err := influxql.ParseStatement(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, f := range stmt.(*influxql.SelectStatement).Fields {
			var want, got []string
			influxql.WalkFunc(f.Expr, func(n influxql.Node) {
				if e, ok := n.(influxql.Expr); ok {
					want = append(want, e.String())
				}
			})
			walkExpr(f.Expr, func(e influxql.Expr) { got = append(got, e.String()) })
			if !slices.Equal(got, want) {
				t.Fatalf("%s, field %s: walkExpr visits %q, WalkFunc %q", q, f, got, want)
			}
			if len(want) == 0 {
				t.Fatalf("%s, field %s: nothing visited", q, f)
			}
		}
	}
}
