package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/query/influxql"
	"github.com/siltdb/silt/query/sql"
)

// TestInfluxQLStatementErrorsAreTheClients: a statement that fails because
// of what the query asks (a type error, an unsupported function or
// condition, a missing database) is a client error on the endpoints that
// answer InfluxQL with a status of their own: 4xx over HTTP and an
// SQLSTATE outside class XX (which Flight SQL answers as Internal).
func TestInfluxQLStatementErrorsAreTheClients(t *testing.T) {
	ts := startServer(t, 0)
	lp := "cpu,host=a usage=1.5,n=3i,s=\"x\",ok=true 1000000000\ncpu,host=b usage=2.5,n=4i,s=\"y\",ok=false 2000000000\n"
	if code, _, b := ts.post(t, "/write?db=d", lp); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	srv := ts.srv
	for _, tc := range []struct {
		db, q string
		state string // "" : any state outside class XX
	}{
		{"d", "SELECT mean(s) FROM cpu", ""},
		{"d", "SELECT nosuch(usage) FROM cpu", ""},
		{"d", "SELECT usage, mean(usage) FROM cpu", ""},
		{"d", "SELECT usage FROM cpu WHERE usage = n", ""},
		{"d", "SELECT usage FROM cpu GROUP BY time(1m)", ""},
		{"d", "SELECT usage + ok FROM cpu", ""},
		{"d", "SELECT derivative(usage, 1s), usage FROM cpu", ""},
		{"d", "SELECT usage FROM (SELECT usage FROM cpu), cpu", ""},
		{"d", "SHOW RETENTION POLICIES ON nope", "3D000"},
		{"nope", "SELECT usage FROM cpu", "3D000"},
		{"", "SELECT usage FROM cpu", "22023"},
		// GROUP BY time() making more windows than --query-max-rows.
		{"d", "SELECT mean(usage) FROM cpu WHERE time >= 0 AND time < 1000000000000 GROUP BY time(1ns)", "54000"},
	} {
		_, err := srv.RunInfluxQL(context.Background(), tc.db, tc.q, nil, time.Now())
		var qe *QueryError
		if !errors.As(err, &qe) {
			t.Errorf("%q on %q: want a *QueryError, got %v", tc.q, tc.db, err)
			continue
		}
		if strings.HasPrefix(qe.State, "XX") || qe.Status >= 500 || (tc.state != "" && qe.State != tc.state) {
			t.Errorf("%q on %q: want a client error (state %q), got %d %s %s: %v", tc.q, tc.db, tc.state, qe.Status, qe.Code, qe.State, err)
		}
		// The HTTP endpoint answers the same status.
		code, b := ts.get(t, "/api/v3/query_influxql?db="+url.QueryEscape(tc.db)+"&q="+url.QueryEscape(tc.q))
		if code != qe.Status || !strings.Contains(string(b), `"`+qe.Code+`"`) {
			t.Errorf("%q on %q over HTTP: want %d %s, got %d %s", tc.q, tc.db, qe.Status, qe.Code, code, b)
		}
	}
}

// TestInfluxStatementErrorKinds: what each kind of statement error
// becomes, from the errors the InfluxQL executor and the SQL executor
// under it really make.
func TestInfluxStatementErrorKinds(t *testing.T) {
	srv := startServerWith(t, Config{QueryTimeout: time.Second}).srv
	ctx := context.Background()
	for _, tc := range []struct {
		err    error
		status int
		state  string
	}{
		// Silt's own fault: a panic under a statement.
		{fmt.Errorf("%w running SELECT: boom", influxql.ErrInternal), 500, "XX000"},
		// The executor's failures are answered as SQL answers them.
		{wrapExecutorError(errors.New("read segment: input/output error")), 400, "XX000"},
		{wrapExecutorError(fmt.Errorf("x: %w", sql.ErrDivisionByZero)), 400, "22012"},
		{fmt.Errorf("subquery m: %w", wrapExecutorError(&sql.Error{SQLState: "22P02", Message: "bad input"})), 400, "22P02"},
		{wrapExecutorError(context.DeadlineExceeded), 503, "57014"},
		// The InfluxQL executor's own errors are about the query.
		{errors.New("unsupported expression s = 1"), 400, "42000"},
		{fmt.Errorf("%w: max-select-point limit exceeded", influxql.ErrTooManyRows), 422, "54000"},
		{influxql.ErrDatabaseRequired, 400, "22023"},
		{fmt.Errorf("%w: nope", influxql.ErrDatabaseNotFound), 404, "3D000"},
	} {
		qe := srv.influxStatementError(ctx, tc.err)
		if qe.Status != tc.status || qe.State != tc.state || qe.Error() != tc.err.Error() && tc.state != "57014" {
			t.Errorf("%v: want %d %s, got %d %s (%v)", tc.err, tc.status, tc.state, qe.Status, qe.State, qe)
		}
	}
}
