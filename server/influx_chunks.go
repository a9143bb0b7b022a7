package server

import (
	"bufio"
	"context"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/query/influxql"
)

// writeInfluxChunks answers chunked=true as InfluxDB 1.x does: one JSON
// document per chunk (see influxql.Chunks), each flushed as it is
// written. The statements run while the answer is sent, raw SELECTs a
// window of time at a time (Prepared.Chunks), so that a large answer is
// never held whole; a client that goes away ends the query at its next
// chunk. Each chunk's Flush sends it (setBodyWriterTo: written by
// fasthttp's WriteTo, an HTTP chunk per flush or per 64 KiB, on the
// connection's goroutine).
func (s *Server) writeInfluxChunks(ctx *fasthttp.RequestCtx, prep *influxql.Prepared, b influxBackend, size int) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Influxdb-Version", "1.8.10-silt-"+Version)
	ctx.Response.Header.Set("X-Influxdb-Build", "OSS")
	s.setBodyWriterTo(ctx, func(w *bufio.Writer) { // stream_writeto.go
		qctx, cancel := context.WithTimeout(context.Background(), s.cfg.QueryTimeout)
		defer cancel()
		enc := json.NewEncoder(w)
		err := prep.Chunks(qctx, b, size, func(chunk *influxql.Response) error {
			if err := enc.Encode(chunk); err != nil {
				return err
			}
			return w.Flush()
		})
		if err != nil {
			// Only a chunk that could not be sent ends the answer early
			// (statements' errors are in their results): the client left.
			s.metrics.queriesCanceled.WithLabelValues("client-gone").Inc()
			s.log.Debug("send chunked /query response", "err", err)
		}
	})
}

// TimeBounds gives the InfluxQL executor the engine's bounds on a
// table's times, from metadata: a chunked answer reads its points a
// window of time at a time between them.
func (b influxBackend) TimeBounds(db, table string) (lo, hi int64, ok bool) {
	return b.s.eng.TimeBounds(db, table)
}
