package sql

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FuncKind is the function a Func computes.
type FuncKind uint8

// Scalar functions. Unless noted, a NULL argument gives NULL.
const (
	FnCoalesce      FuncKind = iota + 1 // first non-NULL argument (arguments evaluated only where needed)
	FnNullIf                            // NULL where Args[0] = Args[1], else Args[0]
	FnGreatest                          // largest non-NULL argument; NULL only when all are
	FnLeast                             // smallest non-NULL argument
	FnDistinct                          // Args[0] IS DISTINCT FROM Args[1]: never NULL
	FnNotDistinct                       // IS NOT DISTINCT FROM
	FnAbs                               // int64 or float64
	FnRound                             // round(x): Numeric rounds half away from zero, float64 half to even (as PostgreSQL's numeric and float8)
	FnRoundTo                           // round(x, digits): half away from zero (numeric)
	FnCeil                              // float64
	FnFloor                             // float64
	FnTrunc                             // trunc(x): toward zero
	FnLn                                // natural logarithm: error for x <= 0
	FnLog10                             // log(x), log10(x)
	FnLogBase                           // log(b, x)
	FnPower                             // power(x, y)
	FnSqrt                              // error for x < 0
	FnExp                               // e^x
	FnSign                              // -1, 0 or 1 (float64)
	FnMod                               // mod(a, b): as %
	FnLower                             // ASCII letters only (the "C" locale)
	FnUpper                             // ASCII letters only
	FnLength                            // characters (int64)
	FnSubstr                            // substr(s, from [, count]): 1-based characters
	FnConcat                            // concat(...): NULLs skipped, never NULL
	FnConcatOp                          // a || b: NULL if either is
	FnReplace                           // replace(s, from, to)
	FnSplitPart                         // split_part(s, delim, n): n < 0 counts from the end
	FnStartsWith                        // starts_with(s, prefix): bool
	FnBtrim                             // btrim(s [, chars]), TRIM(BOTH ...)
	FnLtrim                             // ltrim, TRIM(LEADING ...)
	FnRtrim                             // rtrim, TRIM(TRAILING ...)
	FnRegexpReplace                     // regexp_replace(s, Re, Repl [, flags]): first match, or every one with Global
	FnLeft                              // left(s, n)
	FnRight                             // right(s, n)
	FnStrpos                            // strpos(s, sub): 1-based, 0 when absent
	FnExtract                           // EXTRACT(Unit FROM ts|interval), date_part: float64
	FnDateTrunc                         // date_trunc(Unit, ts [, Zone]) for calendar units or a zone
	FnAddInterval                       // Args[0] + Iv (timestamp; Iv may hold months)
	FnTsDiff                            // Args[0] - Args[1]: timestamps → interval (nanoseconds)
	FnToTimestamp                       // to_timestamp(seconds): float64 → timestamp
	FnToLocal                           // timestamptz AT TIME ZONE Zone: the wall-clock time there
	FnFromLocal                         // timestamp AT TIME ZONE Zone: the instant of that wall-clock time there
	FnCbrt                              // cube root
)

var funcKindNames = [...]string{"", "coalesce", "nullif", "greatest", "least", "is_distinct", "is_not_distinct",
	"abs", "round", "round", "ceil", "floor", "trunc", "ln", "log", "log", "power", "sqrt", "exp", "sign", "mod",
	"lower", "upper", "length", "substr", "concat", "||", "replace", "split_part", "starts_with", "btrim", "ltrim",
	"rtrim", "regexp_replace", "left", "right", "strpos", "extract", "date_trunc", "add_interval", "ts_diff",
	"to_timestamp", "to_local", "from_local", "cbrt"}

func (f FuncKind) String() string {
	if int(f) < len(funcKindNames) {
		return funcKindNames[f]
	}
	return "?"
}

// Func is a scalar function call (also the operators ||, IS [NOT]
// DISTINCT FROM and timestamp arithmetic, and NULLIF, COALESCE, GREATEST,
// LEAST). Args are already of the types the function takes (the planner
// inserts Casts). Constant parameters are resolved at plan time into the
// fields below.
type Func struct {
	Fn   FuncKind
	Args []Expr
	T    Type
	// Unit is the field of FnExtract ("epoch", "year", "dow", ...) or the
	// unit of FnDateTrunc ("month", "quarter", ...; canonical names).
	Unit string
	// Zone is the time zone of FnDateTrunc (nil: UTC), FnToLocal and
	// FnFromLocal.
	Zone *time.Location
	// Iv is the interval FnAddInterval adds (already negated for -).
	Iv Interval
	// Re, Repl and Global are FnRegexpReplace's pattern, replacement (Go
	// regexp template syntax) and 'g' flag.
	Re     *regexp.Regexp
	Repl   string
	Global bool
	// Numeric is set on FnRound over a PostgreSQL numeric value.
	Numeric bool
}

// When is one WHEN cond THEN result arm of a Case.
type When struct {
	Cond Expr // boolean; NULL counts as not true
	Then Expr
}

// Case is a searched CASE (a simple CASE x WHEN v ... is planned as
// WHEN x = v ...): the Then of the first arm whose Cond is TRUE, else Else
// (nil: NULL). Arms are evaluated only for the rows that reach them, so
// CASE WHEN d = 0 THEN 0 ELSE n / d END divides no row by zero.
type Case struct {
	Whens []When
	Else  Expr
	T     Type
}

func (*Func) exprNode()    {}
func (*Case) exprNode()    {}
func (e *Func) Type() Type { return e.T }
func (e *Case) Type() Type { return e.T }
func (e *Func) String() string {
	parts := make([]string, 0, len(e.Args)+2)
	if e.Unit != "" {
		parts = append(parts, quoteString(e.Unit))
	}
	for _, a := range e.Args {
		parts = append(parts, a.String())
	}
	if e.Zone != nil {
		parts = append(parts, quoteString(e.Zone.String()))
	}
	switch e.Fn {
	case FnAddInterval:
		parts = append(parts, "interval '"+e.Iv.String()+"'")
	case FnRegexpReplace:
		parts = append(parts, quoteString(e.Re.String()), quoteString(e.Repl), strconv.FormatBool(e.Global))
	case FnRound:
		if e.Numeric {
			parts = append(parts, "numeric")
		}
	}
	return e.Fn.String() + "(" + strings.Join(parts, ", ") + ")"
}

func (e *Case) String() string {
	var b strings.Builder
	b.WriteString("CASE")
	for _, w := range e.Whens {
		b.WriteString(" WHEN " + w.Cond.String() + " THEN " + w.Then.String())
	}
	if e.Else != nil {
		b.WriteString(" ELSE " + e.Else.String())
	}
	b.WriteString(" END")
	return b.String()
}

// AddInterval returns t + iv with PostgreSQL's calendar rules (months
// first, clamping the day to the month's length, then days, then the time
// part, in UTC); ok is false when the result is out of range.
func AddInterval(t int64, iv Interval) (int64, bool) { return addInterval(t, iv, 1) }

// ParseTimestampText parses text as a timestamp the way a cast of a
// string to timestamptz does ('now' is not accepted at run time).
func ParseTimestampText(s string) (int64, error) {
	ns, err := parseTimestamp(s, time.Time{})
	if err == errBadTime {
		return 0, errSyntax("timestamp with time zone", s)
	}
	return ns, err
}

// ParseBoolText parses text as PostgreSQL's boolean input.
func ParseBoolText(s string) (bool, error) {
	b, ok := parseBool(strings.TrimSpace(s))
	if !ok {
		return false, errSyntax("boolean", s)
	}
	return b, nil
}

// ParseFloatText parses text as PostgreSQL's double precision input.
func ParseFloatText(s string) (float64, error) {
	f, err := parseFloatLit(strings.TrimSpace(s))
	if err != nil {
		return 0, errSyntax("double precision", s)
	}
	return f, nil
}

// ParseIntText parses text as PostgreSQL's bigint input.
func ParseIntText(s string) (int64, error) {
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, &rtError{"value \"" + s + "\" is out of range for type bigint"}
		}
		return 0, errSyntax("bigint", s)
	}
	return i, nil
}

type rtError struct{ msg string }

func (e *rtError) Error() string { return e.msg }

func errSyntax(typ, s string) error {
	return &rtError{"invalid input syntax for type " + typ + ": " + strconv.Quote(s)}
}
