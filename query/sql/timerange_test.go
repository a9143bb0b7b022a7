package sql

import (
	"math"
	"testing"
)

func TestTimeRangeExtraction(t *testing.T) {
	cases := []struct{ where, rng, residual string }{
		{"", "[-infinity, infinity)", "<nil>"},
		{"time >= '2026-01-01' AND time < '2026-01-02'", "[2026-01-01T00:00:00Z, 2026-01-02T00:00:00Z)", "<nil>"},
		{"time > '2026-01-01' AND time <= '2026-01-02'", "[2026-01-01T00:00:00.000000001Z, 2026-01-02T00:00:00.000000001Z)", "<nil>"},
		{"'2026-01-01' <= time AND '2026-01-02' > time", "[2026-01-01T00:00:00Z, 2026-01-02T00:00:00Z)", "<nil>"},
		{"time = '2026-01-01'", "[2026-01-01T00:00:00Z, 2026-01-01T00:00:00.000000001Z)", "<nil>"},
		{"time BETWEEN '2026-01-01' AND '2026-01-02'", "[2026-01-01T00:00:00Z, 2026-01-02T00:00:00.000000001Z)", "<nil>"},
		{"time >= now() - interval '1 hour'", "[2026-01-02T02:04:05Z, infinity)", "<nil>"},
		{"time > now() - interval '1 hour' AND time < now()", "[2026-01-02T02:04:05.000000001Z, 2026-01-02T03:04:05Z)", "<nil>"},
		// the tightest of several bounds
		{"time >= '2026-01-01' AND time >= '2026-01-05' AND time < '2026-02-01' AND time < '2026-01-10'", "[2026-01-05T00:00:00Z, 2026-01-10T00:00:00Z)", "<nil>"},
		// other conjuncts stay in the residual
		{"hostname = 'a' AND time >= '2026-01-01' AND n > 1", "[2026-01-01T00:00:00Z, infinity)", "((hostname = 'a') AND (n > 1))"},
		{"time >= '2026-01-01' AND hostname = 'a'", "[2026-01-01T00:00:00Z, infinity)", "(hostname = 'a')"},
		// nested AND inside AND is flattened
		{"(time >= '2026-01-01' AND n > 1) AND time < '2026-01-02'", "[2026-01-01T00:00:00Z, 2026-01-02T00:00:00Z)", "(n > 1)"},
		// OR: hull of the branches, kept in the residual
		{"(time >= '2026-01-01' AND time < '2026-01-02') OR (time >= '2026-01-05' AND time < '2026-01-06')",
			"[2026-01-01T00:00:00Z, 2026-01-06T00:00:00Z)",
			"(((time >= 2026-01-01T00:00:00Z) AND (time < 2026-01-02T00:00:00Z)) OR ((time >= 2026-01-05T00:00:00Z) AND (time < 2026-01-06T00:00:00Z)))"},
		{"time < '2026-01-01' OR hostname = 'a'", "[-infinity, infinity)", "((time < 2026-01-01T00:00:00Z) OR (hostname = 'a'))"},
		{"time >= '2026-01-01' AND (time < '2026-01-02' OR time > '2026-03-01')", "[2026-01-01T00:00:00Z, infinity)",
			"((time < 2026-01-02T00:00:00Z) OR (time > 2026-03-01T00:00:00Z))"},
		// NOT is pushed into the comparison
		{"NOT (time < '2026-01-01')", "[2026-01-01T00:00:00Z, infinity)", "<nil>"},
		{"NOT (time < '2026-01-01' OR time >= '2026-02-01')", "[2026-01-01T00:00:00Z, 2026-02-01T00:00:00Z)", "<nil>"},
		{"time NOT BETWEEN '2026-01-01' AND '2026-01-02'", "[-infinity, infinity)",
			"((time < 2026-01-01T00:00:00Z) OR (time > 2026-01-02T00:00:00Z))"},
		{"time IN ('2026-01-03', '2026-01-01')", "[2026-01-01T00:00:00Z, 2026-01-03T00:00:00.000000001Z)", "(time IN (2026-01-03T00:00:00Z, 2026-01-01T00:00:00Z))"},
		{"time NOT IN ('2026-01-01')", "[-infinity, infinity)", "(time NOT IN (2026-01-01T00:00:00Z))"},
		{"time <> '2026-01-01'", "[-infinity, infinity)", "(time <> 2026-01-01T00:00:00Z)"},
		// contradictions and constants
		{"time >= '2026-01-02' AND time < '2026-01-01'", "empty", "<nil>"},
		{"time > 'infinity'", "empty", "<nil>"},
		{"time < '-infinity'", "empty", "<nil>"},
		{"false", "empty", "FALSE"},
		{"NULL", "empty", "NULL"},
		{"true", "[-infinity, infinity)", "<nil>"},
		{"1 = 1 AND time >= '2026-01-01'", "[2026-01-01T00:00:00Z, infinity)", "<nil>"},
		{"time = NULL", "empty", "NULL"},
		// bounds at the ends of the int64 range
		{"time <= 'infinity'", "[-infinity, infinity)", "<nil>"},
		{"time < 'infinity'", "[-infinity, infinity)", "(time < infinity)"},
		{"time >= '-infinity'", "[-infinity, infinity)", "<nil>"},
		// epoch nanoseconds (Silt extension)
		{"time >= 1000 AND time < 2000", "[1970-01-01T00:00:00.000001Z, 1970-01-01T00:00:00.000002Z)", "<nil>"},
		// not a bound on time: date_bin of time
		{"date_bin('1h', time) = '2026-01-01'", "[-infinity, infinity)", "(date_bin(1h0m0s, time, 1970-01-01T00:00:00Z) = 2026-01-01T00:00:00Z)"},
	}
	for _, c := range cases {
		sql := "SELECT n FROM cpu"
		if c.where != "" {
			sql += " WHERE " + c.where
		}
		q := compile(t, sql)
		res := "<nil>"
		if q.Residual != nil {
			res = q.Residual.String()
		}
		if q.TimeRange.String() != c.rng || res != c.residual {
			t.Errorf("WHERE %s:\n got %s residual %s\nwant %s residual %s", c.where, q.TimeRange, res, c.rng, c.residual)
		}
	}
}

func TestTimeRangeMethods(t *testing.T) {
	r := TimeRange{Min: 10, Max: 20}
	for tm, want := range map[int64]bool{9: false, 10: true, 19: true, 20: false} {
		if r.Contains(tm) != want {
			t.Errorf("Contains(%d) != %v", tm, want)
		}
	}
	if !r.Overlaps(0, 10) || !r.Overlaps(19, 30) || r.Overlaps(20, 30) || r.Overlaps(0, 9) || r.Overlaps(15, 12) {
		t.Error("Overlaps")
	}
	if r.IsEmpty() || r.IsFull() || !FullRange.IsFull() || FullRange.IsEmpty() {
		t.Error("IsEmpty/IsFull")
	}
	if !FullRange.Contains(math.MaxInt64) || !FullRange.Contains(math.MinInt64) || !FullRange.Overlaps(math.MaxInt64, math.MaxInt64) {
		t.Error("the full range misses the extremes")
	}
	point := TimeRange{Min: math.MaxInt64, Max: math.MaxInt64}
	if point.IsEmpty() || !point.Contains(math.MaxInt64) || point.Contains(0) {
		t.Error("the point at MaxInt64")
	}
	if !emptyRange.IsEmpty() || emptyRange.Contains(0) || emptyRange.Overlaps(math.MinInt64, math.MaxInt64) {
		t.Error("empty")
	}
	if got := intersect(TimeRange{0, 10}, TimeRange{20, 30}); !got.IsEmpty() {
		t.Errorf("intersect disjoint: %v", got)
	}
	if got := hull(emptyRange, TimeRange{5, 6}); got != (TimeRange{5, 6}) {
		t.Errorf("hull with empty: %v", got)
	}
}

// TestTimeRangeIsConservative checks on sample rows that every row the
// predicate accepts lies in the range, and that range ∧ residual equals
// the predicate.
func TestTimeRangeIsConservative(t *testing.T) {
	wheres := []string{
		"time >= 100 AND time < 200",
		"time > 100 AND time <= 200 AND n > 5",
		"(time >= 100 AND time < 150) OR (time > 300 AND time < 400)",
		"time = 150 OR time = 250",
		"NOT (time < 120 OR time > 130)",
		"time BETWEEN 120 AND 180 AND NOT (n = 3)",
		"time IN (100, 200, 300) AND time <> 200",
		"time >= 100 AND (time < 150 OR n < 2)",
	}
	for _, w := range wheres {
		q := compile(t, "SELECT n FROM cpu WHERE "+w)
		for tm := int64(0); tm < 500; tm++ {
			for n := int64(0); n < 10; n++ {
				full := evalBool(t, q.Where, tm, n)
				if full && !q.TimeRange.Contains(tm) {
					t.Errorf("%s: row time=%d n=%d passes but is outside %v", w, tm, n, q.TimeRange)
				}
				split := q.TimeRange.Contains(tm) && (q.Residual == nil || evalBool(t, q.Residual, tm, n))
				if split != full {
					t.Errorf("%s: row time=%d n=%d: range+residual %v, where %v", w, tm, n, split, full)
				}
			}
		}
	}
}

// evalBool is a tiny reference evaluator for predicates over time and n
// (no NULLs), for TestTimeRangeIsConservative.
func evalBool(t *testing.T, e Expr, tm, n int64) bool {
	//lint:ignore S1021 the closure calls itself, so it is declared first
	var val func(Expr) int64
	val = func(e Expr) int64 {
		switch x := e.(type) {
		case *ColumnRef:
			if x.Column.Name == "time" {
				return tm
			}
			return n
		case *Const:
			return x.Value.Int
		}
		t.Fatalf("evalBool: %T", e)
		return 0
	}
	switch x := e.(type) {
	case *Logic:
		for _, a := range x.Args {
			if evalBool(t, a, tm, n) == (x.Op == OpOr) {
				return x.Op == OpOr
			}
		}
		return x.Op == OpAnd
	case *Unary:
		return !evalBool(t, x.X, tm, n)
	case *Binary:
		return evalCompare(x.Op, IntValue(val(x.L)), IntValue(val(x.R))).Bool
	case *InList:
		v := val(x.X)
		for _, c := range x.Values {
			if c.Int == v {
				return !x.Not
			}
		}
		return x.Not
	}
	t.Fatalf("evalBool: %T", e)
	return false
}
