package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/influxql"
)

// InfluxQL answers as files: POST /query with format=arrow or
// format=parquet (the console's Export Arrow and Export Parquet of an
// InfluxQL query). The answer is one table, laid out as
// /api/v3/query_influxql and Flight SQL lay it out (RunInfluxQL): the
// series' name as iox::measurement, time, the tags of every series,
// then the other columns, each typed by its values; written as SQL's
// answers are in the same formats (an Arrow IPC stream, a Parquet
// file).

// influxFileFormats are /query's format values that answer a file.
var influxFileFormats = map[string]bool{"arrow": true, "parquet": true}

// errInfluxQLFileReads refuses, in a file format, a statement that
// changes data: only SELECT and SHOW answer a table.
var errInfluxQLFileReads = errors.New("format=arrow and format=parquet answer SELECT and SHOW only: send statements that change data or schema without format")

// writeInfluxFile answers req, which handleQuery parsed and authorizes
// with req.Allow, as one table in format (arrow or parquet), from
// rollups unless raw. A statement's error is the request's (its status
// and {"error", "code"}): a file has no place for it.
func (s *Server) writeInfluxFile(ctx *fasthttp.RequestCtx, req influxql.Request, raw bool, format string) {
	req.Epoch = influxql.Epoch{Unit: time.Nanosecond} // times become a timestamp column, whatever epoch says
	req.TypedValues = false
	allow := req.Allow
	req.Allow = func(p influxql.Privilege) error {
		if p != influxql.PrivRead {
			return errInfluxQLFileReads
		}
		return allow(p)
	}
	qctx, cancel := s.queryContext(ctx)
	defer cancel()
	// The table's rows stay charged to --query-max-memory-total until
	// they are sent, as a SQL answer's.
	hold := s.queryMem.Reserve()
	sent := hold.Release
	defer func() { sent() }()
	res, err := s.influxQLTable(exec.HoldAnswer(qctx, hold), req, raw)
	if errors.Is(context.Cause(qctx), errClientGone) {
		return // nobody is listening
	}
	if err != nil {
		s.writeQueryError(ctx, err)
		return
	}
	var encode func(w io.Writer) error
	if format == "arrow" {
		ctx.SetContentType(arrowContentType)
		encode = res.WriteArrow
	} else {
		ctx.SetContentType(parquetContentType)
		ctx.Response.Header.Set("Content-Disposition", `attachment; filename="silt-query.parquet"`)
		encode = func(w io.Writer) error { return writeResultParquet(w, res) }
	}
	if len(res.Rows) < streamRows {
		if err := encode(ctx); err != nil {
			s.log.Error("write influxql result", "format", format, "err", err)
		}
		return
	}
	sent = func() {} // the stream writer releases it once written

	// Written by fasthttp's WriteTo in 64 KiB chunks, as /query's JSON.
	s.setBodyWriterTo(ctx, func(w *bufio.Writer) { // stream_writeto.go
		defer hold.Release()
		if err := encode(w); err != nil {
			s.log.Warn("send influxql result", "format", format, "err", err)
		}
	})
}

// arrowContentType is the media type of an Arrow IPC stream.
const arrowContentType = "application/vnd.apache.arrow.stream"
