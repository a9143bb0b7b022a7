package flightsql

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/siltdb/silt/server"
)

// Queries over Flight SQL answer what /api/v1/sql answers, row for row.
func TestFlightSQLMatchesHTTP(t *testing.T) {
	e := startEnv(t, server.Config{}, Config{BatchRows: 2}) // several batches per answer
	e.write(t, testDB, testData)
	c := e.flightClient(t)
	ctx := withDB(context.Background(), testDB)
	for _, q := range []string{
		"SELECT * FROM cpu ORDER BY time",
		"SELECT time, host, usage, n, ok, note FROM cpu WHERE host = 'a' ORDER BY time DESC",
		"SELECT host, count(*) AS c, avg(usage) AS a, max(n) AS m FROM cpu GROUP BY host ORDER BY host",
		"SELECT * FROM mem",
		"SELECT usage FROM cpu WHERE usage > 100",
		"SHOW TABLES",
	} {
		wantCols, wantRows := e.sqlRows(t, testDB, q)
		cols, rows, err := runQuery(t, ctx, c, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if !reflect.DeepEqual(cols, wantCols) || !(len(rows) == 0 && len(wantRows) == 0 || reflect.DeepEqual(rows, wantRows)) {
			t.Errorf("%s:\nflight %v %v\nhttp   %v %v", q, cols, rows, wantCols, wantRows)
		}
	}
	// The schema of GetFlightInfo, from the plan, is the schema of the
	// stream, from the answer.
	info, err := c.Execute(ctx, "SELECT * FROM cpu")
	if err != nil {
		t.Fatal(err)
	}
	planned, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if !planned.Equal(r.Schema()) {
		t.Errorf("planned schema %v, streamed %v", planned, r.Schema())
	}
	r.Release()
	// GetSchema answers the same without running.
	sr, err := c.GetExecuteSchema(ctx, "SELECT * FROM cpu")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := flight.DeserializeSchema(sr.GetSchema(), memory.DefaultAllocator); err != nil || !got.Equal(planned) {
		t.Errorf("GetSchema: %v %v", got, err)
	}
}

// The database may also come as bucket or bucket-name metadata.
func TestFlightDatabaseMetadataKeys(t *testing.T) {
	e := startEnv(t, server.Config{}, Config{})
	e.write(t, testDB, testData)
	c := e.flightClient(t)
	for _, k := range []string{"database", "bucket", "bucket-name"} {
		ctx := metadataCtx(k, testDB)
		_, rows, err := runQuery(t, ctx, c, "SELECT count(*) FROM cpu")
		if err != nil || len(rows) != 1 || rows[0][0] != "3" {
			t.Errorf("%s: %v %v", k, rows, err)
		}
	}
}

func metadataCtx(kv ...string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), kv...)
}

func TestFlightMetadata(t *testing.T) {
	e := startEnv(t, server.Config{}, Config{})
	e.write(t, testDB, testData)
	e.write(t, "other", "disk free=1i")
	c := e.flightClient(t)
	bg := context.Background()
	get := func(ctx context.Context, info *flight.FlightInfo, err error) ([]string, [][]string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			t.Fatal(err)
		}
		return readAll(t, r)
	}
	info, err := c.GetCatalogs(bg)
	if _, rows := get(bg, info, err); fmt.Sprint(rows) != "[[flight] [other]]" {
		t.Errorf("catalogs %v", rows)
	}
	info, err = c.GetDBSchemas(bg, &flightsql.GetDBSchemasOpts{})
	if _, rows := get(bg, info, err); fmt.Sprint(rows) != "[[flight iox] [other iox]]" {
		t.Errorf("schemas %v", rows)
	}
	// Tables of the database of the metadata, with their schemas.
	ctx := withDB(bg, testDB)
	info, err = c.GetTables(ctx, &flightsql.GetTablesOpts{IncludeSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for r.Next() {
		rec := r.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			name := rec.Column(2).(*array.String).Value(i)
			tables = append(tables, rec.Column(0).(*array.String).Value(i)+"."+rec.Column(1).(*array.String).Value(i)+"."+name)
			sch, err := flight.DeserializeSchema(rec.Column(4).(*array.Binary).Value(i), memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			// SELECT * answers the same columns.
			wantCols, _ := e.sqlRows(t, testDB, "SELECT * FROM "+name+" LIMIT 1")
			var got []string
			for _, f := range sch.Fields() {
				got = append(got, f.Name)
			}
			if !reflect.DeepEqual(got, wantCols) {
				t.Errorf("table %s schema %v, SELECT * %v", name, got, wantCols)
			}
		}
	}
	r.Release()
	if strings.Join(tables, ",") != "flight.iox.cpu,flight.iox.mem" {
		t.Errorf("tables %v", tables)
	}
	// Filters: a catalog, a table name pattern, a table type.
	cat, pat := "other", "d%"
	info, err = c.GetTables(bg, &flightsql.GetTablesOpts{Catalog: &cat, TableNameFilterPattern: &pat})
	if _, rows := get(bg, info, err); fmt.Sprint(rows) != "[[other iox disk BASE TABLE]]" {
		t.Errorf("filtered tables %v", rows)
	}
	pat = "c_u"
	info, err = c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: &pat, TableTypes: []string{"VIEW"}})
	if _, rows := get(ctx, info, err); len(rows) != 0 {
		t.Errorf("views %v", rows)
	}
	info, err = c.GetTableTypes(bg)
	if _, rows := get(bg, info, err); fmt.Sprint(rows) != "[[BASE TABLE]]" {
		t.Errorf("table types %v", rows)
	}
	// SqlInfo: the server's name and that it is read-only.
	info, err = c.GetSqlInfo(bg, []flightsql.SqlInfo{flightsql.SqlInfoFlightSqlServerName, flightsql.SqlInfoFlightSqlServerReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.DoGet(bg, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint32]string{}
	for r.Next() {
		rec := r.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			got[rec.Column(0).(*array.Uint32).Value(i)] = rec.Column(1).ValueStr(i)
		}
	}
	r.Release()
	if !strings.Contains(got[uint32(flightsql.SqlInfoFlightSqlServerName)], "silt") || !strings.Contains(got[uint32(flightsql.SqlInfoFlightSqlServerReadOnly)], "true") {
		t.Errorf("SqlInfo %v", got)
	}
}

// Tokens and scopes are the HTTP API's: read to query.
func TestFlightAuth(t *testing.T) {
	e := startEnv(t, server.Config{Tokens: []server.Token{
		{Name: "r", Secret: "rsecret", Read: true},
		{Name: "w", Secret: "wsecret", Write: true},
	}}, Config{})
	e.write(t, testDB, testData, "Authorization", "Bearer wsecret")
	c := e.flightClient(t)
	for _, tc := range []struct {
		auth []string
		code codes.Code
	}{
		{nil, codes.Unauthenticated},
		{[]string{"authorization", "Bearer nope"}, codes.Unauthenticated},
		{[]string{"authorization", "Digest x"}, codes.Unauthenticated},
		{[]string{"authorization", "Bearer wsecret"}, codes.PermissionDenied},
		{[]string{"authorization", "Bearer rsecret"}, codes.OK},
		{[]string{"authorization", "Token rsecret"}, codes.OK},
	} {
		ctx := withDB(context.Background(), testDB, tc.auth...)
		_, _, err := runQuery(t, ctx, c, "SELECT count(*) FROM cpu")
		if status.Code(err) != tc.code {
			t.Errorf("%v: %v, want %v", tc.auth, err, tc.code)
		}
		_, err = c.GetCatalogs(ctx)
		if status.Code(err) != tc.code {
			t.Errorf("catalogs %v: %v, want %v", tc.auth, err, tc.code)
		}
	}
}

// Bad input gets a clear error with the right code, and the server goes
// on answering.
func TestFlightBadInput(t *testing.T) {
	e := startEnv(t, server.Config{}, Config{})
	e.write(t, testDB, testData)
	c := e.flightClient(t)
	bg := context.Background()
	for _, tc := range []struct {
		ctx  context.Context
		q    string
		code codes.Code
		want string
	}{
		{bg, "SELECT 1", codes.InvalidArgument, "no database"},
		{withDB(bg, "nope"), "SELECT * FROM cpu", codes.NotFound, "does not exist"},
		{withDB(bg, testDB), "SELEC * FROM cpu", codes.InvalidArgument, "syntax"},
		{withDB(bg, testDB), "SELECT * FROM nosuch", codes.NotFound, "nosuch"},
	} {
		_, err := c.Execute(tc.ctx, tc.q)
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %v %q", tc.q, err, tc.code, tc.want)
		}
	}
	// Tickets that are not what this server makes.
	ctx := withDB(bg, testDB)
	stmt, _ := flightsql.CreateStatementQueryTicket([]byte("not json"))
	noQuery, _ := flightsql.CreateStatementQueryTicket([]byte(`{"db":"flight"}`))
	for _, tkt := range [][]byte{
		nil,
		[]byte("garbage"),
		{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		[]byte("{"),
		[]byte(`{"database":"flight"}`),
		[]byte(`{"database":"flight","sql_query":"SELECT 1","query_type":"flux"}`),
		[]byte(`{"database":"flight","sql_query":"SELECT $b","params":{"a":1}}`),
		[]byte(`{"database":"flight","sql_query":"SELECT $a","params":[1]}`),
		[]byte(`{"database":"flight","sql_query":"SELECT $a","params":{"a":{"b":1}}}`),
		[]byte(`{"database":"flight","sql_query":"SELECT usage FROM cpu WHERE host = $h","query_type":"influxql","params":{"a":1}}`),
		[]byte(`{"database":"flight","sql_query":"SELECT 1"} trailing`),
		[]byte(`{"sql_query":"SELECT * FROM cpu"}`), // no database anywhere
		stmt,
		noQuery,
	} {
		r, err := c.DoGet(bg, &flight.Ticket{Ticket: tkt})
		if err == nil {
			_, err = readErr(r)
		}
		if st := status.Code(err); st != codes.InvalidArgument {
			t.Errorf("ticket %q: %v, want InvalidArgument", tkt, err)
		}
	}
	// Still serving.
	if _, rows, err := runQuery(t, ctx, c, "SELECT count(*) FROM cpu"); err != nil || rows[0][0] != "3" {
		t.Fatalf("after bad tickets: %v %v", rows, err)
	}
}

// readErr reads a stream to its end and returns its error.
func readErr(r *flight.Reader) (int, error) {
	defer r.Release()
	n := 0
	for r.Next() {
		n += int(r.RecordBatch().NumRows())
	}
	return n, r.Err()
}

// A client that goes away mid-answer stops the stream; the server goes
// on answering.
func TestFlightCanceledStream(t *testing.T) {
	e := startEnv(t, server.Config{}, Config{BatchRows: 100})
	// More than gRPC's largest flow-control window (16 MiB) holds, so
	// the answer cannot all be in the client's buffers when it cancels.
	var lp strings.Builder
	pad := strings.Repeat("x", 100)
	for i := range 200_000 {
		fmt.Fprintf(&lp, "big,k=%d v=%di,s=\"%s\" %d\n", i%10, i, pad, 1700000000000000000+int64(i))
	}
	e.write(t, testDB, lp.String())
	c := e.flightClient(t)
	for _, influx := range []bool{false, true} {
		for range 5 {
			ctx, cancel := context.WithCancel(withDB(context.Background(), testDB))
			var r *flight.Reader
			var err error
			if influx {
				r, err = c.DoGet(ctx, &flight.Ticket{Ticket: []byte(`{"database":"flight","sql_query":"SELECT * FROM big","query_type":"sql"}`)})
			} else {
				var info *flight.FlightInfo
				if info, err = c.Execute(ctx, "SELECT * FROM big"); err == nil {
					r, err = c.DoGet(ctx, info.Endpoint[0].Ticket)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.Next() || r.RecordBatch().NumRows() != 100 {
				t.Fatalf("first batch: %v", r.Err())
			}
			cancel()
			for r.Next() {
			}
			if err := r.Err(); status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled stream ended with %v", err)
			}
			r.Release()
		}
	}
	_, rows, err := runQuery(t, withDB(context.Background(), testDB), c, "SELECT count(*) FROM big")
	if err != nil || rows[0][0] != "200000" {
		t.Fatalf("after canceled streams: %v %v", rows, err)
	}
}

// The HTTP API answers on the Flight port, beside gRPC.
func TestFlightPortServesHTTP(t *testing.T) {
	e := startEnv(t, server.Config{}, Config{})
	e.write(t, testDB, testData)
	if _, rows := e.sqlRows(t, testDB, "SELECT count(*) FROM cpu"); rows[0][0] != "3" {
		t.Fatalf("HTTP on the Flight port: %v", rows)
	}
}
