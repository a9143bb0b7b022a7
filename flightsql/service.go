package flightsql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// Version is reported by GetSqlInfo; set by cmd/silt.
var Version = "dev"

// The catalog as Flight SQL sees it: each database is a catalog holding
// one schema, iox (the name InfluxDB 3 gives the schema of its tables),
// whose tables are the database's tables.
const tableSchema = "iox"

// sqlServer answers the Flight SQL commands.
type sqlServer struct {
	flightsql.BaseServer
	l   *Listener
	mem memory.Allocator
}

// service is the Flight service: Flight SQL's, with DoGet also reading
// the JSON tickets of the InfluxDB 3 clients.
type service struct {
	flight.FlightServer
	sql *sqlServer
}

func newService(l *Listener) *service {
	s := &sqlServer{l: l, mem: memory.DefaultAllocator}
	for id, v := range map[flightsql.SqlInfo]any{
		flightsql.SqlInfoFlightSqlServerName:         "silt",
		flightsql.SqlInfoFlightSqlServerVersion:      Version,
		flightsql.SqlInfoFlightSqlServerArrowVersion: arrowVersion,
		flightsql.SqlInfoFlightSqlServerReadOnly:     true,
		flightsql.SqlInfoFlightSqlServerSql:          true,
		flightsql.SqlInfoFlightSqlServerSubstrait:    false,
		flightsql.SqlInfoFlightSqlServerTransaction:  int32(0), // none
		flightsql.SqlInfoFlightSqlServerCancel:       false,
		flightsql.SqlInfoDDLCatalog:                  false,
		flightsql.SqlInfoDDLSchema:                   false,
		flightsql.SqlInfoIdentifierQuoteChar:         `"`,
	} {
		if err := s.RegisterSqlInfo(id, v); err != nil {
			panic(fmt.Sprintf("flightsql: register SqlInfo %d: %v", id, err)) // a programming error
		}
	}
	return &service{FlightServer: flightsql.NewFlightServer(s), sql: s}
}

// arrowVersion is the Arrow library's version the answers are encoded
// with.
const arrowVersion = "18"

// DoGet answers a ticket: an InfluxDB 3 client's JSON ticket here, a
// Flight SQL command's by Flight SQL.
func (s *service) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	if !isJSONTicket(t.GetTicket()) {
		return s.FlightServer.DoGet(t, stream)
	}
	ctx := stream.Context()
	db, text, lang, params, err := decodeInfluxTicket(t.GetTicket())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if db == "" {
		db = database(ctx)
	}
	if db == "" && lang == langSQL {
		return status.Error(codes.InvalidArgument, errNoDatabase)
	}
	hctx, hold := s.sql.l.be.HoldAnswer(ctx)
	defer hold.Release()
	res, err := s.sql.run(hctx, db, text, lang, params)
	if err != nil {
		return err
	}
	sch := s.sql.ioxSchema(db, res.ArrowSchema())
	w := flight.NewRecordWriter(stream, ipc.WithSchema(sch), ipc.WithAllocator(s.sql.mem))
	// Each batch stays charged until the next is: what gRPC has of it
	// may not be sent yet.
	var sent int64
	err = res.ArrowBatches(s.sql.mem, sch, s.sql.l.cfg.BatchRows, func(rec arrow.RecordBatch) error {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		n, err := holdBatch(hold, rec)
		if err != nil {
			return err
		}
		hold.Shrink(sent)
		sent = n
		return w.Write(rec)
	})
	return grpcError(ctx, errors.Join(err, w.Close()))
}

// arrayBytes is what the buffers of an array's data hold, its
// children's included.
func arrayBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += arrayBytes(c)
	}
	return n
}

// holdBatch charges the buffers of rec, a record batch of an answer
// being sent, to the answer's hold of --query-max-memory-total, and
// returns the bytes charged; it fails with ResourceExhausted when the
// budget has not room. The batch is built before it is charged: the
// budget can be passed by one batch of --flight-batch-rows rows a query.
func holdBatch(hold query.Hold, rec arrow.RecordBatch) (int64, error) {
	var n int64
	for _, c := range rec.Columns() {
		n += arrayBytes(c.Data())
	}
	if err := hold.Grow(n); err != nil {
		return 0, status.Error(codes.ResourceExhausted, fmt.Sprintf("record batch of %d rows: %v", rec.NumRows(), err))
	}
	return n, nil
}

const errNoDatabase = "no database: send it as the gRPC metadata database (or bucket), as Grafana and the influxdb3 clients do"

// run runs a query in lang on db, with the values of its $name
// parameters in params (a JSON object; empty: none), and maps its errors
// to gRPC's codes.
func (s *sqlServer) run(ctx context.Context, db, text, lang string, params json.RawMessage) (*query.Result, error) {
	var res *query.Result
	var err error
	if lang == langInfluxQL {
		res, err = s.l.be.RunInfluxQL(ctx, db, text, params, time.Now())
	} else {
		if text, err = bindParams(text, params); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		var q *sql.Query
		if q, err = s.compile(db, text); err == nil {
			res, err = s.l.be.RunSQL(ctx, db, q, false)
		}
	}
	if err != nil {
		return nil, queryStatus(ctx, err)
	}
	return res, nil
}

// compile plans a SQL query over db, with the information_schema views
// InfluxDB 3 has (info_schema.go).
func (s *sqlServer) compile(db, text string) (*sql.Query, error) {
	tables, _ := s.l.be.Tables(db)
	text, err := withInfoSchema(text, db, tables)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "information_schema: "+err.Error())
	}
	return s.l.be.CompileSQL(db, text, time.Now())
}

// queryStatus maps a query error to a gRPC status by its HTTP status.
func queryStatus(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	var st interface{ SQLState() string }
	code := codes.InvalidArgument
	if errors.As(err, &st) {
		switch s := st.SQLState(); {
		case s == "3D000" || s == "42P01":
			code = codes.NotFound
		case s == "57014":
			code = codes.DeadlineExceeded
		case s == "53200" || s == "54000":
			code = codes.ResourceExhausted
		case s == "58030":
			code = codes.Unavailable
		case s == "25006":
			code = codes.PermissionDenied
		case strings.HasPrefix(s, "XX"):
			code = codes.Internal
		}
	}
	return status.Error(code, err.Error())
}

// GetFlightInfoStatement plans a SQL query (refusing one that does not
// compile before any DoGet) and answers a ticket that carries it.
func (s *sqlServer) GetFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	db := database(ctx)
	if db == "" {
		return nil, status.Error(codes.InvalidArgument, errNoDatabase)
	}
	q, err := s.compile(db, cmd.GetQuery())
	if err != nil {
		return nil, queryStatus(ctx, err)
	}
	tkt, err := flightsql.CreateStatementQueryTicket(encodeHandle(db, cmd.GetQuery()))
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &flight.FlightInfo{
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: tkt}}},
		Schema:           flight.SerializeSchema(s.ioxSchema(db, planSchema(q)), s.mem),
		TotalRecords:     -1,
		TotalBytes:       -1,
	}, nil
}

// GetSchemaStatement answers a SQL query's schema without running it.
func (s *sqlServer) GetSchemaStatement(ctx context.Context, cmd flightsql.StatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	db := database(ctx)
	if db == "" {
		return nil, status.Error(codes.InvalidArgument, errNoDatabase)
	}
	q, err := s.compile(db, cmd.GetQuery())
	if err != nil {
		return nil, queryStatus(ctx, err)
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(s.ioxSchema(db, planSchema(q)), s.mem)}, nil
}

// DoGetStatement runs the query of a GetFlightInfoStatement ticket and
// streams its rows as record batches of at most BatchRows rows.
func (s *sqlServer) DoGetStatement(ctx context.Context, tkt flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	h, err := decodeHandle(tkt.GetStatementHandle())
	if err != nil {
		return nil, nil, status.Error(codes.InvalidArgument, err.Error())
	}
	hctx, hold := s.l.be.HoldAnswer(ctx)
	res, err := s.run(hctx, h.DB, h.Query, langSQL, nil)
	if err != nil {
		hold.Release()
		return nil, nil, err
	}
	sch := s.ioxSchema(h.DB, res.ArrowSchema())
	return sch, s.stream(ctx, res, sch, hold), nil
}

// ioxSchema is sch with InfluxDB 3's column-type metadata on each field
// (iox::column::type: timestamp, tag, or field with its type), by which
// the InfluxDB 3 clients tell tags from fields and read times as times.
// A column is a tag when some table of db has a tag of its name.
func (s *sqlServer) ioxSchema(db string, sch *arrow.Schema) *arrow.Schema {
	tables, _ := s.l.be.Tables(db)
	tag := func(name string) bool {
		for _, t := range tables {
			for _, k := range t.Tags {
				if k == name {
					return true
				}
			}
		}
		return false
	}
	fs := sch.Fields()
	for i, f := range fs {
		typ := ""
		switch f.Type.ID() {
		case arrow.TIMESTAMP:
			typ = "iox::column_type::timestamp"
		case arrow.FLOAT64:
			typ = "iox::column_type::field::float"
		case arrow.INT64:
			typ = "iox::column_type::field::integer"
		case arrow.UINT64:
			typ = "iox::column_type::field::uinteger"
		case arrow.BOOL:
			typ = "iox::column_type::field::boolean"
		default:
			typ = "iox::column_type::field::string"
			if tag(f.Name) {
				typ = "iox::column_type::tag"
			}
		}
		fs[i].Metadata = arrow.NewMetadata([]string{"iox::column::type"}, []string{typ})
	}
	return arrow.NewSchema(fs, nil)
}

// stream sends res's record batches on the channel Flight SQL writes
// from, one batch built at a time; it stops when the client goes. The
// answer's rows stay charged to hold (of --query-max-memory-total) until
// the last batch is handed over, and each batch from when it is built
// until the next one is (the writer sends one while the next is built);
// hold is released at the end. A failure is sent as the stream's error,
// with its gRPC code.
func (s *sqlServer) stream(ctx context.Context, res *query.Result, sch *arrow.Schema, hold query.Hold) <-chan flight.StreamChunk {
	ch := make(chan flight.StreamChunk)
	go func() {
		defer close(ch)
		defer hold.Release()
		var err error
		defer func() {
			if v := recover(); v != nil {
				err = s.l.panicError("DoGetStatement's stream", v)
			}
			if err == nil || ctx.Err() != nil {
				return // nobody to tell
			}
			select {
			case ch <- flight.StreamChunk{Err: grpcError(ctx, err)}:
			case <-ctx.Done():
			}
		}()
		var sent int64 // the previous batch's charge
		err = res.ArrowBatches(s.mem, sch, s.l.cfg.BatchRows, func(rec arrow.RecordBatch) error {
			n, err := holdBatch(hold, rec)
			if err != nil {
				return err
			}
			hold.Shrink(sent)
			sent = n
			rec.Retain() // released by the writer
			select {
			case ch <- flight.StreamChunk{Data: rec}:
				return nil
			case <-ctx.Done():
				rec.Release()
				return ctx.Err()
			}
		})
	}()
	return ch
}

// planSchema is the Arrow schema of a compiled query's answer, as
// query.Result.ArrowSchema gives it once the query has run.
func planSchema(q *sql.Query) *arrow.Schema {
	cols := make([]query.Column, len(q.Outputs))
	for i, o := range q.Outputs {
		t := query.TypeString
		switch o.Type {
		case sql.TypeTimestamp:
			t = query.TypeTimestamp
		case sql.TypeInt64:
			t = query.TypeInteger
		case sql.TypeUint64:
			t = query.TypeUnsigned
		case sql.TypeFloat64:
			t = query.TypeFloat
		case sql.TypeBool:
			t = query.TypeBoolean
		}
		cols[i] = query.Column{Name: o.Name, Type: t}
	}
	return (&query.Result{Columns: cols}).ArrowSchema()
}

// flightInfo answers the metadata commands: one endpoint whose ticket is
// the command itself, as Flight SQL's reference servers do.
func (s *sqlServer) flightInfo(desc *flight.FlightDescriptor, sch *arrow.Schema) *flight.FlightInfo {
	return &flight.FlightInfo{
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: desc.Cmd}}},
		Schema:           flight.SerializeSchema(sch, s.mem),
		TotalRecords:     -1,
		TotalBytes:       -1,
	}
}

// oneBatch sends rec as the only chunk of an answer.
func oneBatch(rec arrow.RecordBatch) <-chan flight.StreamChunk {
	ch := make(chan flight.StreamChunk, 1)
	ch <- flight.StreamChunk{Data: rec}
	close(ch)
	return ch
}

func (s *sqlServer) GetFlightInfoCatalogs(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.Catalogs), nil
}

// DoGetCatalogs lists the databases.
func (s *sqlServer) DoGetCatalogs(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.Catalogs)
	defer b.Release()
	for _, db := range s.l.be.Databases() {
		b.Field(0).(*array.StringBuilder).Append(db)
	}
	return schema_ref.Catalogs, oneBatch(b.NewRecordBatch()), nil
}

func (s *sqlServer) GetFlightInfoSchemas(_ context.Context, _ flightsql.GetDBSchemas, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.DBSchemas), nil
}

// catalogs are the databases a metadata command is about: the one it
// names, else the one of the call's metadata, else all.
func (s *sqlServer) catalogs(ctx context.Context, catalog *string) []string {
	if catalog != nil {
		if _, ok := s.l.be.Tables(*catalog); ok {
			return []string{*catalog}
		}
		return nil
	}
	if db := database(ctx); db != "" {
		if _, ok := s.l.be.Tables(db); ok {
			return []string{db}
		}
		return nil
	}
	return s.l.be.Databases()
}

// DoGetDBSchemas lists the iox schema of each database.
func (s *sqlServer) DoGetDBSchemas(ctx context.Context, cmd flightsql.GetDBSchemas) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.DBSchemas)
	defer b.Release()
	if p := cmd.GetDBSchemaFilterPattern(); p == nil || like(tableSchema, *p) {
		for _, db := range s.catalogs(ctx, cmd.GetCatalog()) {
			b.Field(0).(*array.StringBuilder).Append(db)
			b.Field(1).(*array.StringBuilder).Append(tableSchema)
		}
	}
	return schema_ref.DBSchemas, oneBatch(b.NewRecordBatch()), nil
}

func (s *sqlServer) GetFlightInfoTables(_ context.Context, cmd flightsql.GetTables, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if cmd.GetIncludeSchema() {
		return s.flightInfo(desc, schema_ref.TablesWithIncludedSchema), nil
	}
	return s.flightInfo(desc, schema_ref.Tables), nil
}

// DoGetTables lists the tables, with their Arrow schemas when asked.
func (s *sqlServer) DoGetTables(ctx context.Context, cmd flightsql.GetTables) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	sch := schema_ref.Tables
	if cmd.GetIncludeSchema() {
		sch = schema_ref.TablesWithIncludedSchema
	}
	b := array.NewRecordBuilder(s.mem, sch)
	defer b.Release()
	wantType := len(cmd.GetTableTypes()) == 0
	for _, t := range cmd.GetTableTypes() {
		wantType = wantType || strings.EqualFold(t, "BASE TABLE") || strings.EqualFold(t, "TABLE")
	}
	p := cmd.GetDBSchemaFilterPattern()
	if wantType && (p == nil || like(tableSchema, *p)) {
		for _, db := range s.catalogs(ctx, cmd.GetCatalog()) {
			tables, _ := s.l.be.Tables(db)
			names := make([]string, 0, len(tables))
			for n := range tables {
				if tp := cmd.GetTableNameFilterPattern(); tp == nil || like(n, *tp) {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			for _, n := range names {
				b.Field(0).(*array.StringBuilder).Append(db)
				b.Field(1).(*array.StringBuilder).Append(tableSchema)
				b.Field(2).(*array.StringBuilder).Append(n)
				b.Field(3).(*array.StringBuilder).Append("BASE TABLE")
				if cmd.GetIncludeSchema() {
					b.Field(4).(*array.BinaryBuilder).Append(flight.SerializeSchema(tableArrowSchema(tables[n]), s.mem))
				}
			}
		}
	}
	return sch, oneBatch(b.NewRecordBatch()), nil
}

// tableArrowSchema is the Arrow schema of a table's columns as SELECT *
// answers them: time, the tags, the fields.
func tableArrowSchema(t *columnar.TableSchema) *arrow.Schema {
	fs := []arrow.Field{{Name: columnar.TimeColumn, Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}}}
	for _, tag := range t.Tags {
		fs = append(fs, arrow.Field{Name: tag, Type: arrow.BinaryTypes.String, Nullable: true})
	}
	for _, f := range t.Fields {
		var typ arrow.DataType = arrow.BinaryTypes.String
		switch f.Type {
		case columnar.FieldFloat:
			typ = arrow.PrimitiveTypes.Float64
		case columnar.FieldInt:
			typ = arrow.PrimitiveTypes.Int64
		case columnar.FieldUint:
			typ = arrow.PrimitiveTypes.Uint64
		case columnar.FieldBool:
			typ = arrow.FixedWidthTypes.Boolean
		}
		fs = append(fs, arrow.Field{Name: f.Name, Type: typ, Nullable: true})
	}
	return arrow.NewSchema(fs, nil)
}

func (s *sqlServer) GetFlightInfoTableTypes(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.TableTypes), nil
}

func (s *sqlServer) DoGetTableTypes(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.TableTypes)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("BASE TABLE")
	return schema_ref.TableTypes, oneBatch(b.NewRecordBatch()), nil
}

// like matches s against a SQL LIKE pattern (% any run, _ one
// character; no escapes), as Flight SQL's filter patterns are.
func like(s, pattern string) bool {
	rs, ps := []rune(s), []rune(pattern)
	// Iterative matching with backtracking to the last %.
	i, j, star, mark := 0, 0, -1, 0
	for i < len(rs) {
		switch {
		case j < len(ps) && (ps[j] == '_' || ps[j] == rs[i]):
			i++
			j++
		case j < len(ps) && ps[j] == '%':
			star, mark = j, i
			j++
		case star >= 0:
			mark++
			i, j = mark, star+1
		default:
			return false
		}
	}
	for j < len(ps) && ps[j] == '%' {
		j++
	}
	return j == len(ps)
}
