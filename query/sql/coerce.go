package sql

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// nodeLoc returns a parse node's location, or -1.
func nodeLoc(n *pg_query.Node) int32 {
	inner := n.GetNode()
	if inner == nil {
		return -1
	}
	v := reflect.ValueOf(inner)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().NumField() == 0 {
		return -1
	}
	if l, ok := v.Elem().Field(0).Interface().(interface{ GetLocation() int32 }); ok {
		return l.GetLocation()
	}
	return -1
}

// pgTypeName names an expression's type as PostgreSQL would in "operator
// does not exist" messages.
func pgTypeName(e Expr) string {
	if c, ok := e.(*Const); ok {
		switch c.lit {
		case litString:
			return "unknown"
		case litInt:
			if c.Value.Int >= math.MinInt32 && c.Value.Int <= math.MaxInt32 {
				return "integer"
			}
			return "bigint"
		case litDecimal:
			return "numeric"
		}
	}
	return e.Type().PGName()
}

func isNullConst(e Expr) bool { c, ok := e.(*Const); return ok && c.Value.Null }

func isUnknownLit(e Expr) bool {
	c, ok := e.(*Const)
	return ok && (c.lit == litString || c.Value.Type == TypeNull)
}

// convertValue converts a constant to type to. explicit is set for a cast
// written in the query (which allows more conversions than the implicit
// coercion of a literal).
func convertValue(v Value, to Type, now time.Time) (Value, error) {
	if v.Null {
		return NullValue(to), nil
	}
	if v.Type == to {
		return v, nil
	}
	bad := func() (Value, error) {
		return Value{}, fmt.Errorf("cannot cast type %s to %s", v.Type.PGName(), to.PGName())
	}
	switch v.Type {
	case TypeString:
		s := strings.TrimSpace(v.Str)
		syntax := func() (Value, error) {
			return Value{}, fmt.Errorf("invalid input syntax for type %s: %q", to.PGName(), v.Str)
		}
		switch to {
		case TypeFloat64:
			f, err := parseFloatLit(s)
			if err != nil {
				return syntax()
			}
			return FloatValue(f), nil
		case TypeInt64:
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return syntax()
			}
			return IntValue(i), nil
		case TypeUint64:
			u, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return syntax()
			}
			return UintValue(u), nil
		case TypeBool:
			b, ok := parseBool(s)
			if !ok {
				return syntax()
			}
			return BoolValue(b), nil
		case TypeTimestamp:
			ns, err := parseTimestamp(s, now)
			if err != nil {
				if err == errBadTime {
					return syntax()
				}
				return Value{}, err
			}
			return TimestampValue(ns), nil
		case TypeInterval:
			iv, err := parseInterval(s)
			if err != nil {
				if err == errBadTime {
					return syntax()
				}
				return Value{}, err
			}
			return IntervalValue(iv), nil
		}
	case TypeInt64:
		switch to {
		case TypeFloat64:
			return FloatValue(float64(v.Int)), nil
		case TypeUint64:
			if v.Int < 0 {
				return Value{}, fmt.Errorf("uint64 out of range")
			}
			return UintValue(uint64(v.Int)), nil
		case TypeTimestamp: // epoch nanoseconds (Silt extension)
			return TimestampValue(v.Int), nil
		case TypeBool:
			return BoolValue(v.Int != 0), nil
		case TypeString:
			return StringValue(strconv.FormatInt(v.Int, 10)), nil
		}
	case TypeUint64:
		switch to {
		case TypeFloat64:
			return FloatValue(float64(v.Uint)), nil
		case TypeInt64:
			if v.Uint > math.MaxInt64 {
				return Value{}, fmt.Errorf("bigint out of range")
			}
			return IntValue(int64(v.Uint)), nil
		case TypeString:
			return StringValue(strconv.FormatUint(v.Uint, 10)), nil
		}
	case TypeFloat64:
		switch to {
		case TypeInt64:
			r := math.RoundToEven(v.Float)
			if math.IsNaN(r) || r < -9.223372036854775808e18 || r >= 9.223372036854775808e18 {
				return Value{}, fmt.Errorf("bigint out of range")
			}
			return IntValue(int64(r)), nil
		case TypeUint64:
			r := math.RoundToEven(v.Float)
			if math.IsNaN(r) || r < 0 || r >= 1.8446744073709551616e19 {
				return Value{}, fmt.Errorf("uint64 out of range")
			}
			return UintValue(uint64(r)), nil
		case TypeString:
			return StringValue(FormatFloat8(v.Float)), nil
		}
	case TypeBool:
		switch to {
		case TypeString:
			return StringValue(strconv.FormatBool(v.Bool)), nil
		case TypeInt64:
			if v.Bool {
				return IntValue(1), nil
			}
			return IntValue(0), nil
		}
	case TypeTimestamp:
		if to == TypeString {
			return StringValue(FormatTimestamptz(v.Int)), nil
		}
	case TypeInterval:
		if to == TypeString {
			return StringValue(FormatInterval(v.Interval.Months, v.Interval.Days, v.Interval.Nanos)), nil
		}
	}
	return bad()
}

func parseFloatLit(s string) (float64, error) {
	switch strings.ToLower(s) {
	case "nan":
		return math.NaN(), nil
	case "inf", "infinity", "+inf", "+infinity":
		return math.Inf(1), nil
	case "-inf", "-infinity":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && !math.IsInf(f, 0) {
			return f, nil // underflow to 0
		}
		return 0, err
	}
	if math.IsInf(f, 0) && !strings.Contains(strings.ToLower(s), "inf") {
		return 0, fmt.Errorf("out of range")
	}
	return f, nil
}

// parseBool follows PostgreSQL's boolean input: t, true, y, yes, on, 1 and
// f, false, n, no, off, 0, case-insensitive, unique prefixes allowed.
func parseBool(s string) (bool, bool) {
	l := strings.ToLower(s)
	if l == "" {
		return false, false
	}
	switch l {
	case "1":
		return true, true
	case "0":
		return false, true
	case "o":
		return false, false
	}
	for _, w := range []string{"true", "yes", "on"} {
		if strings.HasPrefix(w, l) && (w != "on" || len(l) == 2) {
			return true, true
		}
	}
	for _, w := range []string{"false", "no", "off"} {
		if strings.HasPrefix(w, l) && (w != "off" || len(l) >= 2) {
			return false, true
		}
	}
	return false, false
}

// typeByName maps a SQL type name (last component, lower case) to a Silt
// type. Decimal types become float64; all integer widths int64; date is a
// timestamp at midnight UTC.
func typeByName(name string) (Type, bool) {
	switch name {
	case "timestamptz", "timestamp", "date":
		return TypeTimestamp, true
	case "interval":
		return TypeInterval, true
	case "float8", "float4", "numeric", "decimal", "real":
		return TypeFloat64, true
	case "int8", "int4", "int2", "int", "integer", "bigint", "smallint":
		return TypeInt64, true
	case "text", "varchar", "bpchar", "char", "character":
		return TypeString, true
	case "bool", "boolean":
		return TypeBool, true
	}
	return 0, false
}

// castable reports whether a non-constant expression of type from can be
// cast to type to at run time (see Cast).
func castable(from, to Type) bool {
	switch {
	case from == to:
		return true
	case from.numeric() && to.numeric():
		return true
	case to == TypeString:
		return from != TypeNull
	case from == TypeString:
		return to.numeric() || to == TypeBool || to == TypeTimestamp
	case from == TypeBool:
		return to == TypeInt64
	}
	return false
}

// cast converts e to type to: constants now, other expressions through a
// Cast node.
func (p *planner) cast(e Expr, to Type, loc int32) (Expr, error) {
	if e.Type() == to {
		if c, ok := e.(*Const); ok && c.lit != litNone {
			return &Const{Value: c.Value}, nil
		}
		return e, nil
	}
	if c, ok := e.(*Const); ok {
		val := c.Value
		if c.lit == litDecimal && to.integer() && !val.Null {
			// PostgreSQL's numeric → integer rounds half away from zero
			// (float8 → integer rounds half to even).
			val.Float = math.Round(val.Float)
		}
		v, err := convertValue(val, to, p.now)
		if err != nil {
			return nil, invalid(loc, "22P02", "%s", err.Error())
		}
		return &Const{Value: v}, nil
	}
	if !castable(e.Type(), to) {
		return nil, unsupported(loc, "cast from "+e.Type().PGName()+" to "+to.PGName(), "")
	}
	return &Cast{X: e, To: to}, nil
}

// coerceTo converts e implicitly for an operand or argument position that
// needs type to: an unknown literal or NULL is converted, an integer
// widened to float64; anything else of another type is refused (ok false).
func (p *planner) coerceTo(e Expr, to Type, loc int32) (Expr, bool, error) {
	t := e.Type()
	switch {
	case t == to:
		r, err := p.cast(e, to, loc)
		return r, true, err
	case isUnknownLit(e):
		r, err := p.cast(e, to, loc)
		return r, true, err
	case t.numeric() && to.numeric():
		c, isC := e.(*Const)
		switch {
		case to == TypeFloat64:
		case isC && c.lit == litInt && to == TypeUint64 && c.Value.Int >= 0:
		default:
			return nil, false, nil
		}
		r, err := p.cast(e, to, loc)
		return r, true, err
	case t == TypeInt64 && to == TypeTimestamp:
		if c, ok := e.(*Const); ok && c.lit == litInt {
			return &Const{Value: TimestampValue(c.Value.Int)}, true, nil
		}
	}
	return nil, false, nil
}

// numericCommon is the type two numeric operands are brought to. uint64
// stands for PostgreSQL numeric(20,0) (the oracle's type for it), so
// arithmetic involving it is done in float64 as PostgreSQL's numeric would
// (exact division, negative results); comparisons stay exact where they
// can.
func numericCommon(l, r Expr, cmp bool) Type {
	lt, rt := l.Type(), r.Type()
	if !cmp && (lt == TypeUint64 || rt == TypeUint64) {
		return TypeFloat64
	}
	if lt == rt {
		return lt
	}
	if lt == TypeFloat64 || rt == TypeFloat64 {
		return TypeFloat64
	}
	// int64 and uint64, compared
	for _, pair := range [][2]Expr{{l, r}, {r, l}} {
		if c, ok := pair[0].(*Const); ok && c.lit == litInt && pair[1].Type() == TypeUint64 && c.Value.Int >= 0 {
			return TypeUint64
		}
	}
	return TypeFloat64
}

// evalArith folds l op r for constants of the same numeric type.
func evalArith(op BinaryOp, l, r Value) (Value, error) {
	if l.Null || r.Null {
		return NullValue(l.Type), nil
	}
	errRange := fmt.Errorf("%s out of range", map[Type]string{TypeInt64: "bigint", TypeUint64: "uint64"}[l.Type])
	errDiv := ErrDivisionByZero
	switch l.Type {
	case TypeInt64:
		a, b := l.Int, r.Int
		var x int64
		switch op {
		case OpAdd:
			x = a + b
			if (b > 0 && x < a) || (b < 0 && x > a) {
				return Value{}, errRange
			}
		case OpSub:
			x = a - b
			if (b < 0 && x < a) || (b > 0 && x > a) {
				return Value{}, errRange
			}
		case OpMul:
			x = a * b
			if a != 0 && (x/a != b || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64)) {
				return Value{}, errRange
			}
		case OpDiv:
			if b == 0 {
				return Value{}, errDiv
			}
			if a == math.MinInt64 && b == -1 {
				return Value{}, errRange
			}
			x = a / b
		case OpMod:
			if b == 0 {
				return Value{}, errDiv
			}
			if b == -1 {
				x = 0
			} else {
				x = a % b
			}
		}
		return IntValue(x), nil
	case TypeUint64:
		a, b := l.Uint, r.Uint
		var x uint64
		switch op {
		case OpAdd:
			x = a + b
			if x < a {
				return Value{}, errRange
			}
		case OpSub:
			if b > a {
				return Value{}, errRange
			}
			x = a - b
		case OpMul:
			x = a * b
			if a != 0 && x/a != b {
				return Value{}, errRange
			}
		case OpDiv:
			if b == 0 {
				return Value{}, errDiv
			}
			x = a / b
		case OpMod:
			if b == 0 {
				return Value{}, errDiv
			}
			x = a % b
		}
		return UintValue(x), nil
	case TypeFloat64:
		a, b := l.Float, r.Float
		var x float64
		switch op {
		case OpAdd:
			x = a + b
		case OpSub:
			x = a - b
		case OpMul:
			x = a * b
		case OpDiv:
			if b == 0 {
				return Value{}, errDiv
			}
			x = a / b
		case OpMod:
			if b == 0 {
				return Value{}, errDiv
			}
			x = math.Mod(a, b)
		}
		return FloatValue(x), nil
	}
	return Value{}, fmt.Errorf("cannot evaluate %s on %s", op, l.Type.PGName())
}

// compareValues orders two non-NULL constants of the same type (NaN above
// every float, as PostgreSQL).
func compareValues(a, b Value) int {
	switch a.Type {
	case TypeInt64, TypeTimestamp:
		return cmp3(a.Int < b.Int, a.Int > b.Int)
	case TypeUint64:
		return cmp3(a.Uint < b.Uint, a.Uint > b.Uint)
	case TypeFloat64:
		an, bn := math.IsNaN(a.Float), math.IsNaN(b.Float)
		switch {
		case an && bn:
			return 0
		case an:
			return 1
		case bn:
			return -1
		}
		return cmp3(a.Float < b.Float, a.Float > b.Float)
	case TypeString:
		return strings.Compare(a.Str, b.Str)
	case TypeBool:
		return cmp3(!a.Bool && b.Bool, a.Bool && !b.Bool)
	}
	return 0
}

func cmp3(lt, gt bool) int {
	switch {
	case lt:
		return -1
	case gt:
		return 1
	}
	return 0
}

func evalCompare(op BinaryOp, a, b Value) Value {
	if a.Null || b.Null {
		return NullValue(TypeBool)
	}
	c := compareValues(a, b)
	var r bool
	switch op {
	case OpEq:
		r = c == 0
	case OpNe:
		r = c != 0
	case OpLt:
		r = c < 0
	case OpLe:
		r = c <= 0
	case OpGt:
		r = c > 0
	case OpGe:
		r = c >= 0
	}
	return BoolValue(r)
}

// flip mirrors a comparison for swapped operands.
func flip(op BinaryOp) BinaryOp {
	switch op {
	case OpLt:
		return OpGt
	case OpLe:
		return OpGe
	case OpGt:
		return OpLt
	case OpGe:
		return OpLe
	}
	return op
}

// forceTo converts a numeric operand to the common type t.
func (p *planner) forceTo(e Expr, t Type, loc int32) (Expr, error) {
	if e.Type() == t {
		if c, ok := e.(*Const); ok && c.lit == litString {
			return &Const{Value: c.Value}, nil
		}
		return e, nil
	}
	if c, ok := e.(*Const); ok {
		v, err := convertValue(c.Value, t, p.now)
		if err != nil {
			return nil, invalid(loc, "22003", "%s", err.Error())
		}
		return &Const{Value: v, lit: c.lit}, nil
	}
	return &Cast{X: e, To: t}, nil
}
