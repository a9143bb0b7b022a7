package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/influxql"
)

// The InfluxDB 3 HTTP API (/api/v3): line protocol writes, SQL and
// InfluxQL queries answered as tables, and the database list. It runs on
// the executor, limits and tokens of the rest of the API.

// v3Bool reads an optional boolean parameter; ok is false when it is
// neither true nor false.
func v3Bool(v []byte, def bool) (b, ok bool) {
	switch strings.ToLower(string(v)) {
	case "":
		return def, true
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// v3Precision reads write_lp's precision: InfluxDB 3's names (auto,
// nanosecond, microsecond, millisecond, second) and the short ones of
// its CLI and the v1/v2 APIs. auto is true for auto-detection.
func v3Precision(v string) (p columnar.Precision, auto bool, err error) {
	switch v {
	case "", "auto":
		return columnar.Nanosecond, true, nil
	case "nanosecond":
		return columnar.Nanosecond, false, nil
	case "microsecond":
		return columnar.Microsecond, false, nil
	case "millisecond":
		return columnar.Millisecond, false, nil
	case "second":
		return columnar.Second, false, nil
	}
	p, err = columnar.ParsePrecision(v)
	if err != nil {
		return 0, false, fmt.Errorf("unknown precision %q (want auto, nanosecond, microsecond, millisecond or second)", v)
	}
	return p, false, nil
}

// autoScale converts a timestamp read with precision auto to
// nanoseconds by its magnitude, as InfluxDB 3 does: below 5e9 it is
// seconds, below 5e12 milliseconds, below 5e15 microseconds. A line
// without a timestamp got the server's time in nanoseconds, far above
// these bounds, and is left alone.
func autoScale(t int64) int64 {
	a := t
	if a < 0 {
		a = -a
	}
	switch {
	case a < 5e9:
		return t * 1e9
	case a < 5e12:
		return t * 1e6
	case a < 5e15:
		return t * 1e3
	}
	return t
}

// v3LineError is one rejected line in a write_lp error, in InfluxDB 3's
// shape.
type v3LineError struct {
	OriginalLine string `json:"original_line"`
	LineNumber   int    `json:"line_number"`
	ErrorMessage string `json:"error_message"`
	Code         string `json:"code"`
}

// Messages of write_lp's errors: the texts InfluxDB 3 answers, which its
// clients match to read the lines' errors.
const (
	msgPartialWrite = "partial write of line protocol occurred"
	msgParseFailed  = "parsing failed for write_lp endpoint"
)

// maxV3LineErrors bounds the rejected lines listed, as InfluxDB 3 lists
// up to 100.
const maxV3LineErrors = 100

// lineErrors pairs rejected lines with their text from body.
func lineErrors(body []byte, errs []columnar.LineError) []v3LineError {
	errs = errs[:min(len(errs), maxV3LineErrors)]
	out := make([]v3LineError, len(errs))
	line, start := 1, 0
	for i, e := range errs {
		// errs are in line order: one pass over the body finds them.
		for line < e.Line && start < len(body) {
			nl := bytes.IndexByte(body[start:], '\n')
			if nl < 0 {
				start = len(body)
				break
			}
			start += nl + 1
			line++
		}
		end := len(body)
		if nl := bytes.IndexByte(body[start:], '\n'); nl >= 0 {
			end = start + nl
		}
		text := ""
		if line == e.Line {
			text = truncate(bytes.TrimRight(body[start:end], "\r"), 256)
		}
		out[i] = v3LineError{OriginalLine: text, LineNumber: e.Line, ErrorMessage: e.Reason, Code: e.Code}
	}
	return out
}

// handleWriteLP serves POST /api/v3/write_lp?db=D: line protocol with
// precision (auto by default), accept_partial (true by default: good
// lines are written and the bad ones listed; false: one bad line rejects
// the whole request) and no_sync. Silt acknowledges a write only once
// its WAL record is fsynced, whatever no_sync says: no_sync=true is
// accepted and changes nothing.
func (s *Server) handleWriteLP(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use POST to write")
		return
	}
	args := ctx.QueryArgs()
	db := string(args.Peek("db"))
	if db == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "the db parameter is required")
		return
	}
	prec, auto, err := v3Precision(string(args.Peek("precision")))
	if err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-precision", err.Error())
		return
	}
	acceptPartial, ok := v3Bool(args.Peek("accept_partial"), true)
	if !ok {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-parameter", "accept_partial must be true or false")
		return
	}
	if _, ok := v3Bool(args.Peek("no_sync"), false); !ok {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-parameter", "no_sync must be true or false")
		return
	}
	sc, body, ok := s.writeBody(ctx)
	if !ok {
		return
	}
	defer putScratch(sc)
	onErr := func(e columnar.LineError) { sc.errs = append(sc.errs, e) }
	lineprotocol.Decode(body, &sc.batch, lineprotocol.Options{Precision: prec, Now: time.Now().UnixNano(), MaxLineBytes: s.maxLine}, onErr)
	if auto {
		for i := range sc.batch.Rows {
			sc.batch.Rows[i].Time = autoScale(sc.batch.Rows[i].Time)
		}
	}
	for _, e := range sc.errs {
		s.eng.Metrics().RowsRejected.WithLabelValues(e.Code).Inc()
	}
	if !acceptPartial {
		// Lines that decode may still not fit the tables' schemas: they
		// are checked against a copy first, so that nothing is written
		// when any line would be rejected.
		if len(sc.errs) == 0 {
			sc.errs = s.precheck(db, &sc.batch, sc.errs)
		}
		if len(sc.errs) > 0 {
			sortLineErrors(sc.errs)
			le := lineErrors(body, sc.errs[:1])[0]
			s.writeJSON(ctx, fasthttp.StatusBadRequest, struct {
				Error string      `json:"error"`
				Code  string      `json:"code"`
				Data  v3LineError `json:"data"`
			}{msgParseFailed, le.Code, le})
			return
		}
	}
	res, err := s.eng.Write(db, &sc.batch)
	if err != nil {
		s.writeEngineError(ctx, err)
		return
	}
	rejected := append(sc.errs, res.Rejected...)
	if len(rejected) == 0 {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	sortLineErrors(rejected)
	s.writeJSON(ctx, fasthttp.StatusBadRequest, struct {
		Error    string        `json:"error"`
		Code     string        `json:"code"`
		Written  int           `json:"written"`
		Rejected int           `json:"rejected"`
		Data     []v3LineError `json:"data"`
	}{msgPartialWrite, rejected[0].Code, res.Written, len(rejected), lineErrors(body, rejected)})
}

// precheck appends to errs the rows of b that db's table schemas, as
// they are now, would reject. A write racing this one may still change
// them: then the engine rejects the lines it finds in conflict.
func (s *Server) precheck(db string, b *columnar.Batch, errs []columnar.LineError) []columnar.LineError {
	tables, _ := s.eng.Tables(db)
	copies := map[string]*columnar.TableSchema{}
	for i := range b.Rows {
		r := &b.Rows[i]
		name := string(b.Bytes(r.Table))
		sch, ok := copies[name]
		if !ok {
			if t, ok := tables[name]; ok {
				sch = t.Clone()
			} else {
				sch = columnar.NewTableSchema()
			}
			copies[name] = sch
		}
		if e := sch.Admit(b, r); e != nil {
			errs = append(errs, *e)
		}
	}
	return errs
}

// v3Request is a query of /api/v3/query_sql or /api/v3/query_influxql:
// URL parameters, or for POST a JSON body with the same names.
type v3Request struct {
	DB     string          `json:"db"`
	Q      string          `json:"q"`
	Format string          `json:"format"`
	Params json.RawMessage `json:"params"`
}

// v3Formats are the answer formats of the v3 query endpoints.
var v3Formats = map[string]string{
	"json":    "application/json",
	"jsonl":   "application/jsonl",
	"csv":     "text/csv; charset=utf-8",
	"parquet": "application/vnd.apache.parquet",
	"pretty":  "text/plain; charset=utf-8",
}

// v3Format is the answer format: the format parameter, else the Accept
// header's first known type, else json.
func v3Format(param string, accept []byte) (string, bool) {
	if param != "" {
		_, ok := v3Formats[param]
		return param, ok
	}
	for _, a := range strings.Split(string(accept), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(a), ";")
		switch mt {
		case "application/json":
			return "json", true
		case "application/jsonl", "application/x-ndjson":
			return "jsonl", true
		case "text/csv", "application/csv":
			return "csv", true
		case "application/vnd.apache.parquet":
			return "parquet", true
		}
	}
	return "json", true
}

// handleQueryV3 serves GET/POST /api/v3/query_sql and
// /api/v3/query_influxql.
func (s *Server) handleQueryV3(ctx *fasthttp.RequestCtx, influx bool) {
	var req v3Request
	args := ctx.QueryArgs()
	switch {
	case ctx.IsGet():
	case ctx.IsPost():
		if body := ctx.PostBody(); len(body) > 0 {
			if err := json.Unmarshal(body, &req); err != nil {
				s.writeError(ctx, fasthttp.StatusBadRequest, "bad-json",
					`request body: `+err.Error()+`: want {"db": "DB", "q": "query", "format": "json"}`)
				return
			}
		}
	default:
		ctx.Response.Header.Set("Allow", "GET, POST")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use GET or POST")
		return
	}
	for _, p := range []struct {
		name string
		v    *string
	}{{"db", &req.DB}, {"q", &req.Q}, {"format", &req.Format}} {
		if *p.v == "" {
			*p.v = string(args.Peek(p.name))
		}
	}
	if len(req.Params) == 0 {
		req.Params = json.RawMessage(args.Peek("params"))
	}
	format, ok := v3Format(req.Format, ctx.Request.Header.Peek("Accept"))
	if !ok {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-format", "format must be json, jsonl, csv, parquet or pretty")
		return
	}
	if strings.TrimSpace(req.Q) == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-query", "the q parameter is required: the query to run")
		return
	}
	if req.DB == "" && !influx {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "the db parameter is required")
		return
	}
	// Bound parameters ($name in q), as InfluxDB 3 takes them.
	sqlText := req.Q
	var err error
	if !influx {
		if sqlText, err = BindSQLParams(req.Q, req.Params); err != nil {
			s.writeError(ctx, fasthttp.StatusBadRequest, "bad-params", err.Error())
			return
		}
	}
	qctx, cancel := s.queryContext(ctx)
	defer cancel()
	// The answer's rows stay charged to --query-max-memory-total until
	// they are sent.
	hold := s.queryMem.Reserve()
	sent := hold.Release
	defer func() { sent() }()
	hctx := exec.HoldAnswer(qctx, hold)
	var res *query.Result
	var tab *query.Table // a SQL answer as typed columns (exec.RunTable)
	if influx {
		res, err = s.RunInfluxQL(hctx, req.DB, req.Q, req.Params, time.Now())
	} else {
		cq, cerr := s.CompileSQL(req.DB, sqlText, time.Now())
		if cerr != nil {
			err = cerr
		} else {
			// JSON, JSON lines and CSV are encoded from the executor's
			// typed columns where it answers with them; Parquet and the
			// text table from rows.
			typed := (format == "json" || format == "jsonl" || format == "csv") && !s.sqlRowsOnly.Load()
			res, tab, err = s.runSQL(hctx, req.DB, cq, false, typed)
		}
	}
	if errors.Is(context.Cause(qctx), errClientGone) {
		return // nobody is listening
	}
	if err != nil {
		s.writeQueryError(ctx, err)
		return
	}
	ctx.SetContentType(v3Formats[format])
	var encode func(io.Writer) error
	rows := 0
	if tab != nil {
		rows = len(tab.Rows)
	} else {
		rows = len(res.Rows)
	}
	switch {
	case tab != nil && format == "csv":
		encode = tab.WriteCSV
	case tab != nil:
		keys := v3Keys(tab.Columns)
		encode = func(w io.Writer) error { return tab.WriteJSONObjects(w, keys, format == "jsonl") }
	case format == "jsonl":
		encode = func(w io.Writer) error { return writeV3JSON(w, res, true) }
	case format == "csv":
		encode = res.WriteCSV
	case format == "parquet":
		encode = func(w io.Writer) error { return writeV3Parquet(w, res) }
	case format == "pretty":
		encode = func(w io.Writer) error { return writeV3Pretty(w, res) }
	default:
		encode = func(w io.Writer) error { return writeV3JSON(w, res, false) }
	}
	if rows < streamRows {
		if err := encode(ctx); err != nil {
			s.log.Error("write v3 query result", "err", err)
		}
		return
	}
	sent = func() {} // the stream writer releases it once written

	s.setBodyWriterTo(ctx, func(w *bufio.Writer) { // stream_writeto.go
		defer hold.Release()
		if err := encode(w); err != nil {
			s.log.Warn("send v3 query result", "err", err)
		}
	})
}

// errInfluxQLWrites refuses statements that change data on the InfluxDB 3
// query endpoints, which only read (as in InfluxDB 3).
var errInfluxQLWrites = errors.New("this endpoint runs only SELECT and SHOW: send statements that change data or schema to POST /query")

// MeasurementColumn is the column naming each row's measurement in an
// InfluxQL answer as a table, as InfluxDB 3 names it.
const MeasurementColumn = "iox::measurement"

// RunInfluxQL runs the InfluxQL statements of text (reads only: SELECT
// and SHOW) on db within the server's query limits and answers them as
// one table, as InfluxDB 3 does: a first column iox::measurement with
// each row's series name, time, the tags of every series, then the
// other columns in their order of appearance. params are the values of
// text's $name parameters, a JSON object (empty: none). It is what
// /api/v3/query_influxql and the Flight SQL listener share. Its errors
// are *QueryError.
func (s *Server) RunInfluxQL(ctx context.Context, db, text string, params json.RawMessage, now time.Time) (*query.Result, error) {
	req := influxql.Request{Query: text, Database: db, Epoch: influxql.Epoch{Unit: time.Nanosecond},
		Now: now, MaxRows: s.cfg.QueryMaxRows, Timeout: s.cfg.QueryTimeout, MaxMemoryBytes: s.cfg.QueryMaxMemory,
		Plans: s.plans,
		Allow: func(p influxql.Privilege) error {
			if p != influxql.PrivRead {
				return errInfluxQLWrites
			}
			return nil
		}}
	if hasParams(params) {
		var err error
		if req.Params, err = influxql.ParseParams(string(params)); err != nil {
			return nil, &QueryError{fasthttp.StatusBadRequest, "bad-params", "22023", err}
		}
	}
	return s.influxQLTable(ctx, req, false)
}

// influxQLTable runs req (reads only, as its Allow says) and lays its
// answer out as one table (RunInfluxQL), from rollups unless raw. Its
// errors are *QueryError.
func (s *Server) influxQLTable(ctx context.Context, req influxql.Request, raw bool) (*query.Result, error) {
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	resp, err := influxql.Execute(qctx, influxBackend{s: s, raw: raw}, req)
	var authErr *influxql.AuthError
	switch {
	case errors.As(err, &authErr) && errors.Is(authErr.Err, errInfluxQLWrites):
		return nil, &QueryError{fasthttp.StatusBadRequest, "read-only-endpoint", "25006", authErr.Err}
	case errors.As(err, &authErr) && errors.Is(authErr.Err, errInfluxQLFileReads): // influx_export.go
		return nil, &QueryError{fasthttp.StatusBadRequest, "read-only-format", "25006", authErr.Err}
	case errors.As(err, &authErr):
		return nil, &QueryError{fasthttp.StatusForbidden, "insufficient-scope", "42501", authErr}
	case err != nil:
		return nil, &QueryError{fasthttp.StatusBadRequest, "influxql-syntax", "42601", err}
	case resp.Error != "":
		return nil, &QueryError{fasthttp.StatusBadRequest, "query-failed", "XX000", errors.New(resp.Error)}
	}
	for _, r := range resp.Results {
		// The first failed statement is the request's error; those after
		// it were not executed.
		if err := r.Err(); err != nil {
			return nil, s.influxStatementError(ctx, err)
		}
	}
	res, err := influxTable(resp)
	if err == nil {
		// Held while the caller sends it, as a SQL answer is.
		err = exec.HoldRows(ctx, res)
	}
	if err != nil {
		return nil, s.influxStatementError(ctx, err)
	}
	return res, nil
}

// influxTable lays the series of resp out as one table (RunInfluxQL).
// The table is a second copy of the answer's rows, alive with the first
// while it is built: it is charged to the request's memory account, and
// an answer too big to copy fails with the memory-limit error.
func influxTable(resp *influxql.Response) (*query.Result, error) {
	var tagKeys []string
	seenTag := map[string]bool{}
	var cols []string
	colIdx := map[string]int{}
	hasTime := false
	for _, r := range resp.Results {
		for _, sr := range r.Series {
			for k := range sr.Tags {
				if !seenTag[k] {
					seenTag[k] = true
					tagKeys = append(tagKeys, k)
				}
			}
			for _, c := range sr.Columns {
				if c == "time" {
					hasTime = true
					continue
				}
				if _, ok := colIdx[c]; !ok && !seenTag[c] {
					colIdx[c] = len(cols)
					cols = append(cols, c)
				}
			}
		}
	}
	sort.Strings(tagKeys)
	// A column named like a tag of another series is the tag's.
	kept := cols[:0]
	for _, c := range cols {
		if !seenTag[c] {
			kept = append(kept, c)
		}
	}
	cols = kept
	out := &query.Result{}
	out.Columns = append(out.Columns, query.Column{Name: MeasurementColumn, Type: query.TypeString})
	if hasTime {
		out.Columns = append(out.Columns, query.Column{Name: "time", Type: query.TypeTimestamp})
	}
	tagAt := len(out.Columns)
	for _, k := range tagKeys {
		out.Columns = append(out.Columns, query.Column{Name: k, Type: query.TypeString})
	}
	valAt := len(out.Columns)
	pos := map[string]int{}
	for i, c := range cols {
		pos[c] = valAt + i
		out.Columns = append(out.Columns, query.Column{Name: c, Type: ""})
	}
	for i, k := range tagKeys {
		pos[k] = tagAt + i
	}
	nrows := 0
	for _, r := range resp.Results {
		for _, sr := range r.Series {
			nrows += len(sr.Values)
		}
	}
	if err := resp.Charge(int64(nrows)*tableRowBytes(len(out.Columns), len(tagKeys), hasTime),
		fmt.Sprintf("%d rows laid out as one table", nrows)); err != nil {
		return nil, err
	}
	if nrows > 0 {
		out.Rows = make([][]any, 0, nrows)
	}
	for _, r := range resp.Results {
		for _, sr := range r.Series {
			src := make([]int, len(sr.Columns)) // result column of each series column
			for j, c := range sr.Columns {
				if c == "time" {
					src[j] = 1
				} else {
					src[j] = pos[c]
				}
			}
			for _, vals := range sr.Values {
				row := make([]any, len(out.Columns))
				row[0] = sr.Name
				for k, v := range sr.Tags {
					row[pos[k]] = v
				}
				for j, v := range vals {
					if j >= len(src) {
						break
					}
					if sr.Columns[j] == "time" {
						if ns, ok := v.(int64); ok {
							v = time.Unix(0, ns).UTC()
						}
					}
					row[src[j]] = v
				}
				out.Rows = append(out.Rows, row)
			}
		}
	}
	// Each value column's type is its values': one kind, or float where
	// integers and floats mix, else text.
	for i := valAt; i < len(out.Columns); i++ {
		typ := ""
		for _, row := range out.Rows {
			t := valueType(row[i])
			switch {
			case t == "" || t == typ:
			case typ == "":
				typ = t
			case (typ == query.TypeInteger || typ == query.TypeUnsigned || typ == query.TypeFloat) &&
				(t == query.TypeInteger || t == query.TypeUnsigned || t == query.TypeFloat):
				typ = query.TypeFloat
			default:
				typ = query.TypeString
			}
		}
		if typ == "" {
			typ = query.TypeString
		}
		out.Columns[i].Type = typ
		for _, row := range out.Rows {
			row[i] = convertValue(row[i], typ)
		}
	}
	out.Stats.Rows = len(out.Rows)
	return out, nil
}

// tableRowBytes estimates what one row of influxTable's copy takes: its
// place in the rows (a slice header), an interface per cell, and the
// values boxed anew for it: the measurement's name and each tag (string
// headers, 16 bytes) and the time (a time.Time, 24). The field values
// are the answer's own boxes, shared.
func tableRowBytes(cols, tags int, hasTime bool) int64 {
	n := int64(24 + 16*cols + 16 + 16*tags)
	if hasTime {
		n += 24
	}
	return n
}

func valueType(v any) string {
	switch v.(type) {
	case nil:
		return ""
	case float64:
		return query.TypeFloat
	case int64:
		return query.TypeInteger
	case uint64:
		return query.TypeUnsigned
	case bool:
		return query.TypeBoolean
	case time.Time:
		return query.TypeTimestamp
	}
	return query.TypeString
}

// convertValue makes v a value of column type typ.
func convertValue(v any, typ string) any {
	if v == nil || valueType(v) == typ {
		return v
	}
	switch typ {
	case query.TypeFloat:
		switch x := v.(type) {
		case int64:
			return float64(x)
		case uint64:
			return float64(x)
		}
	case query.TypeString:
		return query.FormatValue(v)
	}
	return v
}

// writeQueryError answers a failed query: its QueryError's status and
// code (400 query-failed for any other error), with Retry-After when cold
// data is unavailable for now.
func (s *Server) writeQueryError(ctx *fasthttp.RequestCtx, err error) {
	var qe *QueryError
	if !errors.As(err, &qe) {
		qe = &QueryError{Status: fasthttp.StatusBadRequest, Code: "query-failed", Err: err}
	}
	if qe.Code == "cold-unavailable" {
		ctx.Response.Header.Set("Retry-After", "30")
	}
	s.writeError(ctx, qe.Status, qe.Code, err.Error())
}
