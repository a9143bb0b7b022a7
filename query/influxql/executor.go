package influxql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// Backend is what the executor needs from the storage engine. The server
// implements it over the engine and the SQL executor, so this package
// depends on neither's scan internals.
type Backend interface {
	// Databases lists the databases, sorted.
	Databases() []string
	// Tables returns the schemas of db's tables, or false when db does not
	// exist.
	Tables(db string) (map[string]*columnar.TableSchema, bool)
	// Run executes a compiled SQL plan against db.
	Run(ctx context.Context, db string, q *sql.Query) (*query.Result, error)
	// RunRows executes a plan over rows held in memory (a subquery's
	// inner results) as its table.
	RunRows(ctx context.Context, q *sql.Query, rows *columnar.ColumnBatch) (*query.Result, error)
	// CreateDatabase makes db exist (idempotent), durably.
	CreateDatabase(db string) error
	// SetRetention creates db if needed and sets its retention (0: keep
	// data forever).
	SetRetention(db string, d time.Duration) error
	// Retention is db's retention (0: forever); false when db does not
	// exist.
	Retention(db string) (time.Duration, bool)
	// DropDatabase deletes db and everything in it, durably; a missing db
	// is not an error.
	DropDatabase(db string) error
	// DropMeasurement deletes the table of db, durably; a missing table
	// is not an error.
	DropMeasurement(db, name string) error
}

// Request is one /query call.
type Request struct {
	Query string
	// Params are the values of the query's $name parameters (the params
	// form value, JSON), as InfluxDB binds them.
	Params   map[string]any
	Database string // db parameter; FROM db.rp.m overrides it per statement
	RP       string
	Epoch    Epoch
	Now      time.Time
	// MaxRows bounds the rows one statement may return (0: unbounded).
	MaxRows int
	// Timeout is the caller's time limit, named in the error of a
	// statement that runs out of it.
	Timeout time.Duration
	// Allow is asked about every statement before any runs, with what
	// the statement needs; an error fails the request with AuthError.
	Allow func(p Privilege) error
	// MaxMemoryBytes bounds the rows of the request's answer, every
	// statement's together, as the statements' series hold them, and
	// each SELECT's copy of the rows its SQL queries answer while both
	// are alive (0: unbounded). The backend bounds each SQL query.
	MaxMemoryBytes int64
	// TypedValues lets a raw SELECT's series keep their rows as the
	// executor's typed columns, leaving Values empty: read them with
	// Series.Len and Series.AppendRowJSON. Series may then hold their
	// tags as sorted keys and values, leaving Tags nil: read them with
	// Series.SortedTags. A caller that encodes the answer itself as JSON
	// sets it; one that reads Values or Tags must not.
	TypedValues bool
	// Plans, when not nil, keeps the request's parse and its SQL plans
	// for the requests that repeat it (PlanCache).
	Plans *PlanCache

	mem *memAccount // set by Execute
	// parsed is the plan cache's entry of the request's statements, when
	// they came from there (set by Prepare).
	parsed *planEntry
}

// Privilege is what a statement needs of its caller.
type Privilege uint8

const (
	// PrivRead: reads (SELECT without INTO, SHOW).
	PrivRead Privilege = iota
	// PrivWrite: adds data or schema (CREATE DATABASE, SELECT INTO).
	PrivWrite
	// PrivAdmin: destroys data or changes how long it is kept (DROP,
	// DELETE, retention policies, CREATE DATABASE ... WITH DURATION),
	// and every statement Silt does not know to be milder.
	PrivAdmin
)

func (p Privilege) String() string {
	switch p {
	case PrivRead:
		return "read"
	case PrivWrite:
		return "write"
	}
	return "admin"
}

// ErrNotExecuted is the error of the statements after a failed one, as
// in InfluxDB.
var ErrNotExecuted = errors.New("not executed")

// ErrInternal marks a statement error that is Silt's fault, not the
// query's: a panic while running it, or SQL it wrote that its own planner
// refuses. Every other error the executor writes itself is about the
// query; errors of the Backend are passed through as they are.
var ErrInternal = errors.New("internal error")

// ParseError is a request whose text does not parse; /query answers it
// with 400 and a top-level error.
type ParseError struct{ Err error }

func (e *ParseError) Error() string {
	return "error parsing query: " + strings.TrimPrefix(e.Err.Error(), "error parsing query: ")
}

// ParseParams reads the params form value of /query: a JSON object of
// parameter values, numbers with a '.' as floats and others as integers,
// as InfluxDB 1.x reads them.
func ParseParams(raw string) (map[string]any, error) {
	var params map[string]any
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&params); err != nil {
		return nil, fmt.Errorf("error parsing query parameters: %w", err)
	}
	for k, v := range params {
		n, ok := v.(json.Number)
		if !ok {
			continue
		}
		var err error
		if strings.Contains(string(n), ".") {
			params[k], err = n.Float64()
		} else {
			params[k], err = n.Int64()
		}
		if err != nil {
			return nil, fmt.Errorf("error parsing json value: %w", err)
		}
	}
	return params, nil
}

// AuthError is a statement the caller may not run; /query answers 403
// and runs none of the request's statements.
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return e.Err.Error() }

// Execute runs every statement of req.Query in order. A parse error
// fails the whole request; a statement that fails gets its error in its
// Result and the statements after it are not executed.
func Execute(ctx context.Context, b Backend, req Request) (*Response, error) {
	p, err := Prepare(req)
	if err != nil {
		return nil, err
	}
	return p.run(ctx, b), nil
}

// Prepared is a request parsed and authorized, ready to run.
type Prepared struct {
	q   *influxql.Query
	req Request
}

// Prepare parses req.Query and asks req.Allow about every statement: its
// errors are *ParseError and *AuthError, which fail the whole request
// before any statement runs.
func Prepare(req Request) (*Prepared, error) {
	q, kept, err := req.Plans.parse(req.Query, req.Params, func() (*influxql.Query, error) {
		p := influxql.NewParser(strings.NewReader(req.Query))
		if req.Params != nil {
			p.SetParams(req.Params)
		}
		return p.ParseQuery()
	})
	if err != nil {
		return nil, &ParseError{err}
	}
	if len(q.Statements) == 0 {
		return nil, &ParseError{errors.New("found EOF, expected statement")}
	}
	if req.Allow != nil {
		// Like InfluxDB, authorize every statement before running any.
		for _, st := range q.Statements {
			if err := req.Allow(StatementPrivilege(st)); err != nil {
				return nil, &AuthError{err}
			}
		}
	}
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	req.mem = &memAccount{limit: req.MaxMemoryBytes}
	req.parsed = kept
	return &Prepared{q: q, req: req}, nil
}

func (p *Prepared) run(ctx context.Context, b Backend) *Response {
	resp := &Response{Results: make([]*Result, 0, len(p.q.Statements)), mem: p.req.mem}
	failed := false
	for i, st := range p.q.Statements {
		r := &Result{StatementID: i}
		resp.Results = append(resp.Results, r)
		if failed {
			r.Error = ErrNotExecuted.Error()
			continue
		}
		if err := ctx.Err(); err != nil {
			r.Error, r.err = err.Error(), err
			failed = true
			continue
		}
		series, err := execStatement(ctx, b, p.req, st)
		if err != nil {
			r.Error, r.err = statementError(err, p.req), err
			failed = true
			continue
		}
		r.Series = series
		r.chunking = chunkingOf(st)
	}
	return resp
}

// statementError is the message of a statement's failure.
func statementError(err error, req Request) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("query timeout: the statement ran longer than %s (--query-timeout)", req.Timeout)
	}
	return err.Error()
}

// chunkingOf is how a chunked answer sends st's result.
func chunkingOf(st influxql.Statement) chunking {
	switch st.(type) {
	case *influxql.SelectStatement, *influxql.ShowSeriesStatement, *influxql.ShowFieldKeysStatement:
		return chunkRows
	case *influxql.ShowTagKeysStatement, *influxql.ShowTagValuesStatement:
		return chunkPerSeries
	}
	return chunkWhole
}

// StatementPrivilege is what st needs: read for SELECT (without INTO) and
// SHOW, write for what only adds, admin for the rest.
func StatementPrivilege(st influxql.Statement) Privilege {
	switch st := st.(type) {
	case *influxql.SelectStatement:
		if st.Target != nil {
			return PrivWrite
		}
		return PrivRead
	case *influxql.ExplainStatement:
		if st.Statement.Target != nil {
			return PrivWrite // ANALYZE would run the INTO
		}
		return PrivRead
	case *influxql.ShowDatabasesStatement, *influxql.ShowMeasurementsStatement,
		*influxql.ShowTagKeysStatement, *influxql.ShowTagValuesStatement, *influxql.ShowFieldKeysStatement,
		*influxql.ShowSeriesStatement, *influxql.ShowRetentionPoliciesStatement,
		*influxql.ShowMeasurementCardinalityStatement, *influxql.ShowSeriesCardinalityStatement,
		*influxql.ShowTagKeyCardinalityStatement, *influxql.ShowTagValuesCardinalityStatement,
		*influxql.ShowFieldKeyCardinalityStatement:
		return PrivRead
	case *influxql.CreateDatabaseStatement:
		if st.RetentionPolicyCreate && st.RetentionPolicyDuration != nil {
			return PrivAdmin // sets the retention of a database that may exist
		}
		return PrivWrite
	}
	return PrivAdmin
}

func execStatement(ctx context.Context, b Backend, req Request, st influxql.Statement) (series []*Series, err error) {
	defer func() {
		// A bug here must fail one statement, not the server.
		if r := recover(); r != nil {
			series, err = nil, fmt.Errorf("%w running %s: %v", ErrInternal, statementName(st), r)
		}
	}()
	switch st := st.(type) {
	case *influxql.SelectStatement:
		return execSelect(ctx, b, req, st)
	case *influxql.ExplainStatement:
		return execExplain(ctx, b, req, st) // explain.go
	case *influxql.ShowDatabasesStatement:
		return showDatabases(b), nil
	case *influxql.CreateDatabaseStatement:
		if st.Name == "" {
			return nil, ErrDatabaseRequired
		}
		if st.RetentionPolicyCreate && st.RetentionPolicyDuration != nil {
			return nil, b.SetRetention(st.Name, *st.RetentionPolicyDuration)
		}
		return nil, b.CreateDatabase(st.Name)
	case *influxql.CreateRetentionPolicyStatement:
		return nil, setPolicy(b, st.Database, st.Name, &st.Duration, st.Default)
	case *influxql.AlterRetentionPolicyStatement:
		return nil, setPolicy(b, st.Database, st.Name, st.Duration, st.Default)
	case *influxql.ShowRetentionPoliciesStatement:
		return showRetentionPolicies(b, pick(st.Database, req.Database))
	case *influxql.ShowMeasurementsStatement:
		return showMeasurements(ctx, b, req, st)
	case *influxql.ShowTagKeysStatement:
		return showTagKeys(ctx, b, req, st)
	case *influxql.ShowTagValuesStatement:
		return showTagValues(ctx, b, req, st)
	case *influxql.ShowFieldKeysStatement:
		return showFieldKeys(b, req, st)
	case *influxql.ShowSeriesStatement:
		return showSeries(ctx, b, req, st)
	case *influxql.DropDatabaseStatement:
		return nil, dropDatabase(b, st)
	case *influxql.DropMeasurementStatement:
		return nil, dropMeasurement(b, req, st)
	case *influxql.DropSeriesStatement:
		return nil, dropSeries(b, req, "DROP SERIES", st.Sources, st.Condition)
	case *influxql.DeleteSeriesStatement:
		return nil, dropSeries(b, req, "DELETE", st.Sources, st.Condition)
	}
	return nil, fmt.Errorf("%s is not supported by Silt (see docs/influxql.md)", statementName(st))
}

// statementName is the statement's leading keywords, for errors.
func statementName(st influxql.Statement) string {
	words := strings.Fields(st.String())
	n := 2
	if len(words) > 2 && (words[0] == "SHOW" || words[0] == "DROP" || words[0] == "CREATE") &&
		(words[1] == "TAG" || words[1] == "FIELD" || words[1] == "RETENTION" || words[1] == "CONTINUOUS" || words[1] == "SHARD") {
		n = 3
	}
	if len(words) < n {
		n = len(words)
	}
	return strings.Join(words[:n], " ")
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// tablesOf resolves db for a statement: "database name required" and
// "database not found" are InfluxDB's errors.
func tablesOf(b Backend, db string) (map[string]*columnar.TableSchema, error) {
	if db == "" {
		return nil, ErrDatabaseRequired
	}
	tables, ok := b.Tables(db)
	if !ok {
		return nil, databaseNotFound(db)
	}
	return tables, nil
}
