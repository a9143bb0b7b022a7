package sql

import (
	"strings"
	"testing"
)

func TestExplainStatements(t *testing.T) {
	const sel = "SELECT hostname, max(usage_user) FROM cpu WHERE hostname = 'a' OR hostname = 'b' GROUP BY hostname"
	inner := compile(t, sel)
	for _, c := range []struct {
		sql     string
		analyze bool
	}{
		{"EXPLAIN " + sel, false},
		{"explain analyze " + sel, true},
		{"EXPLAIN ANALYZE VERBOSE " + sel, true},
		{"EXPLAIN (ANALYZE) " + sel, true},
		{"EXPLAIN (ANALYZE true, COSTS off, FORMAT text) " + sel, true},
		{"EXPLAIN (ANALYZE 0, BUFFERS) " + sel, false},
		{"EXPLAIN (VERBOSE, ANALYZE on) " + sel, true},
	} {
		q := compile(t, c.sql)
		if q.Kind != QueryExplain || q.Analyze != c.analyze || q.Explained == nil {
			t.Errorf("%s: kind %d analyze %v", c.sql, q.Kind, q.Analyze)
			continue
		}
		if len(q.Outputs) != 1 || q.Outputs[0].Name != "QUERY PLAN" || q.Outputs[0].Type != TypeString {
			t.Errorf("%s: outputs %v", c.sql, q.Outputs)
		}
		// The explained plan is the SELECT's own: the OR-chain is the IN
		// list the executor pushes into the tag index.
		if q.Explained.String() != inner.String() || !strings.Contains(q.Explained.String(), "IN ('a', 'b')") {
			t.Errorf("%s: explained plan\n%s\nwant\n%s", c.sql, q.Explained, inner)
		}
	}
	for _, c := range []struct{ sql, want string }{
		{"EXPLAIN (ANALYZE maybe) " + sel, "requires a Boolean value"},
		{"EXPLAIN (FORMAT YAML) " + sel, "EXPLAIN (FORMAT YAML) is not supported"},
		{"EXPLAIN (GENERIC_PLAN) " + sel, "EXPLAIN option GENERIC_PLAN is not supported"},
		{"EXPLAIN DELETE FROM cpu", "EXPLAIN of DELETE is not supported"},
		{"EXPLAIN SELECT nosuch FROM cpu", `column "nosuch" does not exist`},
	} {
		if e := compileErr(t, c.sql); !strings.Contains(e.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.sql, e, c.want)
		}
	}
}
