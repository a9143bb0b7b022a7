package server

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/query"
)

// The answer formats of the InfluxDB 3 query API, written from a result.

// writeV3JSON writes res as InfluxDB 3 does: json is one array of
// objects, jsonl one object a line. NULLs are left out of their row's
// object, as InfluxDB 3 leaves them out.
func writeV3JSON(w io.Writer, res *query.Result, lines bool) error {
	bw := bufio.NewWriter(w)
	keys := v3Keys(res.Columns)
	if !lines {
		bw.WriteByte('[')
	}
	var buf []byte
	for n, row := range res.Rows {
		buf = buf[:0]
		if n > 0 && !lines {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		first := true
		for i, v := range row {
			if v == nil {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, keys[i]...)
			buf = appendV3Value(buf, v)
		}
		buf = append(buf, '}')
		if lines {
			buf = append(buf, '\n')
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	if !lines {
		bw.WriteString("]\n")
	}
	return bw.Flush()
}

// v3Keys are the columns' names as the keys of writeV3JSON's objects:
// JSON strings, each with its colon. (query.Table.WriteJSONObjects
// writes a typed answer the same way.)
func v3Keys(cols []query.Column) [][]byte {
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		k, _ := json.Marshal(c.Name)
		keys[i] = append(k, ':')
	}
	return keys
}

// appendV3Value appends v as JSON: timestamps as RFC 3339 strings in UTC,
// NaN and infinities (which JSON lacks) as null.
func appendV3Value(dst []byte, v any) []byte {
	switch x := v.(type) {
	case time.Time:
		return strconv.AppendQuote(dst, x.UTC().Format(time.RFC3339Nano))
	case string:
		b, _ := json.Marshal(x)
		return append(dst, b...)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case bool:
		return strconv.AppendBool(dst, x)
	}
	b, _ := json.Marshal(query.FormatValue(v))
	return append(dst, b...)
}

// writeV3Pretty writes res as a text table framed with +, - and |, as
// InfluxDB 3's pretty format (and its CLI) shows answers.
func writeV3Pretty(w io.Writer, res *query.Result) error {
	widths := make([]int, len(res.Columns))
	for i, c := range res.Columns {
		widths[i] = utf8.RuneCountInString(c.Name)
	}
	for _, row := range res.Rows {
		for i, v := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(query.FormatValue(v)))
		}
	}
	bw := bufio.NewWriter(w)
	rule := func() {
		bw.WriteByte('+')
		for _, n := range widths {
			bw.WriteString(strings.Repeat("-", n+2))
			bw.WriteByte('+')
		}
		bw.WriteByte('\n')
	}
	line := func(cells func(i int) string) {
		bw.WriteByte('|')
		for i, n := range widths {
			c := cells(i)
			bw.WriteByte(' ')
			bw.WriteString(c)
			bw.WriteString(strings.Repeat(" ", n-utf8.RuneCountInString(c)+1))
			bw.WriteByte('|')
		}
		bw.WriteByte('\n')
	}
	rule()
	line(func(i int) string { return res.Columns[i].Name })
	rule()
	for _, row := range res.Rows {
		line(func(i int) string { return query.FormatValue(row[i]) })
	}
	if len(res.Rows) > 0 {
		rule()
	}
	return bw.Flush()
}

// writeV3Parquet writes res as one Parquet file, as /api/v1/sql's Parquet
// format does (writeResultParquet): time is Arrow's Timestamp(ns)
// without a zone, as InfluxDB 3 types it, which Parquet readers keep to
// the nanosecond.
func writeV3Parquet(w io.Writer, res *query.Result) error {
	return writeResultParquet(w, res)
}

// handleConfigureDatabase serves /api/v3/configure/database: GET lists
// the databases (format as the query endpoints; one column,
// iox::database), POST {"db": "name"} creates one (409 when it exists),
// DELETE ?db=name drops one with its data (404 when it does not exist),
// as InfluxDB 3 does.
func (s *Server) handleConfigureDatabase(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	switch {
	case ctx.IsGet():
		format, ok := v3Format(string(args.Peek("format")), ctx.Request.Header.Peek("Accept"))
		if !ok {
			s.writeError(ctx, fasthttp.StatusBadRequest, "bad-format", "format must be json, jsonl, csv, parquet or pretty")
			return
		}
		res := &query.Result{Columns: []query.Column{{Name: "iox::database", Type: query.TypeString}}}
		for _, db := range s.eng.Databases() {
			res.Rows = append(res.Rows, []any{db})
		}
		ctx.SetContentType(v3Formats[format])
		var err error
		switch format {
		case "jsonl":
			err = writeV3JSON(ctx, res, true)
		case "csv":
			err = res.WriteCSV(ctx)
		case "parquet":
			err = writeV3Parquet(ctx, res)
		case "pretty":
			err = writeV3Pretty(ctx, res)
		default:
			err = writeV3JSON(ctx, res, false)
		}
		if err != nil {
			s.log.Error("write database list", "err", err)
		}
	case ctx.IsPost():
		var req struct {
			DB string `json:"db"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
			s.writeError(ctx, fasthttp.StatusBadRequest, "bad-json", `request body: `+err.Error()+`: want {"db": "name"}`)
			return
		}
		if req.DB == "" {
			s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", `the database name is required: {"db": "name"}`)
			return
		}
		if _, ok := s.eng.Tables(req.DB); ok {
			s.writeError(ctx, fasthttp.StatusConflict, "db-exists", "database "+req.DB+" already exists")
			return
		}
		if err := s.eng.CreateDatabase(req.DB); err != nil {
			s.databaseError(ctx, err)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusOK)
	case ctx.IsDelete():
		db := string(args.Peek("db"))
		if db == "" {
			s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "the db parameter is required: the database to delete")
			return
		}
		if _, ok := s.eng.Tables(db); !ok {
			s.writeError(ctx, fasthttp.StatusNotFound, "db-not-found", "database "+db+" does not exist")
			return
		}
		if err := s.eng.DropDatabase(db); err != nil {
			s.databaseError(ctx, err)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusOK)
	default:
		ctx.Response.Header.Set("Allow", "GET, POST, DELETE")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed",
			"use GET to list databases, POST to create one or DELETE to drop one")
	}
}
