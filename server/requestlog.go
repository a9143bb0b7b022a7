package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// RequestIDHeader carries a request's id: taken from the request when a
// proxy or client sent a usable one, else made here, and always in the
// answer (and in error bodies as "request_id"), so a user's report of an
// error can be found in the access log.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an id taken from a request: longer ones are
// replaced, so a client cannot make every log line of its requests huge.
const maxRequestIDLen = 128

// requestIDs makes ids unique in a process and across restarts: a random
// prefix chosen at start and a counter, cheaper than random bytes per
// request and just as unique for finding a request in the log.
type requestIDs struct {
	prefix []byte // 16 hex digits and '-'
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; a clock is unique enough
		// for a log correlation id.
		copy(b[:], strconv.AppendInt(nil, time.Now().UnixNano(), 36))
	}
	p := make([]byte, 0, 17)
	p = hex.AppendEncode(p, b[:])
	return &requestIDs{prefix: append(p, '-')}
}

// validRequestID accepts the ids proxies and tracing libraries send
// (UUIDs, hex, base64, dotted): printable ASCII without spaces or quotes, so
// it is safe in a header, a JSON body and a text log line as it is.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// requestID returns the request's id, setting it on the answer first if
// it is not there yet (the request's own, or a new one).
func (s *Server) requestID(ctx *fasthttp.RequestCtx) []byte {
	if id := ctx.Response.Header.Peek(RequestIDHeader); len(id) > 0 {
		return id
	}
	if id := ctx.Request.Header.Peek(RequestIDHeader); validRequestID(id) {
		ctx.Response.Header.SetBytesV(RequestIDHeader, id)
	} else {
		var buf [40]byte
		b := append(buf[:0], s.ids.prefix...)
		b = strconv.AppendUint(b, s.ids.n.Add(1), 36)
		ctx.Response.Header.SetBytesV(RequestIDHeader, b)
	}
	return ctx.Response.Header.Peek(RequestIDHeader)
}

// withRequestLog gives every request an id and, with --access-log, logs
// one line per request once its answer is sent: method, path (never the
// query string, which may hold a token as p=), status, bytes, duration,
// client address, database and request id. Bodies and headers are never
// logged.
func (s *Server) withRequestLog(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		s.requestID(ctx)
		next(ctx)
		if !s.cfg.AccessLog {
			return
		}
		if ctx.Response.IsBodyStream() {
			if ctx.UserValue(streamCountedKey) == nil {
				// Set by a handler that did not go through
				// setBodyStreamWriter: its size is not known here.
				s.log.LogAttrs(context.Background(), slog.LevelInfo, "request", s.accessAttrs(ctx, -1)...)
			}
			return
		}
		s.logAccess(ctx, int64(len(ctx.Response.Body())))
	}
}

func (s *Server) logAccess(ctx *fasthttp.RequestCtx, bytes int64) {
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "request", s.accessAttrs(ctx, bytes)...)
}

// accessAttrs are the fields of an access log line; bytes is the body's
// size, -1 when unknown.
func (s *Server) accessAttrs(ctx *fasthttp.RequestCtx, bytes int64) []slog.Attr {
	db := ctx.QueryArgs().Peek("db")
	if len(db) == 0 {
		db = ctx.QueryArgs().Peek("bucket")
	}
	return []slog.Attr{
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.Int("status", ctx.Response.StatusCode()),
		slog.Int64("bytes", bytes),
		slog.Float64("duration_ms", float64(time.Since(ctx.Time()).Microseconds())/1000),
		slog.String("client", ctx.RemoteIP().String()),
		slog.String("db", string(db)),
		slog.String("request_id", string(ctx.Response.Header.Peek(RequestIDHeader))),
	}
}

// streamCountedKey marks a request whose streamed answer logs its own
// access line (setBodyStreamWriter).
const streamCountedKey = "silt.access-log-stream"

// setBodyStreamWriter is ctx.SetBodyStreamWriter for the handlers that
// stream large answers (PromQL's; export, remote read and the SQL and
// InfluxQL results use setBodyWriterTo, which shares setBodyStream): what
// the request holds of the server's budget it holds until sw returns. With
// --access-log it counts what sw writes and logs the request's line when
// sw is done, with the bytes sent and the time to send them: the
// middleware cannot, the answer being written after the handler returns.
func (s *Server) setBodyStreamWriter(ctx *fasthttp.RequestCtx, sw fasthttp.StreamWriter) {
	s.setBodyStream(ctx, sw, ctx.SetBodyStreamWriter)
}

// setBodyStream is setBodyStreamWriter, the answer set on ctx by set:
// ctx.SetBodyStreamWriter, or setBodyWriterTo (stream_writeto.go).
func (s *Server) setBodyStream(ctx *fasthttp.RequestCtx, sw fasthttp.StreamWriter, set func(fasthttp.StreamWriter)) {
	// A query's duration runs to its answer's last byte (query_metrics.go).
	sw = s.timeQueryStream(ctx, sw)
	if s.budget.on() {
		// The request keeps its client slot and body bytes while its
		// answer is sent, after the handler returns (budget.go).
		release := s.budget.detach(&ctx.Request.Header)
		send := sw
		sw = func(w *bufio.Writer) {
			defer release()
			send(w)
		}
	}
	if !s.cfg.AccessLog {
		set(sw)
		return
	}
	ctx.SetUserValue(streamCountedKey, true)
	set(func(w *bufio.Writer) {
		c := &countingWriter{w: w}
		bw := bufio.NewWriterSize(c, w.Size())
		sw(bw)
		_ = bw.Flush() // an error is the client's going: counted as sent so far
		// ctx stays valid while its answer is written, which waits for
		// this function; the request's fields are only read.
		s.logAccess(ctx, c.n)
	})
}

// countingWriter counts the bytes a streamed answer wrote and passes each
// write on at once, so a handler's Flush still reaches the client.
type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil {
		err = c.w.Flush()
	}
	return n, err
}
