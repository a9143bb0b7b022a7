package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
)

// handleSQL serves GET/POST /api/v1/sql?db=D&q=SQL&format=json|csv|arrow|parquet.
// A POST body is the SQL text, or JSON {"db": ..., "sql": ...}.
func (s *Server) handleSQL(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	db, text := string(args.Peek("db")), string(args.Peek("q"))
	if ctx.IsPost() {
		body := ctx.PostBody()
		if len(body) > 0 && strings.HasPrefix(string(ctx.Request.Header.ContentType()), "application/json") {
			var req struct{ DB, SQL string }
			if err := json.Unmarshal(body, &req); err != nil {
				s.writeError(ctx, fasthttp.StatusBadRequest, "bad-json", "request body: "+err.Error())
				return
			}
			if req.DB != "" {
				db = req.DB
			}
			text = req.SQL
		} else if isForm(ctx) && ctx.PostArgs().Has("q") {
			form := ctx.PostArgs()
			// curl -d 'q=SELECT ...' and HTML forms: the parameters
			// come form-encoded in the body, as InfluxDB's /query takes
			// them. A raw SQL body sent with curl's default form type
			// has no q= key and is read as text below.
			text = string(form.Peek("q"))
			if v := form.Peek("db"); len(v) > 0 {
				db = string(v)
			}
			for _, k := range []string{"format", "resolution"} {
				if v := form.Peek(k); len(v) > 0 && !args.Has(k) {
					args.SetBytesV(k, v)
				}
			}
		} else if len(body) > 0 {
			text = string(body)
		}
	} else if !ctx.IsGet() {
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use GET or POST")
		return
	}
	if db == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "the db parameter is required")
		return
	}
	if strings.TrimSpace(text) == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-query", "no SQL: pass q= or a POST body")
		return
	}
	raw, ok := rawResolution(string(args.Peek("resolution")))
	if !ok {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-resolution", errResolution)
		return
	}
	format := string(args.Peek("format"))
	switch format {
	case "", "json", "csv", "arrow", "parquet":
	default:
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-format", "format must be json, csv, arrow or parquet")
		return
	}
	start := time.Now()
	q, err := s.CompileSQL(db, text, start)
	if err != nil {
		var qe *QueryError
		errors.As(err, &qe)
		body := sqlErrorBody{Error: err.Error(), Code: qe.Code}
		var se *sql.Error
		if errors.As(err, &se) {
			body.Position = se.Position
		}
		s.writeJSON(ctx, qe.Status, body)
		return
	}
	qctx, cancel := s.queryContext(ctx)
	defer cancel()
	// partial: a cluster query node's answer when writers are down
	// (docs/scaling.md), overriding its --cluster.writer-down.
	switch v := string(args.Peek("partial")); v {
	case "":
	case "true", "false":
		qctx = engine.WithPartial(qctx, v == "true")
	default:
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-partial", "partial must be true or false")
		return
	}
	// The answer's rows stay charged to --query-max-memory-total until
	// they are sent.
	hold := s.queryMem.Reserve()
	sent := hold.Release
	defer func() { sent() }()
	// JSON and CSV are encoded straight from the executor's typed
	// columns where it answers with them (query.Table): no Go value per
	// cell. Arrow and Parquet are built from rows.
	typed := (format == "" || format == "json" || format == "csv") && !s.sqlRowsOnly.Load()
	res, tab, err := s.runSQL(exec.HoldAnswer(qctx, hold), db, q, raw, typed)
	if errors.Is(context.Cause(qctx), errClientGone) {
		s.log.Debug("query canceled: client gone", "db", db)
		return // nobody is listening
	}
	if err != nil {
		s.writeQueryError(ctx, err)
		return
	}
	var stats *query.Stats
	var rows int
	if tab != nil {
		stats, rows = &tab.Stats, len(tab.Rows)
	} else {
		stats, rows = &res.Stats, len(res.Rows)
	}
	stats.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	if format != "" && format != "json" {
		// The JSON answer carries its stats; the others have no place
		// for them but a header (the console reads its answers as Arrow).
		if b, err := json.Marshal(stats); err == nil {
			ctx.Response.Header.SetBytesV(statsHeader, b)
		}
	}
	var encode func(w io.Writer) error
	switch format {
	case "csv":
		ctx.SetContentType("text/csv; charset=utf-8")
		encode = res.WriteCSV
		if tab != nil {
			encode = tab.WriteCSV
		}
	case "arrow":
		ctx.SetContentType("application/vnd.apache.arrow.stream")
		encode = res.WriteArrow
	case "parquet":
		// One Parquet file (export_parquet.go).
		ctx.SetContentType(parquetContentType)
		ctx.Response.Header.Set("Content-Disposition", `attachment; filename="silt-query.parquet"`)
		encode = func(w io.Writer) error { return writeResultParquet(w, res) }
	default:
		ctx.SetContentType("application/json")
		encode = res.WriteJSON
		if tab != nil {
			encode = tab.WriteJSON
		}
	}
	if rows < streamRows {
		if err := encode(ctx); err != nil {
			s.log.Error("write sql result", "err", err)
		}
		return
	}
	// A large answer is encoded as it is sent, not into a body buffer as
	// large as itself on top of the rows it is encoded from.
	sent = func() {} // the stream writer releases it once written

	s.setBodyWriterTo(ctx, func(w *bufio.Writer) { // stream_writeto.go
		defer hold.Release()
		if err := encode(w); err != nil {
			s.log.Warn("send sql result", "err", err)
		}
	})
}

// sqlErrorBody is the error of a query that does not compile: ErrorBody
// and, when the parser knows it, the 1-based byte offset in the SQL text
// where the error is (as PostgreSQL's error position), for an editor to
// point at.
type sqlErrorBody struct {
	Error    string `json:"error"`
	Code     string `json:"code"`
	Position int    `json:"position,omitempty"`
}

// statsHeader carries a SQL answer's stats (the JSON answer's "stats")
// with the answers in CSV, Arrow and Parquet.
const statsHeader = "Silt-Query-Stats"

// streamRows is the size of an answer, in rows, from which the query
// endpoints send it as it is encoded (chunked) instead of buffering the
// whole body: below it the body is at most a few hundred KiB, and one
// write is cheaper than a stream.
const streamRows = 4096

// QueryError is why a SQL query was refused or failed: the HTTP status and
// stable code of /api/v1/sql and the PostgreSQL SQLSTATE of the same
// condition, for the PostgreSQL listener.
type QueryError struct {
	Status int    // HTTP status
	Code   string // Silt's stable code, as {"code": ...}
	State  string // PostgreSQL SQLSTATE
	Err    error
}

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// SQLState is the PostgreSQL error code of the condition.
func (e *QueryError) SQLState() string { return e.State }

// CompileSQL plans text over db's tables as of now: the first half of
// what /api/v1/sql and the PostgreSQL listener share. Its errors are
// *QueryError.
func (s *Server) CompileSQL(db, text string, now time.Time) (*sql.Query, error) {
	tables, ok := s.eng.Tables(db)
	if !ok {
		return nil, &QueryError{fasthttp.StatusNotFound, "db-not-found", "3D000",
			errors.New("database " + db + " does not exist")}
	}
	cat, _ := exec.Catalog(tables)
	q, err := sql.Compile(text, cat, now)
	if err != nil {
		code, state := "bad-query", "42601"
		var se *sql.Error
		if errors.As(err, &se) {
			if se.Code != "" {
				code = se.Code
			}
			if se.SQLState != "" {
				state = se.SQLState
			}
		}
		return nil, &QueryError{fasthttp.StatusBadRequest, code, state, err}
	}
	return q, nil
}

// RunSQL runs a compiled query on db within the server's query limits
// (--query-timeout, --query-max-memory, --query-max-rows): the second
// half of what /api/v1/sql and the PostgreSQL listener share. raw answers
// from raw rows where rollups would apply. Its errors are *QueryError; a
// query canceled by ctx (not by the timeout) has State 57014 and wraps
// context.Canceled.
func (s *Server) RunSQL(ctx context.Context, db string, q *sql.Query, raw bool) (*query.Result, error) {
	res, _, err := s.runSQL(ctx, db, q, raw, false)
	return res, err
}

// runSQL is RunSQL; with typed, a SELECT over one table answers as the
// executor's typed columns (tab, exec.RunTable) rather than rows (res),
// within the same limits and with the same errors.
func (s *Server) runSQL(ctx context.Context, db string, q *sql.Query, raw, typed bool) (res *query.Result, tab *query.Table, err error) {
	names := s.tableNames(db, q) // query.go
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	src, lim := exec.EngineSource{Engine: s.eng, DB: db, Raw: raw}, exec.Limits{MaxMemoryBytes: s.cfg.QueryMaxMemory, Shared: s.queryMem}
	if typed {
		res, tab, err = exec.RunTable(qctx, q, src, names, lim)
	} else {
		res, err = exec.RunLimited(qctx, q, src, names, lim)
	}
	if err != nil {
		return nil, nil, s.runError(ctx, err)
	}
	n := 0
	if tab != nil {
		n = len(tab.Rows)
	} else {
		n = len(res.Rows)
	}
	if n > s.cfg.QueryMaxRows {
		return nil, nil, &QueryError{fasthttp.StatusUnprocessableEntity, "too-many-rows", "54000",
			fmt.Errorf("result has %d rows, more than %d (--query-max-rows); add LIMIT or aggregate", n, s.cfg.QueryMaxRows)}
	}
	return res, tab, nil
}

// runError is the *QueryError of err, the failure of a query run by the
// executor (whose caller's context is ctx): the SQL endpoints' answer,
// and the InfluxQL ones' when the executor fails under a statement.
func (s *Server) runError(ctx context.Context, err error) *QueryError {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		s.metrics.queriesCanceled.WithLabelValues("timeout").Inc()
		return &QueryError{fasthttp.StatusServiceUnavailable, "query-timeout", "57014",
			fmt.Errorf("query ran longer than %s (--query-timeout)", s.cfg.QueryTimeout)}
	case ctx.Err() != nil:
		return &QueryError{fasthttp.StatusServiceUnavailable, "query-canceled", "57014",
			fmt.Errorf("canceling statement due to user request: %w", context.Cause(ctx))}
	case errors.Is(err, exec.ErrMemoryLimit):
		return &QueryError{fasthttp.StatusUnprocessableEntity, "query-memory-limit", "53200", err}
	case engine.IsColdUnavailable(err):
		// The query needs tiered segments and the object store is down;
		// queries over local data still work (docs/tiering.md).
		return &QueryError{fasthttp.StatusServiceUnavailable, "cold-unavailable", "58030", err}
	case errors.Is(err, sql.ErrDivisionByZero):
		return &QueryError{fasthttp.StatusBadRequest, sql.CodeDivisionByZero, "22012", err}
	}
	state := "XX000"
	var se *sql.Error
	if errors.As(err, &se) && se.SQLState != "" {
		state = se.SQLState
	}
	return &QueryError{fasthttp.StatusBadRequest, "query-failed", state, err}
}

// rawResolution reads the resolution parameter of the query endpoints:
// "raw" answers from raw rows even where rollups apply (to compare, or to
// measure); "" or "auto" lets the planner choose. ok is false otherwise.
func rawResolution(v string) (raw, ok bool) {
	switch v {
	case "", "auto":
		return false, true
	case "raw":
		return true, true
	}
	return false, false
}

const errResolution = "resolution must be auto or raw"
