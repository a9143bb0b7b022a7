package influxql

import (
	"errors"
	"fmt"
)

// Statement errors their callers tell apart (with errors.Is, never by
// their text, which is InfluxDB's and may change with it).
var (
	// ErrDatabaseRequired: a statement that reads a database was sent
	// without one.
	ErrDatabaseRequired = errors.New("database name required")
	// ErrDatabaseNotFound: the statement's database does not exist.
	ErrDatabaseNotFound = errors.New("database not found")
	// ErrTooManyRows: the statement's answer, or the windows of its
	// GROUP BY time(), would pass Request.MaxRows (--query-max-rows).
	ErrTooManyRows = errors.New("too many rows")
)

// databaseNotFound is ErrDatabaseNotFound naming db, in InfluxDB's words.
func databaseNotFound(db string) error { return fmt.Errorf("%w: %s", ErrDatabaseNotFound, db) }

// tooManyRows is an error of ErrTooManyRows whose text is its own.
type tooManyRows struct{ error }

func (tooManyRows) Is(target error) bool { return target == ErrTooManyRows }

func tooManyRowsf(format string, args ...any) error {
	return tooManyRows{fmt.Errorf(format, args...)}
}
