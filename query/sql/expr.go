package sql

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Expr is a resolved, typed expression. The concrete types are the
// pointers *ColumnRef, *Const, *KeyRef, *AggRef, *Unary, *Binary, *Logic,
// *Cast, *InList, *Match, *IsNull, *DateBin, *Func and *Case; an executor
// switches on them.
//
// Expressions are evaluated in one of two contexts:
//   - row context (WHERE, aggregate arguments, group key expressions, and
//     outputs and ORDER BY of a non-aggregate query): leaves are ColumnRef
//     and Const;
//   - group context (outputs, HAVING and ORDER BY of an aggregate query):
//     leaves are KeyRef, AggRef and Const, never ColumnRef.
//
// All expressions follow SQL's three-valued logic: an operator with a NULL
// operand yields NULL (except AND/OR, see Logic, and IsNull), and a NULL
// predicate in WHERE or HAVING rejects the row. Constant subexpressions are
// folded at plan time, so a Const appears only where the other operand is
// not constant (or as a whole output).
type Expr interface {
	// Type is the result type.
	Type() Type
	// String renders the expression for plan dumps and tests.
	String() string
	exprNode()
}

// ColumnRef reads a column of the current row (row context only).
type ColumnRef struct {
	Column Column
	loc    int32
}

// Const is a constant. Its Value.Type is the expression's type.
type Const struct {
	Value Value
	lit   litKind // what literal it came from, for PostgreSQL's coercion rules
}

// litKind records the literal a constant came from while planning.
type litKind uint8

const (
	litNone    litKind = iota // typed: computed, cast, or from now()
	litString                 // '...' of PostgreSQL type unknown: coerced to the other operand's type
	litInt                    // integer literal (PostgreSQL int4/int8)
	litDecimal                // literal with a point or exponent (PostgreSQL numeric)
)

// KeyRef is the value of group key Key (group context only).
type KeyRef struct {
	Key  int  // index into Query.GroupBy
	T    Type // TypeString for a tag key, TypeTimestamp for a time key
	Name string
}

// AggRef is the result of aggregate Agg (group context only).
type AggRef struct {
	Agg int  // index into Query.Aggregates
	T   Type // Query.Aggregates[Agg].Type
}

// UnaryOp is the operator of a Unary.
type UnaryOp uint8

const (
	OpNeg UnaryOp = iota + 1 // arithmetic negation; X is int64 or float64 (int64 overflow is an error)
	OpNot                    // logical NOT; X is bool (NOT NULL is NULL)
)

// Unary is -X or NOT X.
type Unary struct {
	Op UnaryOp
	X  Expr
	T  Type
}

// BinaryOp is the operator of a Binary.
type BinaryOp uint8

const (
	OpAdd BinaryOp = iota + 1
	OpSub
	OpMul
	OpDiv // integer division truncates toward zero; x/0 is an error ("division by zero") for every type, as in PostgreSQL
	OpMod // integers: sign of the dividend; float64 (from numeric literals and uint64): math.Mod; x%0 is an error
	OpEq
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
)

var binaryOpNames = [...]string{"", "+", "-", "*", "/", "%", "=", "<>", "<", "<=", ">", ">="}

func (op BinaryOp) String() string {
	if int(op) < len(binaryOpNames) {
		return binaryOpNames[op]
	}
	return "?"
}

// Comparison reports whether op is =, <>, <, <=, > or >=.
func (op BinaryOp) Comparison() bool { return op >= OpEq }

// Binary is arithmetic or a comparison. L and R always have the same type
// (the planner inserts Casts): for arithmetic T is that type, for a
// comparison T is TypeBool. Integer arithmetic that overflows is an error
// ("bigint out of range"), as in PostgreSQL. Comparisons order strings by
// bytes (PostgreSQL's "C" collation), booleans false < true, and floats with
// NaN equal to itself and above every other value (PostgreSQL's rule).
// When one side is constant it is R.
type Binary struct {
	Op   BinaryOp
	L, R Expr
	T    Type
}

// LogicOp is the operator of a Logic.
type LogicOp uint8

const (
	OpAnd LogicOp = iota + 1
	OpOr
)

// Logic is an n-ary AND or OR over boolean operands (at least two), with
// SQL's rules: AND is FALSE if any operand is FALSE, else NULL if any is
// NULL, else TRUE; OR is TRUE if any is TRUE, else NULL if any is NULL,
// else FALSE. Nested ANDs (ORs) are flattened.
type Logic struct {
	Op   LogicOp
	Args []Expr
}

// Cast converts X to type To between numeric types: int64, uint64 →
// float64 (implicit, for mixed operands); and, from explicit casts only,
// float64 → int64 (rounded half to even, as PostgreSQL's rint; an error
// when out of range, "bigint out of range") and uint64 → int64 (an error
// above MaxInt64). Also any type → string (PostgreSQL's text output),
// string → int64, uint64, float64, bool, timestamp (its input rules; bad
// text is an error) and bool → int64.
type Cast struct {
	X  Expr
	To Type
}

// InList is X [NOT] IN (Values...). Values are non-NULL, of X's type, and
// deduplicated. HasNull records a NULL in the list: then a non-matching X
// gives NULL instead of FALSE (NOT IN: NULL instead of TRUE). A NULL X
// gives NULL.
type InList struct {
	X       Expr
	Values  []Value
	HasNull bool
	Not     bool
}

// Match is a regular-expression match of the string X: `~`, `~*`, `!~`,
// `!~*`, LIKE and ILIKE all become a Match. Pattern is Go regexp (RE2)
// syntax, already compiled into Re; it matches anywhere in X (LIKE patterns
// are anchored with ^ and $). Not negates the result; NULL X gives NULL.
type Match struct {
	X       Expr
	Pattern string
	Re      *regexp.Regexp
	Not     bool
}

// IsNull is X IS [NOT] NULL; never NULL itself.
type IsNull struct {
	X   Expr
	Not bool
}

// DateBin is date_bin(Bucket.Width, X, Bucket.Origin): the start of the
// bucket holding the timestamp X (see Bucket.Start).
type DateBin struct {
	X      Expr
	Bucket Bucket
}

// Bucket is a time bucketing: buckets of Width nanoseconds aligned on
// Origin (nanoseconds since the Unix epoch).
type Bucket struct {
	Width  int64 // > 0
	Origin int64
}

// Start returns the start of the bucket holding t, flooring toward minus
// infinity as PostgreSQL's date_bin does for t before the origin.
func (b Bucket) Start(t int64) int64 {
	// (t - Origin) mod Width, computed without overflowing.
	rem := (t%b.Width - b.Origin%b.Width) % b.Width
	if rem < 0 {
		rem += b.Width
	}
	return t - rem
}

func (b Bucket) String() string {
	return time.Duration(b.Width).String() + ", " + formatTime(b.Origin)
}

func (*ColumnRef) exprNode() {}
func (*Const) exprNode()     {}
func (*KeyRef) exprNode()    {}
func (*AggRef) exprNode()    {}
func (*Unary) exprNode()     {}
func (*Binary) exprNode()    {}
func (*Logic) exprNode()     {}
func (*Cast) exprNode()      {}
func (*InList) exprNode()    {}
func (*Match) exprNode()     {}
func (*IsNull) exprNode()    {}
func (*DateBin) exprNode()   {}

func (e *ColumnRef) Type() Type { return e.Column.Type }
func (e *Const) Type() Type     { return e.Value.Type }
func (e *KeyRef) Type() Type    { return e.T }
func (e *AggRef) Type() Type    { return e.T }
func (e *Unary) Type() Type     { return e.T }
func (e *Binary) Type() Type    { return e.T }
func (e *Logic) Type() Type     { return TypeBool }
func (e *Cast) Type() Type      { return e.To }
func (e *InList) Type() Type    { return TypeBool }
func (e *Match) Type() Type     { return TypeBool }
func (e *IsNull) Type() Type    { return TypeBool }
func (e *DateBin) Type() Type   { return TypeTimestamp }

func (e *ColumnRef) String() string {
	if e.Column.dup {
		// A derived table's columns may share a name (a.host, b.host):
		// the position tells them apart where plans compare strings.
		return quoteIdent(e.Column.Name) + "#" + strconv.Itoa(e.Column.Index)
	}
	return quoteIdent(e.Column.Name)
}
func (e *Const) String() string  { return e.Value.String() }
func (e *KeyRef) String() string { return "$key" + strconv.Itoa(e.Key) }
func (e *AggRef) String() string { return "$agg" + strconv.Itoa(e.Agg) }

func (e *Unary) String() string {
	if e.Op == OpNot {
		return "(NOT " + e.X.String() + ")"
	}
	return "(-" + e.X.String() + ")"
}

func (e *Binary) String() string {
	return "(" + e.L.String() + " " + e.Op.String() + " " + e.R.String() + ")"
}

func (e *Logic) String() string {
	op := " AND "
	if e.Op == OpOr {
		op = " OR "
	}
	parts := make([]string, len(e.Args))
	for i, a := range e.Args {
		parts[i] = a.String()
	}
	return "(" + strings.Join(parts, op) + ")"
}

func (e *Cast) String() string { return e.To.String() + "(" + e.X.String() + ")" }

func (e *InList) String() string {
	parts := make([]string, 0, len(e.Values)+1)
	for _, v := range e.Values {
		parts = append(parts, v.String())
	}
	if e.HasNull {
		parts = append(parts, "NULL")
	}
	op := " IN ("
	if e.Not {
		op = " NOT IN ("
	}
	return "(" + e.X.String() + op + strings.Join(parts, ", ") + "))"
}

func (e *Match) String() string {
	op := " ~ "
	if e.Not {
		op = " !~ "
	}
	return "(" + e.X.String() + op + quoteString(e.Pattern) + ")"
}

func (e *IsNull) String() string {
	if e.Not {
		return "(" + e.X.String() + " IS NOT NULL)"
	}
	return "(" + e.X.String() + " IS NULL)"
}

func (e *DateBin) String() string {
	return "date_bin(" + time.Duration(e.Bucket.Width).String() + ", " + e.X.String() + ", " + formatTime(e.Bucket.Origin) + ")"
}

// Conjuncts returns the top-level AND operands of a predicate (the
// predicate itself when it is not an AND; nil for nil). An executor uses
// them to find index-friendly filters such as tag = 'x' or tag IN (...).
func Conjuncts(e Expr) []Expr {
	if e == nil {
		return nil
	}
	if l, ok := e.(*Logic); ok && l.Op == OpAnd {
		return l.Args
	}
	return []Expr{e}
}

// Walk calls fn for e and, while fn returns true, for its subexpressions,
// depth first.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	for _, c := range children(e) {
		Walk(c, fn)
	}
}

func children(e Expr) []Expr {
	switch e := e.(type) {
	case *Unary:
		return []Expr{e.X}
	case *Binary:
		return []Expr{e.L, e.R}
	case *Logic:
		return e.Args
	case *Cast:
		return []Expr{e.X}
	case *InList:
		return []Expr{e.X}
	case *Match:
		return []Expr{e.X}
	case *IsNull:
		return []Expr{e.X}
	case *DateBin:
		return []Expr{e.X}
	case *Func:
		return e.Args
	case *Case:
		out := make([]Expr, 0, 2*len(e.Whens)+1)
		for _, w := range e.Whens {
			out = append(out, w.Cond, w.Then)
		}
		if e.Else != nil {
			out = append(out, e.Else)
		}
		return out
	case *aggCall:
		if e.agg.Arg != nil {
			return []Expr{e.agg.Arg}
		}
	case *windowCall:
		return e.children()
	case *Subquery:
		out := make([]Expr, 0, 1+len(e.Outer))
		if e.X != nil {
			out = append(out, e.X)
		}
		return append(out, e.Outer...)
	}
	return nil
}

// quoteIdent quotes a name unless it is a plain lower-case identifier.
func quoteIdent(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '$')) {
			plain = false
			break
		}
	}
	if plain && s != "infinity" { // "infinity" would read as a timestamp constant
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
