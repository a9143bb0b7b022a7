package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSQLDataErrorsAreTheClients: a query that fails on the values it
// computes from the rows (an overflow, a logarithm of zero, text that is
// not a number) is the query's fault: it carries PostgreSQL's SQLSTATE
// for the condition, not XX000 (which PostgreSQL clients and Flight SQL
// read as an internal error).
func TestSQLDataErrorsAreTheClients(t *testing.T) {
	ts := startServer(t, 0)
	if code, _, b := ts.post(t, "/write?db=d", "cpu,host=a usage=1.5,n=3i,s=\"x\" 1000000000\n"); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	for _, tc := range []struct{ q, state string }{
		{"SELECT ln(usage - 1.5) FROM cpu", "2201E"},
		{"SELECT sqrt(-usage) FROM cpu", "2201F"},
		{"SELECT power(0, -n) FROM cpu", "2201F"},
		{"SELECT n + 9223372036854775807 FROM cpu", "22003"},
		{"SELECT -(n - n - 9223372036854775807 - 1) FROM cpu", "22003"},
		{"SELECT substr(s, 1, -n) FROM cpu", "22011"},
		{"SELECT CAST(s AS bigint) FROM cpu", "22P02"},
		{"SELECT to_timestamp(usage * 1e300) FROM cpu", "22008"},
	} {
		cq, err := ts.srv.CompileSQL("d", tc.q, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		_, err = ts.srv.RunSQL(context.Background(), "d", cq, false)
		var qe *QueryError
		if !errors.As(err, &qe) || qe.State != tc.state || qe.Status != 400 {
			t.Errorf("%s: want 400 %s, got %v (%+v)", tc.q, tc.state, err, qe)
		}
	}
}
