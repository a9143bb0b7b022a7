package influxql

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
)

// The SELECT compiler writes PostgreSQL-dialect text for query/sql rather
// than building plan nodes by hand: the SQL planner then does the typing,
// constant folding, time-range extraction and tag pruning it already does
// for /api/v1/sql, and the compiled *sql.Query runs on the same executor.

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func floatLit(f float64) string {
	switch {
	case math.IsNaN(f):
		return "'NaN'::float8"
	case math.IsInf(f, 1):
		return "'Infinity'::float8"
	case math.IsInf(f, -1):
		return "'-Infinity'::float8"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	if strings.HasPrefix(s, "-") {
		return "(" + s + ")"
	}
	return s
}

func intLit(i int64) string {
	if i < 0 {
		return "(" + strconv.FormatInt(i, 10) + ")"
	}
	return strconv.FormatInt(i, 10)
}

// timestampLit is a timestamp literal for ns since the epoch.
func timestampLit(ns int64) string {
	return "TIMESTAMPTZ " + quoteString(time.Unix(0, ns).UTC().Format(time.RFC3339Nano))
}

// columnKind says what a name refers to in a measurement.
type columnKind uint8

const (
	colNone columnKind = iota
	colTag
	colField
	colTime
)

// resolve finds a name in a schema, honouring ::tag and ::field. A name
// that is both a tag and a field is the field unless asked for as a tag,
// as in InfluxDB.
func resolve(s *columnar.TableSchema, ref *influxql.VarRef) (columnKind, columnar.FieldType) {
	if strings.EqualFold(ref.Val, "time") && ref.Type == influxql.Unknown {
		return colTime, 0
	}
	if ref.Type != influxql.Tag {
		for _, f := range s.Fields {
			if f.Name == ref.Val {
				return colField, f.Type
			}
		}
	}
	if ref.Type == influxql.Unknown || ref.Type == influxql.Tag {
		for _, t := range s.Tags {
			if t == ref.Val {
				return colTag, 0
			}
		}
	}
	return colNone, 0
}

// condSQL renders an InfluxQL condition (without its time bounds) as a SQL
// predicate over the measurement's columns, following InfluxDB's rules: a
// series without a tag has the tag "" (so host != 'a' and host = ”
// match it), and a comparison with an unknown name is false except where
// "" makes it true.
func condSQL(e influxql.Expr, s *columnar.TableSchema) (string, error) {
	switch e := e.(type) {
	case nil:
		return "TRUE", nil
	case *influxql.ParenExpr:
		return condSQL(e.Expr, s)
	case *influxql.BooleanLiteral:
		if e.Val {
			return "TRUE", nil
		}
		return "FALSE", nil
	case *influxql.BinaryExpr:
		switch e.Op {
		case influxql.AND, influxql.OR:
			l, err := condSQL(e.LHS, s)
			if err != nil {
				return "", err
			}
			r, err := condSQL(e.RHS, s)
			if err != nil {
				return "", err
			}
			return "(" + l + " " + e.Op.String() + " " + r + ")", nil
		case influxql.EQ, influxql.NEQ, influxql.LT, influxql.LTE, influxql.GT, influxql.GTE,
			influxql.EQREGEX, influxql.NEQREGEX:
			return compareSQL(e, s)
		}
		return "", fmt.Errorf("invalid condition operator %s in %s", e.Op, e)
	}
	return "", fmt.Errorf("invalid condition expression: %s", e)
}

func compareSQL(e *influxql.BinaryExpr, s *columnar.TableSchema) (string, error) {
	ref, ok := e.LHS.(*influxql.VarRef)
	lit := e.RHS
	op := e.Op
	if !ok {
		// literal op ref: swap the sides.
		if r, ok2 := e.RHS.(*influxql.VarRef); ok2 {
			ref, lit = r, e.LHS
			switch op {
			case influxql.LT:
				op = influxql.GT
			case influxql.LTE:
				op = influxql.GTE
			case influxql.GT:
				op = influxql.LT
			case influxql.GTE:
				op = influxql.LTE
			}
		} else {
			return "", fmt.Errorf("invalid condition %s: one side must be a tag or field", e)
		}
	}
	if _, isRef := lit.(*influxql.VarRef); isRef {
		return "", fmt.Errorf("comparing two columns (%s) is not supported", e)
	}
	kind, ftype := resolve(s, ref)
	switch kind {
	case colTime:
		return "", fmt.Errorf("invalid time condition %s", e)
	case colNone:
		return unknownSQL(op, lit), nil
	case colTag:
		return tagSQL(quoteIdent(ref.Val), op, lit, e)
	}
	return fieldSQL(quoteIdent(ref.Val), ftype, op, lit, e)
}

// unknownSQL is a comparison with a name the measurement lacks: its value
// is "" for string tests and absent for numbers.
func unknownSQL(op influxql.Token, lit influxql.Expr) string {
	var m bool
	switch l := lit.(type) {
	case *influxql.StringLiteral:
		switch op {
		case influxql.EQ:
			m = l.Val == ""
		case influxql.NEQ:
			m = l.Val != ""
		}
	case *influxql.RegexLiteral:
		switch op {
		case influxql.EQREGEX:
			m = l.Val.MatchString("")
		case influxql.NEQREGEX:
			m = !l.Val.MatchString("")
		}
	}
	if m {
		return "TRUE"
	}
	return "FALSE"
}

func tagSQL(col string, op influxql.Token, lit influxql.Expr, e influxql.Expr) (string, error) {
	switch l := lit.(type) {
	case *influxql.StringLiteral:
		switch op {
		case influxql.EQ:
			if l.Val == "" {
				return "(" + col + " IS NULL OR " + col + " = '')", nil
			}
			return col + " = " + quoteString(l.Val), nil
		case influxql.NEQ:
			if l.Val == "" {
				return "(" + col + " IS NOT NULL AND " + col + " <> '')", nil
			}
			return "(" + col + " IS NULL OR " + col + " <> " + quoteString(l.Val) + ")", nil
		case influxql.LT, influxql.LTE, influxql.GT, influxql.GTE:
			return col + " " + op.String() + " " + quoteString(l.Val), nil
		}
	case *influxql.RegexLiteral:
		re := regexSQL(l.Val)
		switch op {
		case influxql.EQREGEX:
			if l.Val.MatchString("") {
				return "(" + col + " IS NULL OR " + col + " ~ " + re + ")", nil
			}
			return col + " ~ " + re, nil
		case influxql.NEQREGEX:
			if !l.Val.MatchString("") {
				return "(" + col + " IS NULL OR " + col + " !~ " + re + ")", nil
			}
			return col + " !~ " + re, nil
		}
	}
	// A tag compared with a number or boolean matches nothing in InfluxDB.
	return "FALSE", nil
}

func regexSQL(re *regexp.Regexp) string { return quoteString(re.String()) }

func fieldSQL(col string, t columnar.FieldType, op influxql.Token, lit influxql.Expr, e influxql.Expr) (string, error) {
	sqlOp := op.String()
	if op == influxql.NEQ {
		sqlOp = "<>"
	}
	switch l := lit.(type) {
	case *influxql.RegexLiteral:
		if t != columnar.FieldString {
			return "FALSE", nil
		}
		if op == influxql.EQREGEX {
			return col + " ~ " + regexSQL(l.Val), nil
		}
		return col + " !~ " + regexSQL(l.Val), nil
	case *influxql.StringLiteral:
		if t != columnar.FieldString {
			return "FALSE", nil
		}
		return col + " " + sqlOp + " " + quoteString(l.Val), nil
	case *influxql.BooleanLiteral:
		if t != columnar.FieldBool || (op != influxql.EQ && op != influxql.NEQ) {
			return "FALSE", nil
		}
		return col + " " + sqlOp + " " + strconv.FormatBool(l.Val), nil
	case *influxql.IntegerLiteral:
		if !numericField(t) {
			return "FALSE", nil
		}
		if t == columnar.FieldFloat {
			return col + " " + sqlOp + " " + floatLit(float64(l.Val)), nil
		}
		return col + " " + sqlOp + " " + intLit(l.Val), nil
	case *influxql.UnsignedLiteral:
		if !numericField(t) {
			return "FALSE", nil
		}
		return col + " " + sqlOp + " " + strconv.FormatUint(l.Val, 10), nil
	case *influxql.NumberLiteral:
		if !numericField(t) {
			return "FALSE", nil
		}
		return col + " " + sqlOp + " " + floatLit(l.Val), nil
	}
	return "", fmt.Errorf("invalid condition %s", e)
}

func numericField(t columnar.FieldType) bool {
	return t == columnar.FieldFloat || t == columnar.FieldInt || t == columnar.FieldUint
}

// influxType names a field type as SHOW FIELD KEYS does.
func influxType(t columnar.FieldType) string {
	switch t {
	case columnar.FieldFloat:
		return "float"
	case columnar.FieldInt:
		return "integer"
	case columnar.FieldUint:
		return "unsigned"
	case columnar.FieldBool:
		return "boolean"
	case columnar.FieldString:
		return "string"
	}
	return "unknown"
}

func dataType(t columnar.FieldType) influxql.DataType {
	switch t {
	case columnar.FieldFloat:
		return influxql.Float
	case columnar.FieldInt:
		return influxql.Integer
	case columnar.FieldUint:
		return influxql.Unsigned
	case columnar.FieldBool:
		return influxql.Boolean
	case columnar.FieldString:
		return influxql.String
	}
	return influxql.Unknown
}
