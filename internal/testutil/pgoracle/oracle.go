package pgoracle

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Oracle is a connection to a database of its own in the shared PostgreSQL
// 15 cluster. Its methods may be called from several goroutines; they are
// serialised on one connection.
type Oracle struct {
	t  testing.TB
	c  *cluster
	db string

	mu   sync.Mutex
	conn *pgx.Conn
}

// Database is the name of the Oracle's database.
func (o *Oracle) Database() string { return o.db }

// ConnString is a libpq keyword/value connection string (Unix socket, user
// postgres, no password) to the Oracle's database, for other clients:
// pgx.Connect, or psql "$CONNSTRING" while debugging a test.
func (o *Oracle) ConnString() string { return o.c.connString(o.db) }

// Version is the server's `postgres -V`, e.g.
// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
func (o *Oracle) Version() string { return o.c.version }

// Exec runs a statement. Without args it goes through the simple query
// protocol, so sql may hold several statements separated by semicolons.
func (o *Oracle) Exec(sql string, args ...any) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.conn.Exec(context.Background(), sql, args...); err != nil {
		return fmt.Errorf("pgoracle: %s: %w", sql, err)
	}
	return nil
}

// Query runs a query and returns its column names and rows, every value
// normalised by Normalize. A query that returns no rows gives an empty,
// non-nil slice. The error wraps PostgreSQL's (*pgconn.PgError, with its
// SQLSTATE in Code) when the server rejected the query.
func (o *Oracle) Query(sql string, args ...any) ([]string, [][]any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rows, err := o.conn.Query(context.Background(), sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("pgoracle: %s: %w", sql, err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	cols := make([]string, len(fds))
	for i, fd := range fds {
		cols[i] = fd.Name
	}
	out := make([][]any, 0)
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, nil, fmt.Errorf("pgoracle: %s: %w", sql, err)
		}
		for i, v := range vals {
			if vals[i], err = Normalize(v); err != nil {
				return nil, nil, fmt.Errorf("pgoracle: %s: column %s: %w", sql, cols[i], err)
			}
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("pgoracle: %s: %w", sql, err)
	}
	return cols, out, nil
}

// Normalize maps a value as pgx decodes it (rows.Values) to the Go value
// Query returns: int64 for int2/int4/int8/oid, float64 for float4/float8/
// numeric (NaN and ±Inf included), string for text, time.Time in UTC for
// timestamptz/timestamp/date, "infinity"/"-infinity" for infinite
// timestamps, time.Duration for intervals without months, bool, nil for
// NULL; arrays element-wise; anything else unchanged.
func Normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case float64, string, bool:
		return x, nil
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err != nil {
			return nil, err
		}
		if !f.Valid {
			return nil, nil
		}
		return f.Float64, nil
	case time.Time:
		return x.UTC(), nil
	case pgtype.InfinityModifier:
		return x.String(), nil
	case pgtype.Interval:
		if !x.Valid {
			return nil, nil
		}
		if x.Months != 0 {
			return x, nil
		}
		return time.Duration(x.Days)*24*time.Hour + time.Duration(x.Microseconds)*time.Microsecond, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := Normalize(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	default:
		return v, nil
	}
}

// close drops the Oracle's database; run by t's cleanup.
func (o *Oracle) close() {
	o.mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	o.conn.Close(ctx)
	cancel()
	o.mu.Unlock()
	if err := o.c.dropDatabase(o.db); err != nil {
		o.t.Logf("pgoracle: dropping database %s: %v", o.db, err)
	}
}
