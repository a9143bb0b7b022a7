package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/klauspost/compress/gzip"
	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/engine/wal"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/ingest/ndjson"
	"github.com/siltdb/silt/ingest/sink"
)

type bodyFormat int

const (
	formatLineProtocol bodyFormat = iota
	formatNDJSON
)

// maxReportedErrors bounds the per-line errors listed in a response.
const maxReportedErrors = 10

// WriteResponse is the JSON body of a write that rejected some lines (400).
// Error, Code and Line describe the first bad line; Written rows were stored.
type WriteResponse struct {
	Error    string               `json:"error"`
	Code     string               `json:"code"`
	Line     int                  `json:"line"`
	Written  int                  `json:"written"`
	Rejected int                  `json:"rejected"`
	Errors   []columnar.LineError `json:"errors,omitempty"`
	// RequestID is the request's X-Request-Id, for finding it in the log.
	RequestID string `json:"request_id,omitempty"`
}

type writeScratch struct {
	batch columnar.Batch
	errs  []columnar.LineError
	gz    bytes.Buffer
}

var scratchPool = sync.Pool{New: func() any { return new(writeScratch) }}

// putScratch returns sc to the pool unless one large body grew it past
// scratchKeepBytes: a pooled scratch stays in use under steady traffic, so
// a single 50 MB write would otherwise hold its decoded rows (about three
// times the body) for as long as the server runs.
func putScratch(sc *writeScratch) {
	b := &sc.batch
	held := cap(b.Buf) + cap(b.Rows)*int(unsafe.Sizeof(columnar.Row{})) +
		cap(b.Tags)*int(unsafe.Sizeof(columnar.Tag{})) + cap(b.Fields)*int(unsafe.Sizeof(columnar.Field{})) + sc.gz.Cap()
	if held > scratchKeepBytes {
		return
	}
	scratchPool.Put(sc)
}

// scratchKeepBytes: large enough for the batches Telegraf and the stream
// sources send (a 5000-line body decodes to about 1 MiB), small next to
// --max-head-bytes.
const scratchKeepBytes = 8 << 20

func (s *Server) handleWrite(ctx *fasthttp.RequestCtx, format bodyFormat, db string) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use POST to write")
		return
	}
	if db == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "the db parameter (bucket for /api/v2/write) is required")
		return
	}
	// The engine checks names too; checking here refuses a bad one before
	// the body is decoded.
	if err := sink.ValidateName("database", db); err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-db-name", err.Error())
		return
	}
	args := ctx.QueryArgs()
	if t := args.Peek("table"); format == formatNDJSON && len(t) > 0 {
		if err := sink.ValidateName("table", string(t)); err != nil {
			s.writeError(ctx, fasthttp.StatusBadRequest, "bad-table-name", err.Error())
			return
		}
	}
	prec, err := columnar.ParsePrecision(string(args.Peek("precision")))
	if err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-precision", err.Error())
		return
	}
	sc, body, ok := s.writeBody(ctx)
	if !ok {
		return
	}
	defer putScratch(sc)
	onErr := func(e columnar.LineError) { sc.errs = append(sc.errs, e) }
	now := time.Now().UnixNano()
	switch format {
	case formatLineProtocol:
		lineprotocol.Decode(body, &sc.batch, lineprotocol.Options{Precision: prec, Now: now, MaxLineBytes: s.maxLine}, onErr)
	case formatNDJSON:
		opt := ndjson.Options{Table: string(args.Peek("table")), Precision: prec, Now: now, MaxLineBytes: s.maxLine}
		if tags := string(args.Peek("tags")); tags != "" {
			opt.TagKeys = strings.Split(tags, ",")
		}
		ndjson.Decode(body, &sc.batch, opt, onErr)
	}
	s.writeDecoded(ctx, db, sc)
}

// writeBody reads a write request's body (requestBody) into a pooled
// scratch, reset for decoding, and counts its bytes. On failure it has
// answered and returns ok false; else the caller puts sc back
// (putScratch) when done with body, which may live in sc.
func (s *Server) writeBody(ctx *fasthttp.RequestCtx) (sc *writeScratch, body []byte, ok bool) {
	sc = scratchPool.Get().(*writeScratch)
	sc.batch.Reset()
	sc.errs = sc.errs[:0]
	body, status, code, err := s.requestBody(ctx, sc)
	if err != nil {
		putScratch(sc)
		s.writeError(ctx, status, code, err.Error())
		return nil, nil, false
	}
	s.eng.Metrics().BytesIngested.Add(float64(len(body)))
	return sc, body, true
}

// writeDecoded writes the rows decoded into sc.batch to db, durably, and
// answers: 204 when every line was stored, else 400 naming the first
// rejected line, with the lines the decoder refused (sc.errs) and those
// the engine refused counted and listed in line order. The rows that
// were accepted are written either way.
func (s *Server) writeDecoded(ctx *fasthttp.RequestCtx, db string, sc *writeScratch) {
	for _, e := range sc.errs {
		s.eng.Metrics().RowsRejected.WithLabelValues(e.Code).Inc()
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
	// Decoder and schema errors arrive in two lists; report in line order.
	sortLineErrors(rejected)
	first := rejected[0]
	resp := WriteResponse{
		Error:    fmt.Sprintf("line %d: %s", first.Line, first.Reason),
		Code:     first.Code,
		Line:     first.Line,
		Written:  res.Written,
		Rejected: len(rejected),
		Errors:   rejected[:min(len(rejected), maxReportedErrors)],
	}
	resp.RequestID = string(s.requestID(ctx))
	s.writeJSON(ctx, fasthttp.StatusBadRequest, resp)
}

func sortLineErrors(e []columnar.LineError) {
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && e[j].Line < e[j-1].Line; j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
}

// requestBody returns the request body, gunzipped when the client says so,
// bounded by MaxBodyBytes after decompression (a small gzip body must not
// expand without limit).
func (s *Server) requestBody(ctx *fasthttp.RequestCtx, sc *writeScratch) ([]byte, int, string, error) {
	body := ctx.PostBody()
	switch enc := ctx.Request.Header.ContentEncoding(); {
	case len(enc) == 0, bytes.EqualFold(enc, []byte("identity")):
		return body, 0, "", nil
	case !bytes.EqualFold(enc, []byte("gzip")):
		// Read as plain text, a compressed body would be rejected line
		// by line, or worse, partly stored.
		return nil, fasthttp.StatusUnsupportedMediaType, "unsupported-encoding",
			fmt.Errorf("Content-Encoding %q is not supported: send gzip or an uncompressed body", truncate(enc, 32))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fasthttp.StatusBadRequest, "bad-gzip", fmt.Errorf("gzip body: %w", err)
	}
	sc.gz.Reset()
	limit := int64(s.cfg.MaxBodyBytes)
	n, err := io.Copy(&sc.gz, io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fasthttp.StatusBadRequest, "bad-gzip", fmt.Errorf("gzip body: %w", err)
	}
	if n > limit {
		return nil, fasthttp.StatusRequestEntityTooLarge, "body-too-large",
			fmt.Errorf("decompressed body exceeds %d bytes (--max-body-bytes); split the write", limit)
	}
	return sc.gz.Bytes(), 0, "", nil
}

// truncate bounds a request value quoted in an error.
func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

func (s *Server) writeEngineError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, engine.ErrCompactionBehind):
		ctx.Response.Header.Set("Retry-After", "1")
		s.writeError(ctx, fasthttp.StatusTooManyRequests, "compaction-behind", err.Error())
	case errors.Is(err, sink.ErrBackpressure):
		ctx.Response.Header.Set("Retry-After", "1")
		s.writeError(ctx, fasthttp.StatusTooManyRequests, "head-full", err.Error())
	case errors.Is(err, engine.ErrNotReady):
		ctx.Response.Header.Set("Retry-After", "1")
		s.writeError(ctx, fasthttp.StatusServiceUnavailable, "not-ready", err.Error())
	case sink.IsDiskFull(err):
		s.writeError(ctx, fasthttp.StatusInsufficientStorage, "disk-full",
			"nothing from this request was written: "+err.Error()+"; free space in the data directory")
	case errors.Is(err, wal.ErrBroken):
		s.writeError(ctx, fasthttp.StatusServiceUnavailable, "wal-failed",
			"the WAL could not be made durable; nothing from this request is acknowledged; restart silt: "+err.Error())
	case errors.Is(err, engine.ErrClosed):
		s.writeError(ctx, fasthttp.StatusServiceUnavailable, "shutting-down", err.Error())
	case errors.Is(err, sink.ErrBadName):
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-db-name", err.Error())
	case errors.Is(err, engine.ErrReadOnly):
		s.writeError(ctx, fasthttp.StatusForbidden, "read-only", err.Error())
	default:
		s.log.Error("write failed", "err", err)
		s.writeError(ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
	}
}
