package sql

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Type is the type of a column, expression or constant.
type Type uint8

const (
	// TypeNull is the type of an untyped NULL literal that nothing gave a
	// type (SELECT NULL). Such an output column is all NULL.
	TypeNull Type = iota
	TypeBool
	TypeInt64
	TypeUint64
	TypeFloat64
	TypeString
	// TypeTimestamp is nanoseconds since the Unix epoch, UTC (int64).
	TypeTimestamp
	// TypeInterval is a constant interval while planning (folded into
	// timestamps and bucket widths), and at run time the result of
	// timestamp − timestamp: nanoseconds in an int64, output as
	// PostgreSQL's interval text. A Query holds it only there, in
	// comparisons of those with constant intervals without months, and in
	// EXTRACT from them.
	TypeInterval
)

var typeNames = [...]string{"null", "bool", "int64", "uint64", "float64", "string", "timestamp", "interval"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// PGName is the PostgreSQL name of the type, as used in error messages.
func (t Type) PGName() string {
	switch t {
	case TypeNull:
		return "unknown"
	case TypeBool:
		return "boolean"
	case TypeInt64:
		return "bigint"
	case TypeUint64:
		return "uint64" // no PostgreSQL equivalent
	case TypeFloat64:
		return "double precision"
	case TypeString:
		return "text"
	case TypeTimestamp:
		return "timestamp with time zone"
	case TypeInterval:
		return "interval"
	}
	return t.String()
}

func (t Type) numeric() bool { return t == TypeInt64 || t == TypeUint64 || t == TypeFloat64 }

// Numeric reports whether t is a number type (int64, uint64, float64).
func (t Type) Numeric() bool { return t.numeric() }
func (t Type) integer() bool { return t == TypeInt64 || t == TypeUint64 }

// Interval is a PostgreSQL interval: months, days and nanoseconds kept
// apart, because a month or a day is not a fixed number of nanoseconds in
// calendar arithmetic.
type Interval struct {
	Months int64
	Days   int64
	Nanos  int64
}

// Fixed reports the interval's length in nanoseconds when it has no
// months (a day counts as 24h: Silt works in UTC).
func (iv Interval) Fixed() (int64, bool) {
	if iv.Months != 0 {
		return 0, false
	}
	d, ok := mulAdd(iv.Days, int64(24*time.Hour), iv.Nanos)
	return d, ok
}

func (iv Interval) String() string {
	var parts []string
	if iv.Months != 0 {
		parts = append(parts, strconv.FormatInt(iv.Months, 10)+" mon")
	}
	if iv.Days != 0 {
		parts = append(parts, strconv.FormatInt(iv.Days, 10)+" day")
	}
	if iv.Nanos != 0 || len(parts) == 0 {
		parts = append(parts, time.Duration(iv.Nanos).String())
	}
	return strings.Join(parts, " ")
}

// Value is a constant. Which field holds it depends on Type: Int for
// TypeInt64 and TypeTimestamp (nanoseconds), Uint, Float, Bool, Str,
// Interval. Null marks SQL NULL (of the given Type).
type Value struct {
	Type     Type
	Null     bool
	Int      int64
	Uint     uint64
	Float    float64
	Bool     bool
	Str      string
	Interval Interval
}

// Constructors for values.
func NullValue(t Type) Value         { return Value{Type: t, Null: true} }
func BoolValue(b bool) Value         { return Value{Type: TypeBool, Bool: b} }
func IntValue(i int64) Value         { return Value{Type: TypeInt64, Int: i} }
func UintValue(u uint64) Value       { return Value{Type: TypeUint64, Uint: u} }
func FloatValue(f float64) Value     { return Value{Type: TypeFloat64, Float: f} }
func StringValue(s string) Value     { return Value{Type: TypeString, Str: s} }
func TimestampValue(ns int64) Value  { return Value{Type: TypeTimestamp, Int: ns} }
func IntervalValue(i Interval) Value { return Value{Type: TypeInterval, Interval: i} }

// Time returns a timestamp value as a time.Time in UTC.
func (v Value) Time() time.Time { return time.Unix(0, v.Int).UTC() }

// String renders the value as a SQL-ish literal (used by plan dumps).
func (v Value) String() string {
	if v.Null {
		return "NULL"
	}
	switch v.Type {
	case TypeBool:
		if v.Bool {
			return "TRUE"
		}
		return "FALSE"
	case TypeInt64:
		return strconv.FormatInt(v.Int, 10)
	case TypeUint64:
		return strconv.FormatUint(v.Uint, 10) + "::uint64"
	case TypeFloat64:
		return formatFloat(v.Float)
	case TypeString:
		return quoteString(v.Str)
	case TypeTimestamp:
		return formatTime(v.Int)
	case TypeInterval:
		return "interval '" + v.Interval.String() + "'"
	}
	return "?"
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "'NaN'::float64"
	case math.IsInf(f, 1):
		return "'Infinity'::float64"
	case math.IsInf(f, -1):
		return "'-Infinity'::float64"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func formatTime(ns int64) string {
	switch ns {
	case math.MinInt64:
		return "-infinity"
	case math.MaxInt64:
		return "infinity"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Catalog gives the planner the schema of tables. The executor implements
// it over its table metadata.
type Catalog interface {
	// Table returns the schema of the named table (exact, case-sensitive
	// name) and whether it exists.
	Table(name string) (TableInfo, bool)
}

// TableInfo is the schema of one table besides its time column. The order
// of Tags and Fields is the order of SELECT * (time first, then the tags,
// then the fields).
type TableInfo struct {
	Tags   []string
	Fields []Field
}

// Field is a field column: its type is one of TypeFloat64, TypeInt64,
// TypeUint64, TypeBool, TypeString.
type Field struct {
	Name string
	Type Type
}

// MapCatalog is a Catalog over a map, for tests and simple callers.
type MapCatalog map[string]TableInfo

// Table implements Catalog.
func (m MapCatalog) Table(name string) (TableInfo, bool) { t, ok := m[name]; return t, ok }

// ColumnKind tells the time column, tags and fields apart.
type ColumnKind uint8

const (
	KindTime ColumnKind = iota
	KindTag
	KindField
	// KindExpr marks a GroupKey over an expression that is not a column
	// (its Column has no name and Index -1).
	KindExpr
)

func (k ColumnKind) String() string {
	switch k {
	case KindTime:
		return "time"
	case KindTag:
		return "tag"
	case KindField:
		return "field"
	case KindExpr:
		return "expression"
	}
	return "?"
}

// Column is a resolved column of a table.
type Column struct {
	Name  string
	Kind  ColumnKind
	Type  Type // TypeTimestamp for time, TypeString for tags, the field's type
	Index int  // position in Table.Columns: 0 is time, then tags, then fields
	// Ord is the position among columns of its kind: 0 for time, the
	// index in TableInfo.Tags for a tag, in TableInfo.Fields for a field.
	Ord int

	dup bool // a derived table's column whose name another column has too
}

// Table is a resolved table: Columns holds time, the tags, then the
// fields, in TableInfo order (the order of SELECT *).
type Table struct {
	Name    string
	Columns []Column

	derived bool        // the columns of a Rel (Query.Input)
	attrs   []colAttr   // derived: typing details per column
	scope   *rangeScope // a join's: where each column comes from
	origins []colOrigin // a join's: the stored table column each reads
}

// TimeColumn is the name of every table's time column.
const TimeColumn = "time"

func newTable(name string, info TableInfo) *Table {
	// Sized once: grown by appends, a TSBS table's 21 columns took six
	// allocations in every query's planning.
	t := &Table{Name: name, Columns: make([]Column, 0, 1+len(info.Tags)+len(info.Fields))}
	t.Columns = append(t.Columns, Column{Name: TimeColumn, Kind: KindTime, Type: TypeTimestamp})
	for i, tag := range info.Tags {
		t.Columns = append(t.Columns, Column{Name: tag, Kind: KindTag, Type: TypeString, Index: len(t.Columns), Ord: i})
	}
	for i, f := range info.Fields {
		t.Columns = append(t.Columns, Column{Name: f.Name, Kind: KindField, Type: f.Type, Index: len(t.Columns), Ord: i})
	}
	return t
}

// lookup returns the columns with the given name: one, or several when the
// catalog has a tag and a field of the same name.
func (t *Table) lookup(name string) []Column {
	var out []Column
	for i, c := range t.Columns {
		if t.scope != nil && t.scope.hidden[i] {
			continue
		}
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// lookupFold returns the names of columns equal to name ignoring case (for
// hints).
func (t *Table) lookupFold(name string) string {
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return c.Name
		}
	}
	return ""
}

// mulAdd returns a*b+c, reporting overflow.
func mulAdd(a, b, c int64) (int64, bool) {
	if a != 0 && b != 0 {
		p := a * b
		if p/b != a || (a == -1 && b == math.MinInt64) {
			return 0, false
		}
		a = p
	} else {
		a = 0
	}
	s := a + c
	if (c > 0 && s < a) || (c < 0 && s > a) {
		return 0, false
	}
	return s, true
}
