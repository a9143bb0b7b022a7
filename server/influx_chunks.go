package server

import (
	"bufio"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/query/influxql"
)

// writeInfluxChunks answers chunked=true as InfluxDB 1.x does: one JSON
// document per chunk (see influxql.Chunks), each flushed as it is written
// so that a client reads the first chunks before the last are encoded.
func (s *Server) writeInfluxChunks(ctx *fasthttp.RequestCtx, resp *influxql.Response, size int) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Influxdb-Version", "1.8.10-silt-"+Version)
	ctx.Response.Header.Set("X-Influxdb-Build", "OSS")
	s.setBodyStreamWriter(ctx, func(w *bufio.Writer) { // requestlog.go
		enc := json.NewEncoder(w)
		err := influxql.Chunks(resp, size, func(chunk *influxql.Response) error {
			if err := enc.Encode(chunk); err != nil {
				return err
			}
			return w.Flush()
		})
		if err != nil {
			s.log.Warn("send chunked /query response", "err", err)
		}
	})
}
