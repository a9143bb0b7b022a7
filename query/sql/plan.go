package sql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// QueryKind says what a Query asks for.
type QueryKind uint8

const (
	// QuerySelect is a SELECT: scan Table (or, with Table nil, one row of
	// constant Outputs), filter, group, aggregate, project, sort, limit.
	QuerySelect QueryKind = iota
	// QueryShowTables lists the database's tables: one output column
	// "table_name" (string), one row per table, sorted by name.
	QueryShowTables
	// QueryDescribe lists Table's columns: outputs "column_name",
	// "data_type", "column_kind" (strings); the rows are DescribeRows().
	QueryDescribe
	// QueryExplain describes Explained, the plan of a SELECT, and with
	// Analyze runs it too: one output column "QUERY PLAN" (string), a row
	// per line (query/exec renders it).
	QueryExplain
)

// Query is a resolved logical plan. Evaluation order for QuerySelect:
//
//  1. Scan Table's rows with TimeRange.Contains(time), reading the Scan
//     columns, and keep those where Residual is TRUE (Residual is Where with
//     the conjuncts that TimeRange captures exactly removed; Where is kept
//     whole for reference).
//  2. If Aggregated: group the rows by GroupBy (no keys: one group, which
//     exists even when no row is left, so count(*) gives 0), compute
//     Aggregates per group, and keep groups where Having is TRUE.
//     Otherwise each row passes on.
//  3. Evaluate Outputs (group context when Aggregated, else row context).
//  4. If Distinct, drop duplicate output rows (NULLs equal each other).
//  5. Sort by OrderBy (stable; ties keep no particular order, as in
//     PostgreSQL), then skip Offset rows and return at most Limit.
type Query struct {
	Kind QueryKind
	// Table is the FROM table (QuerySelect) or the described table; nil for
	// QueryShowTables and for a SELECT without FROM.
	Table *Table
	// Scan lists the columns the query reads, in table order: those of
	// Residual, group keys, aggregate arguments (and time for first/last),
	// and, in a non-aggregate query, outputs and ORDER BY. TimeRange is
	// not counted: the executor reads time to apply it wherever a chunk of
	// data is not wholly inside the range.
	Scan []Column

	Where     Expr // row context, boolean; nil when there is no WHERE
	Residual  Expr // Where minus what TimeRange enforces; nil when nothing is left
	TimeRange TimeRange

	// Aggregated is set when the query groups: GROUP BY, an aggregate
	// anywhere, or HAVING.
	Aggregated bool
	GroupBy    []GroupKey // deduplicated, in GROUP BY order
	TimeKey    int        // index of the time key in GroupBy, or -1
	Aggregates []Aggregate
	Having     Expr // group context, boolean; nil when there is none

	// Outputs are the result columns, in order, with PostgreSQL's names.
	Outputs  []Output
	Distinct bool
	OrderBy  []SortKey
	Limit    int64 // -1: no limit
	Offset   int64

	// Input, when set, is what the query reads instead of a stored table
	// (a CTE, a subquery in FROM, a join, a set operation, or the window
	// functions of the select list): Table is then a derived table with a
	// column (of Kind KindField, any Type) per column of Input, Scan lists
	// them all, and TimeRange is full.
	Input *Rel

	// Explained and Analyze are a QueryExplain's query and whether it is
	// run.
	Explained *Query
	Analyze   bool
}

// GroupKey is one GROUP BY key: a tag, the time column bucketed, a field,
// or any other row expression.
type GroupKey struct {
	// Column is the tag (Kind KindTag), the time column (KindTime), the
	// field (KindField), or, for another expression, a Column of Kind
	// KindExpr (no column).
	Column Column
	// Bucket applies to a time key: the key is Bucket.Start(time). GROUP
	// BY time itself is a bucket of Width 1.
	Bucket Bucket
	// Expr is the key as a row-context expression (a ColumnRef or a
	// DateBin over time).
	Expr Expr
}

// IsTime reports whether the key buckets time.
func (k GroupKey) IsTime() bool { return k.Column.Kind == KindTime }

// Type is the key's type.
func (k GroupKey) Type() Type { return k.Expr.Type() }

// AggFunc is an aggregate function.
type AggFunc uint8

// Aggregate functions. All ignore rows where Arg is NULL, and all but the
// counts give NULL for a group with no non-NULL Arg.
const (
	AggCountStar      AggFunc = iota + 1 // count(*): rows; int64
	AggCount                             // count(x): non-NULL x; int64
	AggCountDistinct                     // count(DISTINCT tag): distinct non-NULL values; int64
	AggSum                               // sum: type of Arg (int64, uint64 or float64); integer overflow is an error
	AggMin                               // min: type of Arg (number, string by bytes, or timestamp)
	AggMax                               // max: as min
	AggAvg                               // avg: float64 (Arg is int64, uint64 or float64)
	AggStddevSamp                        // stddev, stddev_samp: float64; NULL for fewer than 2 values
	AggStddevPop                         // stddev_pop: float64
	AggVarSamp                           // variance, var_samp: float64; NULL for fewer than 2 values
	AggVarPop                            // var_pop: float64
	AggFirst                             // first(x, time): x of the row with the smallest time among rows with non-NULL x
	AggLast                              // last(x, time): x of the row with the largest time among rows with non-NULL x
	AggPercentileCont                    // percentile_cont(Fraction) WITHIN GROUP (ORDER BY x): float64, linear interpolation
	AggPercentileDisc                    // percentile_disc(Fraction) WITHIN GROUP (ORDER BY x): type of x, first value whose cumulative share >= Fraction
	AggBoolAnd                           // bool_and, every: bool, TRUE when every non-NULL x is
	AggBoolOr                            // bool_or: bool, TRUE when any non-NULL x is
	AggStringAgg                         // string_agg(x, Sep [ORDER BY Order [DESC]]): the non-NULL x joined by Sep
	AggMode                              // mode() WITHIN GROUP (ORDER BY x [DESC]): the most frequent x, the first in that order among ties
)

var aggNames = [...]string{"", "count", "count", "count", "sum", "min", "max", "avg", "stddev_samp", "stddev_pop",
	"var_samp", "var_pop", "first", "last", "percentile_cont", "percentile_disc", "bool_and", "bool_or", "string_agg", "mode"}

func (f AggFunc) String() string {
	if int(f) < len(aggNames) {
		return aggNames[f]
	}
	return "?"
}

// Aggregate is one aggregate computation, shared by every place that uses
// it (an AggRef points at it).
type Aggregate struct {
	Func AggFunc
	// Arg is the row-context argument; nil for count(*). For
	// AggCountDistinct it is a tag ColumnRef. For first/last it is x (the
	// ordering is always the time column).
	Arg Expr
	// Fraction is the percentile, in [0, 1] (percentiles only).
	Fraction float64
	Type     Type
	// Filter is FILTER (WHERE Filter), row context: only rows where it is
	// TRUE are aggregated; nil when there is none.
	Filter Expr
	// Sep is string_agg's delimiter. Order (row context; nil: the order
	// rows come in, which is unspecified) and Desc order string_agg's
	// values; Desc also orders mode's.
	Sep   string
	Order Expr
	Desc  bool
}

func (a Aggregate) String() string {
	s := a.string()
	if a.Filter != nil {
		s += " FILTER (WHERE " + a.Filter.String() + ")"
	}
	return s
}

func (a Aggregate) string() string {
	switch a.Func {
	case AggCountStar:
		return "count(*)"
	case AggCountDistinct:
		return "count(DISTINCT " + a.Arg.String() + ")"
	case AggPercentileCont, AggPercentileDisc:
		return a.Func.String() + "(" + formatFloat(a.Fraction) + ", " + a.Arg.String() + ")"
	case AggStringAgg:
		s := "string_agg(" + a.Arg.String() + ", " + quoteString(a.Sep)
		if a.Order != nil {
			s += " ORDER BY " + a.Order.String()
			if a.Desc {
				s += " DESC"
			}
		}
		return s + ")"
	case AggMode:
		s := "mode(" + a.Arg.String()
		if a.Desc {
			s += " DESC"
		}
		return s + ")"
	}
	return a.Func.String() + "(" + a.Arg.String() + ")"
}

// Output is one result column.
type Output struct {
	Name string // PostgreSQL's column name: the alias, column or function name, or "?column?"
	Type Type
	Expr Expr // nil for the meta queries
}

// SortKey is one ORDER BY key.
type SortKey struct {
	// Expr is evaluated in the same context as Outputs.
	Expr Expr
	// Output is the index of the output column equal to Expr (the executor
	// may reuse its value), or -1 when the key is not an output.
	Output     int
	Desc       bool
	NullsFirst bool // PostgreSQL's default: NULLS LAST for ASC, NULLS FIRST for DESC
}

// TimeRange is a conservative bound on the time of rows that can pass
// Where: [Min, Max), with Max == math.MaxInt64 meaning no upper bound
// (the row at MaxInt64 included) and Min == math.MinInt64 no lower bound.
type TimeRange struct {
	Min, Max int64
}

// FullRange is the unbounded range.
var FullRange = TimeRange{Min: math.MinInt64, Max: math.MaxInt64}

// Contains reports whether t is in the range.
func (r TimeRange) Contains(t int64) bool {
	return t >= r.Min && (t < r.Max || r.Max == math.MaxInt64)
}

// Overlaps reports whether any t with lo <= t <= hi is in the range.
func (r TimeRange) Overlaps(lo, hi int64) bool {
	if lo > hi || r.IsEmpty() {
		return false
	}
	return hi >= r.Min && (lo < r.Max || r.Max == math.MaxInt64)
}

// IsEmpty reports whether no time is in the range.
func (r TimeRange) IsEmpty() bool { return r.Min >= r.Max && r.Max != math.MaxInt64 }

// IsFull reports whether the range bounds nothing.
func (r TimeRange) IsFull() bool { return r.Min == math.MinInt64 && r.Max == math.MaxInt64 }

func (r TimeRange) String() string {
	if r.IsEmpty() {
		return "empty"
	}
	lo, hi := "-infinity", "infinity"
	if r.Min != math.MinInt64 {
		lo = formatTime(r.Min)
	}
	if r.Max != math.MaxInt64 {
		hi = formatTime(r.Max)
	}
	return "[" + lo + ", " + hi + ")"
}

// DescribeRows returns the rows of a QueryDescribe: column name, type
// (timestamp, string, float64, int64, uint64, bool) and kind (time, tag,
// field), in table order.
func (q *Query) DescribeRows() [][]string {
	if q.Kind != QueryDescribe || q.Table == nil {
		return nil
	}
	rows := make([][]string, len(q.Table.Columns))
	for i, c := range q.Table.Columns {
		rows[i] = []string{c.Name, c.Type.String(), c.Kind.String()}
	}
	return rows
}

// String renders the plan, one clause a line (for tests and EXPLAIN-like
// debugging).
func (q *Query) String() string {
	var b strings.Builder
	switch q.Kind {
	case QueryShowTables:
		return "show tables\n"
	case QueryDescribe:
		return "describe " + quoteIdent(q.Table.Name) + "\n"
	case QueryExplain:
		if q.Analyze {
			return "explain analyze\n" + q.Explained.String()
		}
		return "explain\n" + q.Explained.String()
	}
	if q.Table != nil {
		fmt.Fprintf(&b, "select from %s\n", quoteIdent(q.Table.Name))
		names := make([]string, len(q.Scan))
		for i, c := range q.Scan {
			names[i] = quoteIdent(c.Name)
		}
		fmt.Fprintf(&b, "  scan: %s\n", strings.Join(names, ", "))
		fmt.Fprintf(&b, "  time: %s\n", q.TimeRange)
	} else {
		b.WriteString("select (no table)\n")
	}
	if q.Where != nil {
		fmt.Fprintf(&b, "  where: %s\n", q.Where)
		if q.Residual != nil {
			fmt.Fprintf(&b, "  residual: %s\n", q.Residual)
		} else {
			b.WriteString("  residual: none\n")
		}
	}
	if q.Aggregated {
		keys := make([]string, len(q.GroupBy))
		for i, k := range q.GroupBy {
			keys[i] = k.Expr.String()
		}
		fmt.Fprintf(&b, "  group: [%s]\n", strings.Join(keys, ", "))
		aggs := make([]string, len(q.Aggregates))
		for i, a := range q.Aggregates {
			aggs[i] = a.String() + ":" + a.Type.String()
		}
		fmt.Fprintf(&b, "  aggs: [%s]\n", strings.Join(aggs, ", "))
		if q.Having != nil {
			fmt.Fprintf(&b, "  having: %s\n", q.Having)
		}
	}
	outs := make([]string, len(q.Outputs))
	for i, o := range q.Outputs {
		outs[i] = strconv.Quote(o.Name) + ":" + o.Type.String() + " = " + o.Expr.String()
	}
	fmt.Fprintf(&b, "  output: %s\n", strings.Join(outs, "; "))
	if q.Distinct {
		b.WriteString("  distinct\n")
	}
	if len(q.OrderBy) > 0 {
		keys := make([]string, len(q.OrderBy))
		for i, k := range q.OrderBy {
			keys[i] = k.String()
		}
		fmt.Fprintf(&b, "  order: %s\n", strings.Join(keys, ", "))
	}
	if q.Limit >= 0 || q.Offset > 0 {
		fmt.Fprintf(&b, "  limit: %d offset %d\n", q.Limit, q.Offset)
	}
	return b.String()
}

func (k SortKey) String() string {
	s := k.Expr.String()
	if k.Output >= 0 {
		s = "#" + strconv.Itoa(k.Output)
	}
	if k.Desc {
		s += " DESC"
	} else {
		s += " ASC"
	}
	if k.NullsFirst {
		s += " NULLS FIRST"
	} else {
		s += " NULLS LAST"
	}
	return s
}
