package flightsql

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/siltdb/silt/server"
)

// FuzzTicket sends arbitrary tickets to a running server: the JSON
// ticket of the InfluxDB 3 clients, Flight SQL commands and statement
// handles all come from the client. The decoders must not panic and
// must keep their promises, and the server must answer every ticket
// with a result or a client error, never crash or fail internally.
func FuzzTicket(f *testing.F) {
	handle, _ := flightsql.CreateStatementQueryTicket(encodeHandle(testDB, "SELECT * FROM cpu"))
	for _, s := range []string{
		`{"database":"flight","sql_query":"SELECT * FROM cpu","query_type":"sql"}`,
		`{"database":"flight","sql_query":"SELECT usage FROM cpu GROUP BY host","query_type":"influxql"}`,
		`{"sql_query":"SHOW DATABASES","query_type":"InfluxQL"}`,
		`{"sql_query":"SELECT 0 FROM A","query_type":"influxql"}`,
		`{"database":"flight","sql_query":"SELECT 1","params":{"x":1}}`,
		`{"database":"flight","sql_query":""}`,
		`{"database":1}`,
		`{`,
		"",
		string(handle),
	} {
		f.Add([]byte(s))
	}
	e := startEnv(f, server.Config{}, Config{})
	e.write(f, testDB, testData)
	c := e.flightClient(f)
	f.Fuzz(func(t *testing.T, tkt []byte) {
		if db, text, lang, _, err := decodeInfluxTicket(tkt); err == nil {
			if strings.TrimSpace(text) == "" || (lang != langSQL && lang != langInfluxQL) {
				t.Fatalf("accepted %q: db %q query %q lang %q", tkt, db, text, lang)
			}
		}
		if h, err := decodeHandle(tkt); err == nil && h.Query == "" {
			t.Fatalf("accepted handle %q without a query", tkt)
		}
		r, err := c.DoGet(context.Background(), &flight.Ticket{Ticket: tkt})
		if err == nil {
			_, err = readErr(r)
		}
		switch status.Code(err) {
		case codes.OK, codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.ResourceExhausted:
		default:
			t.Fatalf("ticket %q: %v", tkt, err)
		}
	})
}
