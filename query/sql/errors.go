package sql

import (
	"errors"
	"fmt"
)

// Error codes: the stable identifiers carried by Error.Code. The HTTP API
// reports them as {"code": ...}.
const (
	CodeSyntax            = "syntax"             // the text does not parse (PostgreSQL grammar)
	CodeUnsupported       = "unsupported"        // valid PostgreSQL that Silt does not run; Construct names it
	CodeUndefinedTable    = "undefined_table"    // FROM or DESCRIBE names no table
	CodeUndefinedColumn   = "undefined_column"   // a column reference names no column
	CodeUndefinedFunction = "undefined_function" // a known function called with argument types it has no form for
	CodeAmbiguous         = "ambiguous"          // a name matches more than one column or output
	CodeGrouping          = "grouping"           // ungrouped column, misplaced or nested aggregate
	CodeType              = "type"               // operand or argument types do not fit
	CodeInvalid           = "invalid"            // any other semantic error (bad literal, negative LIMIT, ...)
	CodeDivisionByZero    = "division_by_zero"   // x/0 or x%0, at compile time or on a row (SQLSTATE 22012)
)

// ErrDivisionByZero is the error of x/0 and x%0, whether the planner folds
// constants or the executor meets a zero divisor on a row; its text is
// PostgreSQL's.
var ErrDivisionByZero = errors.New("division by zero")

// Error is the error type of Parse and Plan. Its message follows
// PostgreSQL's wording where PostgreSQL has one.
type Error struct {
	Code      string // one of the Code constants
	SQLState  string // PostgreSQL SQLSTATE for the same condition, e.g. "0A000"
	Construct string // for CodeUnsupported: the construct, e.g. "JOIN", "window function"
	Message   string // the full message, e.g. `JOIN is not supported`
	Hint      string // optional advice, e.g. how to write it in the supported dialect
	Position  int    // 1-based byte offset into the SQL text; 0 when unknown
}

func (e *Error) Error() string {
	if e.Hint != "" {
		return e.Message + " (hint: " + e.Hint + ")"
	}
	return e.Message
}

func errAt(loc int32, code, state, format string, args ...any) *Error {
	return &Error{Code: code, SQLState: state, Message: fmt.Sprintf(format, args...), Position: pos(loc)}
}

// unsupported reports a construct Silt does not run. detail, when not
// empty, is appended to the message.
func unsupported(loc int32, construct, detail string) *Error {
	msg := construct + " is not supported"
	if detail != "" {
		msg += ": " + detail
	}
	return &Error{Code: CodeUnsupported, SQLState: "0A000", Construct: construct, Message: msg, Position: pos(loc)}
}

func pos(loc int32) int {
	if loc < 0 {
		return 0
	}
	return int(loc) + 1
}

func (e *Error) withHint(h string) *Error { e.Hint = h; return e }

func (e *Error) withCode(code string) *Error { e.Code = code; return e }

func typeErr(loc int32, format string, args ...any) *Error {
	return errAt(loc, CodeType, "42883", format, args...)
}

func invalid(loc int32, state, format string, args ...any) *Error {
	return errAt(loc, CodeInvalid, state, format, args...)
}
