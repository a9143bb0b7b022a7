package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/influxql"
	"github.com/siltdb/silt/query/sql"
)

// influxBackend serves the InfluxQL executor from the engine and the SQL
// executor (the same path as /api/v1/sql).
type influxBackend struct {
	s   *Server
	raw bool // resolution=raw: no rollups
}

func (b influxBackend) Databases() []string { return b.s.eng.Databases() }

func (b influxBackend) Tables(db string) (map[string]*columnar.TableSchema, bool) {
	return b.s.eng.Tables(db)
}

func (b influxBackend) CreateDatabase(db string) error { return b.s.eng.CreateDatabase(db) }

func (b influxBackend) SetRetention(db string, d time.Duration) error {
	return b.s.eng.SetRetention(db, d)
}

func (b influxBackend) Retention(db string) (time.Duration, bool) {
	d, _, ok := b.s.eng.Retention(db)
	return d, ok
}

// TagValues answers SHOW TAG VALUES from the engine's indexes.
func (b influxBackend) TagValues(db, table, key string, filter map[string][]string) ([]string, bool, error) {
	return b.s.eng.TagValues(db, table, key, filter)
}

func (b influxBackend) DropDatabase(db string) error { return b.s.eng.DropDatabase(db) }

// DropMeasurement: InfluxDB answers success for a measurement that does
// not exist.
func (b influxBackend) DropMeasurement(db, name string) error {
	if err := b.s.eng.DropTable(db, name); err != nil && !errors.Is(err, engine.ErrTableNotFound) {
		return err
	}
	return nil
}

func (b influxBackend) Run(ctx context.Context, db string, q *sql.Query) (*query.Result, error) {
	names := b.s.tableNames(db, q)
	// A memory-limit error already names --query-max-memory and its bytes.
	// The executor reads the answer into its own (accounted) series: the
	// rows are not held for the request's caller (exec.HoldAnswer).
	ctx = exec.HoldAnswer(ctx, nil)
	res, err := exec.RunLimited(ctx, q, exec.EngineSource{Engine: b.s.eng, DB: db, Raw: b.raw}, names, exec.Limits{MaxMemoryBytes: b.s.cfg.QueryMaxMemory, Shared: b.s.queryMem})
	return res, wrapExecutorError(err) // influxql_errors.go
}

func (b influxBackend) RunRows(ctx context.Context, q *sql.Query, rows *columnar.ColumnBatch) (*query.Result, error) {
	res, err := exec.RunLimited(exec.HoldAnswer(ctx, nil), q, memorySource{rows}, nil, exec.Limits{MaxMemoryBytes: b.s.cfg.QueryMaxMemory, Shared: b.s.queryMem})
	return res, wrapExecutorError(err)
}

// RunColumns answers a plan as the executor's typed columns, when its
// shape allows (exec.RunColumns).
func (b influxBackend) RunColumns(ctx context.Context, db string, q *sql.Query) (*exec.Columns, bool, error) {
	res, ok, err := exec.RunColumns(ctx, q, exec.EngineSource{Engine: b.s.eng, DB: db, Raw: b.raw}, exec.Limits{MaxMemoryBytes: b.s.cfg.QueryMaxMemory, Shared: b.s.queryMem})
	return res, ok, wrapExecutorError(err)
}

// tableNames lists db's tables for a plan that answers with them (SHOW
// TABLES, or an EXPLAIN of it): the executor reads the list for nothing
// else, and listing copies every table's schema, a cost each SELECT of a
// dashboard would pay for nothing.
func (s *Server) tableNames(db string, q *sql.Query) []string {
	if q.Kind != sql.QueryShowTables && q.Kind != sql.QueryExplain {
		return nil
	}
	t, _ := s.eng.Tables(db)
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	return names
}

// memorySource is a table held in memory: a subquery's inner results.
type memorySource struct{ rows *columnar.ColumnBatch }

func (m memorySource) ScanBatches(_ context.Context, _ exec.ScanSpec, _ *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	if m.rows.Len == 0 {
		return nil
	}
	return fn(m.rows)
}

// handleQuery serves the InfluxDB 1.x query API: GET or POST /query with
// q (in the URL, or form-encoded in a POST body), db, rp, epoch, pretty.
// Statement errors are inside the results with status 200, as InfluxDB
// does; a missing q, a bad epoch or a syntax error is a top-level error
// with status 400.
func (s *Server) handleQuery(ctx *fasthttp.RequestCtx, tok *Token) {
	// Accept: application/csv gets its errors in CSV too (an "error"
	// header and the message, as InfluxDB writes them): a CSV client need
	// not parse JSON. The status and the message say what happened; the
	// code is only in JSON.
	args := ctx.QueryArgs()
	param := func(name string) string {
		if v := args.Peek(name); len(v) > 0 {
			return string(v)
		}
		if isForm(ctx) {
			return string(ctx.PostArgs().Peek(name))
		}
		return ""
	}
	// format: csv as Accept: application/csv; arrow and parquet answer
	// one table as a file (influx_export.go).
	format := param("format")
	wantCSV := format == "csv" || strings.Contains(string(ctx.Request.Header.Peek("Accept")), "application/csv")
	fail := func(status int, resp *influxql.Response) {
		if wantCSV {
			s.writeInfluxCSV(ctx, status, &influxql.Response{Error: resp.Error})
			return
		}
		s.writeInflux(ctx, status, resp)
	}
	if !ctx.IsGet() && !ctx.IsPost() {
		fail(fasthttp.StatusMethodNotAllowed, &influxql.Response{Error: "use GET or POST", Code: "method-not-allowed"})
		return
	}
	switch format {
	case "", "json", "csv", "arrow", "parquet":
	default:
		fail(fasthttp.StatusBadRequest, &influxql.Response{Error: "format must be json, csv, arrow or parquet", Code: "bad-format"})
		return
	}
	text := param("q")
	if ctx.IsPost() && !isForm(ctx) && text == "" && len(ctx.PostBody()) > 0 {
		// influx CLI and some scripts send the statement as a raw body.
		text = string(ctx.PostBody())
	}
	if text == "" {
		fail(fasthttp.StatusBadRequest, &influxql.Response{Error: `missing required parameter "q"`, Code: "missing-query"})
		return
	}
	epochParam := param("epoch")
	if wantCSV && epochParam == "" {
		epochParam = "ns" // InfluxDB's CSV has integer times
	}
	epoch, err := influxql.ParseEpoch(epochParam)
	if err != nil {
		fail(fasthttp.StatusBadRequest, &influxql.Response{Error: err.Error(), Code: "bad-epoch"})
		return
	}
	raw, ok := rawResolution(param("resolution"))
	if !ok {
		fail(fasthttp.StatusBadRequest, &influxql.Response{Error: errResolution, Code: "bad-resolution"})
		return
	}
	req := influxql.Request{Query: text, Database: param("db"), RP: param("rp"), Epoch: epoch,
		Now: time.Now(), MaxRows: s.cfg.QueryMaxRows, Timeout: s.cfg.QueryTimeout, MaxMemoryBytes: s.cfg.QueryMaxMemory,
		Plans: s.plans}
	if raw := param("params"); raw != "" {
		// Bound parameters ($name in q), as python's bind_params and Go's
		// NewQueryWithParameters send them.
		if req.Params, err = influxql.ParseParams(raw); err != nil {
			fail(fasthttp.StatusBadRequest, &influxql.Response{Error: err.Error(), Code: "bad-params"})
			return
		}
	}
	req.Allow = s.allowStatement(ctx.IsGet(), tok)
	if influxFileFormats[format] {
		s.writeInfluxFile(ctx, req, raw, format) // influx_export.go
		return
	}
	chunked := param("chunked") == "true" && !wantCSV
	// The JSON encoder (writeInfluxJSON) reads raw SELECTs' rows from the
	// executor's typed columns; CSV, pretty JSON and chunks read Values.
	req.TypedValues = !wantCSV && !chunked && string(args.Peek("pretty")) != "true"
	var resp *influxql.Response
	var prep *influxql.Prepared
	if chunked {
		// Parsed and authorized now, run as it is sent (influx_chunks.go).
		prep, err = influxql.Prepare(req)
	} else {
		qctx, cancel := s.queryContext(ctx)
		defer cancel()
		resp, err = influxql.Execute(qctx, influxBackend{s, raw}, req)
		if errors.Is(context.Cause(qctx), errClientGone) {
			return // nobody is listening
		}
	}
	var authErr *influxql.AuthError
	switch {
	case errors.As(err, &authErr) && errors.Is(authErr.Err, errStateChangeOverGet):
		ctx.Response.Header.Set("Allow", "POST")
		fail(fasthttp.StatusMethodNotAllowed, &influxql.Response{Error: authErr.Error(), Code: "get-changes-state"})
		return
	case errors.As(err, &authErr):
		fail(fasthttp.StatusForbidden, &influxql.Response{Error: "error authorizing query: " + authErr.Error(), Code: "insufficient-scope"})
		return
	case err != nil:
		fail(fasthttp.StatusBadRequest, &influxql.Response{Error: err.Error(), Code: "influxql-syntax"})
		return
	}
	if chunked {
		size, _ := strconv.Atoi(param("chunk_size")) // InfluxDB: unusable sizes mean the default
		s.writeInfluxChunks(ctx, prep, influxBackend{s, raw}, size)
		return
	}
	if wantCSV {
		s.writeInfluxCSV(ctx, fasthttp.StatusOK, resp)
		return
	}
	s.writeInflux(ctx, fasthttp.StatusOK, resp)
}

// errStateChangeOverGet refuses, over GET, a statement that changes data or
// schema: as InfluxDB documents, GET /query is for SELECT and SHOW only, so
// that a link or an <img> on any web page cannot drop a database.
var errStateChangeOverGet = errors.New("this statement changes data or schema: send it with POST (GET /query runs only SELECT and SHOW)")

// allowStatement is the check of every /query statement before any runs:
// over GET only reads, and with auth on only what tok's scopes grant.
func (s *Server) allowStatement(isGet bool, tok *Token) func(influxql.Privilege) error {
	return func(p influxql.Privilege) error {
		if isGet && p != influxql.PrivRead {
			return errStateChangeOverGet
		}
		if tok == nil {
			return nil
		}
		need := scopeRead
		switch p {
		case influxql.PrivWrite:
			need = scopeWrite
		case influxql.PrivAdmin:
			need = scopeAdmin
		}
		if !tok.has(need) {
			return fmt.Errorf("token %s lacks the %s scope", tok.Name, need)
		}
		return nil
	}
}

// writeInfluxCSV answers Accept: application/csv as InfluxDB does.
func (s *Server) writeInfluxCSV(ctx *fasthttp.RequestCtx, status int, resp *influxql.Response) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/csv")
	ctx.Response.Header.Set("X-Influxdb-Version", "1.8.10-silt-"+Version)
	ctx.Response.Header.Set("X-Influxdb-Build", "OSS")
	if err := influxql.WriteCSV(ctx, resp); err != nil {
		s.log.Warn("encode /query CSV response", "err", err)
	}
}

// influxBufs are writeInflux's encoding buffers.
var influxBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// influxGzips are writeInflux's gzip writers (fastest level, as the
// streamed answers use): a writer's state is far larger than a
// dashboard's answer.
var influxGzips = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return zw
}}

// gzipMinBytes is the smallest /query answer sent gzipped. A smaller one
// (a panel's hour of one host, ~2 KB) leaves in the same round trip
// either way, well inside TCP's initial window of ten segments, and the
// bytes gzip would save cost more than they are worth: the compressor's
// Huffman tables and the client's inflater (tens of KB of state each
// answer) take longer than sending the bytes.
const gzipMinBytes = 4 << 10

// putInfluxBuf returns buf to influxBufs unless it grew past what a
// dashboard answer needs (a large export would otherwise stay pinned).
func putInfluxBuf(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 {
		influxBufs.Put(buf)
	}
}

func (s *Server) writeInflux(ctx *fasthttp.RequestCtx, status int, resp *influxql.Response) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Influxdb-Version", "1.8.10-silt-"+Version)
	ctx.Response.Header.Set("X-Influxdb-Build", "OSS")
	pretty := string(ctx.QueryArgs().Peek("pretty")) == "true"
	size := sizeInflux(resp) // influx_stream.go
	if !pretty && size.rows >= streamRows {
		s.streamInflux(ctx, resp)
		return
	}
	// The answer is encoded in a pooled buffer (SetBody copies it): a
	// dashboard's answers are alike in size, refreshed every few seconds.
	buf := influxBufs.Get().(*bytes.Buffer)
	defer putInfluxBuf(buf)
	buf.Reset()
	// The hand encoder writes what encoding/json does without reflecting
	// over every value (a dashboard's answer is hundreds of rows).
	buf.Grow(size.bytes)
	encode := func() error { return writeInfluxJSON(buf, resp) } // influx_stream.go
	if pretty {
		enc := json.NewEncoder(buf)
		enc.SetIndent("", "    ")
		encode = func() error { return enc.Encode(resp) }
	}
	if err := encode(); err != nil {
		s.log.Warn("encode /query response", "err", err)
	}
	// Dashboards fetch long series; InfluxDB compresses for clients that
	// accept gzip (Grafana's HTTP client does), and so does Silt, for
	// answers of gzipMinBytes and more.
	if buf.Len() >= gzipMinBytes && ctx.Request.Header.HasAcceptEncoding("gzip") {
		ctx.Response.Header.Set("Content-Encoding", "gzip")
		// Compressed straight into the response's body buffer, by a
		// pooled writer on this goroutine.
		ctx.Response.ResetBody()
		zw := influxGzips.Get().(*gzip.Writer)
		zw.Reset(ctx.Response.BodyWriter())
		_, err := zw.Write(buf.Bytes())
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		influxGzips.Put(zw)
		if err != nil {
			s.log.Warn("gzip /query response", "err", err)
		}
		return
	}
	ctx.SetBody(buf.Bytes())
}
