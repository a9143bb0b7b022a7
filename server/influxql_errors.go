package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/influxql"
)

// executorError is an error of the executor under an InfluxQL statement
// (influxBackend's Run and RunRows): the statement's error is then the
// executor's, answered as the SQL endpoints answer it.
type executorError struct{ err error }

func (e *executorError) Error() string { return e.err.Error() }
func (e *executorError) Unwrap() error { return e.err }

func wrapExecutorError(err error) error {
	if err == nil {
		return nil
	}
	return &executorError{err}
}

// influxStatementError is the *QueryError of a failed InfluxQL statement
// on the endpoints that answer with a status of their own (InfluxDB 3's
// query_influxql and Flight SQL; /query answers 200 with the error in the
// result, as InfluxDB 1.x does). ctx is the caller's context.
//
// The errors the InfluxQL executor writes itself are about the query
// (an unsupported function, a bad condition, a missing database): client
// errors, 400 with SQLSTATE 42000. Silt's own faults (a panic, SQL the
// translator wrote that the planner refuses) are 500 internal, XX000;
// the executor's failures are what SQL gets for them.
func (s *Server) influxStatementError(ctx context.Context, err error) *QueryError {
	var ee *executorError
	switch {
	case ctx.Err() != nil:
		return &QueryError{fasthttp.StatusServiceUnavailable, "query-canceled", "57014",
			fmt.Errorf("canceling statement due to user request: %w", context.Cause(ctx))}
	case errors.Is(err, context.DeadlineExceeded):
		s.metrics.queriesCanceled.WithLabelValues("timeout").Inc()
		return &QueryError{fasthttp.StatusServiceUnavailable, "query-timeout", "57014",
			fmt.Errorf("query ran longer than %s (--query-timeout)", s.cfg.QueryTimeout)}
	case errors.Is(err, influxql.ErrInternal):
		return &QueryError{fasthttp.StatusInternalServerError, "internal", "XX000", err}
	case errors.Is(err, exec.ErrMemoryLimit):
		// The request's answer (the executor's own accounting) or one of
		// its SQL queries.
		return &QueryError{fasthttp.StatusUnprocessableEntity, "query-memory-limit", "53200", err}
	case errors.As(err, &ee):
		return s.runError(ctx, err)
	case errors.Is(err, influxql.ErrDatabaseRequired):
		// A statement that reads a database was sent without one: the
		// client's mistake, the same as /query's missing db.
		return &QueryError{fasthttp.StatusBadRequest, "missing-db", "22023", err}
	case errors.Is(err, influxql.ErrDatabaseNotFound):
		return &QueryError{fasthttp.StatusNotFound, "db-not-found", "3D000", err}
	case errors.Is(err, influxql.ErrTooManyRows):
		// max-select-point, or GROUP BY time() making too many windows.
		return &QueryError{fasthttp.StatusUnprocessableEntity, "too-many-rows", "54000", err}
	}
	return &QueryError{fasthttp.StatusBadRequest, "query-failed", "42000", err}
}
