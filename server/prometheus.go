package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/promremote"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/query/prom"
)

// DefaultPrometheusDB is the database Prometheus' remote write and query
// API use when the request names none (?db=).
const DefaultPrometheusDB = "prometheus"

// promState is what the Prometheus endpoints share.
type promState struct {
	api  *prom.API
	meta prom.MetadataStore

	samples    prometheus.Counter
	stale      prometheus.Counter
	exemplars  prometheus.Counter
	histograms prometheus.Counter
	rejected   *prometheus.CounterVec
}

func newPromState(s *Server) *promState {
	p := &promState{
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_prometheus_samples_written_total", Help: "Float samples written by Prometheus remote write."}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_prometheus_stale_markers_total", Help: "Of the written samples, stale markers."}),
		exemplars: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_prometheus_exemplars_ignored_total", Help: "Exemplars received by remote write and not stored."}),
		histograms: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_prometheus_histograms_rejected_total", Help: "Native histogram samples received by remote write and refused (not stored)."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_prometheus_samples_rejected_total", Help: "Remote-write samples refused, by code."}, []string{"code"}),
	}
	s.eng.Metrics().Registry.MustRegister(p.samples, p.stale, p.exemplars, p.histograms, p.rejected)
	p.api = &prom.API{
		// What the engine evaluates is bounded by --query-max-memory, as
		// what the Queryable loads is (prom.Queryable.MaxMemoryBytes).
		Engine: prom.NewEngine(prom.EngineMaxSamples(s.cfg.QueryMaxMemory), s.cfg.QueryTimeout),
		// ... and reserved from --query-max-memory-total while it
		// evaluates, a level at a time.
		EvalLevels: prom.NewEvalLevels(s.cfg.QueryMaxMemory, s.cfg.QueryMaxMemoryTotal, s.cfg.QueryTimeout),
		Meta:       &p.meta,
		Version:    "2.42.0-silt-" + Version,
		Timeout:    s.cfg.QueryTimeout,
	}
	return p
}

var promDecoders = sync.Pool{New: func() any { return new(promremote.Decoder) }}

// promDB is the request's database: ?db=, else DefaultPrometheusDB.
func promDB(ctx *fasthttp.RequestCtx) string {
	if db := ctx.QueryArgs().Peek("db"); len(db) > 0 {
		return string(db)
	}
	if ctx.IsPost() && isForm(ctx) {
		if db := ctx.PostArgs().Peek("db"); len(db) > 0 {
			return string(db)
		}
	}
	return DefaultPrometheusDB
}

// handlePromWrite serves POST /api/v1/write: Prometheus remote write 1.0.
// Statuses follow what Prometheus does with them: 204 when every sample is
// durable; 4xx (dropped, not retried) for a request that can never be
// stored; 429 and 5xx (retried, with backoff) when Silt cannot take it now:
// a full head, a replaying WAL, a full disk. Nothing is acknowledged before
// the WAL's fsync.
func (s *Server) handlePromWrite(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use POST to remote-write")
		return
	}
	db := promDB(ctx)
	if err := sink.ValidateName("database", db); err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-db-name", err.Error())
		return
	}
	if ct := ctx.Request.Header.ContentType(); bytes.Contains(ct, []byte("io.prometheus.write.v2")) {
		s.writeError(ctx, fasthttp.StatusUnsupportedMediaType, "prom-unsupported-protocol",
			"remote write 2.0 is not supported: set protobuf_message: prometheus.WriteRequest (remote write 1.0)")
		return
	}
	if enc := ctx.Request.Header.ContentEncoding(); len(enc) > 0 && !bytes.EqualFold(enc, []byte("snappy")) {
		s.writeError(ctx, fasthttp.StatusUnsupportedMediaType, "unsupported-encoding",
			fmt.Sprintf("Content-Encoding %q is not supported by remote write: send snappy", truncate(enc, 32)))
		return
	}
	body := ctx.PostBody()
	s.eng.Metrics().BytesIngested.Add(float64(len(body)))
	sc := scratchPool.Get().(*writeScratch)
	defer putScratch(sc)
	sc.batch.Reset()
	sc.errs = sc.errs[:0]
	dec := promDecoders.Get().(*promremote.Decoder)
	defer func() {
		if dec.Retained() <= scratchKeepBytes { // see putScratch
			promDecoders.Put(dec)
		}
	}()
	p := s.prom
	lim := s.eng.Config().Limits
	st, err := dec.Decode(body, &sc.batch, promremote.Options{
		MaxDecodedBytes: s.cfg.MaxBodyBytes,
		MaxLabelBytes:   lim.MaxLineBytes,
		MaxLabels:       lim.MaxTagsPerLine + 1,
	}, func(e columnar.LineError) { sc.errs = append(sc.errs, e) }, func(m promremote.Metadata) {
		p.meta.Put(m.Metric, prom.MetricMeta{Type: m.Type, Help: m.Help, Unit: m.Unit})
	})
	p.exemplars.Add(float64(st.Exemplars))
	switch {
	case errors.Is(err, promremote.ErrTooLarge):
		s.writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body-too-large", err.Error())
		return
	case errors.Is(err, promremote.ErrSnappy):
		s.writeError(ctx, fasthttp.StatusBadRequest, "prom-bad-snappy", err.Error())
		return
	case err != nil:
		s.writeError(ctx, fasthttp.StatusBadRequest, "prom-bad-protobuf", err.Error())
		return
	}
	var res sink.WriteResult
	if len(sc.batch.Rows) > 0 {
		res, err = s.eng.Write(db, &sc.batch)
		if err != nil {
			s.writeEngineError(ctx, err)
			return
		}
	}
	p.samples.Add(float64(res.Written))
	p.stale.Add(float64(st.StaleMarkers))
	rejected := append(sc.errs, res.Rejected...)
	for _, e := range rejected {
		p.rejected.WithLabelValues(e.Code).Inc()
	}
	if st.Histograms > 0 {
		p.histograms.Add(float64(st.Histograms))
		// 400: resending would not help, and the float samples
		// of the request are stored already.
		s.writeJSON(ctx, fasthttp.StatusBadRequest, WriteResponse{
			Error: fmt.Sprintf("native histograms are not supported: %d histogram samples were dropped; the request's %d float samples were written (scrape classic histograms: scrape_classic_histograms, or leave native histograms off)",
				st.Histograms, res.Written),
			Code: "prom-native-histogram", Written: res.Written, Rejected: st.Histograms + len(rejected),
			Errors: rejected[:min(len(rejected), maxReportedErrors)],
		})
		return
	}
	if len(rejected) == 0 {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	sortLineErrors(rejected)
	first := rejected[0]
	s.writeJSON(ctx, fasthttp.StatusBadRequest, WriteResponse{
		Error:    fmt.Sprintf("series %d of the request: %s", first.Line, first.Reason),
		Code:     first.Code,
		Line:     first.Line,
		Written:  res.Written,
		Rejected: len(rejected),
		Errors:   rejected[:min(len(rejected), maxReportedErrors)],
	})
}

// promParams reads a query API request's parameters from its URL and, for
// a form POST, its body (Grafana sends POST forms by default).
type promParams struct{ ctx *fasthttp.RequestCtx }

func (p promParams) Get(name string) string {
	if v := p.ctx.QueryArgs().Peek(name); len(v) > 0 {
		return string(v)
	}
	if p.ctx.IsPost() && isForm(p.ctx) {
		return string(p.ctx.PostArgs().Peek(name))
	}
	return ""
}

func (p promParams) List(name string) []string {
	var out []string
	for _, v := range p.ctx.QueryArgs().PeekMulti(name) {
		out = append(out, string(v))
	}
	if p.ctx.IsPost() && isForm(p.ctx) {
		for _, v := range p.ctx.PostArgs().PeekMulti(name) {
			out = append(out, string(v))
		}
	}
	return out
}

// handlePromAPI serves the query endpoints of Prometheus' HTTP API under
// /api/v1, GET and POST, with Prometheus' envelope and error types.
func (s *Server) handlePromAPI(ctx *fasthttp.RequestCtx, path string) {
	if !ctx.IsGet() && !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "GET, POST")
		s.writeJSON(ctx, fasthttp.StatusMethodNotAllowed, &prom.Response{Status: "error", ErrorType: prom.ErrBadData, Error: "use GET or POST"})
		return
	}
	api := s.prom.api
	defer func() {
		// A panic in the engine or the adapter fails the query, not the
		// server (fasthttp does not recover handlers).
		if e := recover(); e != nil {
			s.log.Error("PromQL query panicked", "path", path, "panic", e, "stack", string(debug.Stack()))
			s.writeJSON(ctx, fasthttp.StatusInternalServerError, &prom.Response{Status: "error", ErrorType: prom.ErrInternal,
				Error: fmt.Sprintf("internal error: %v", e)})
		}
	}()
	if path == "/api/v1/status/buildinfo" {
		st, r := api.BuildInfo()
		s.writeJSON(ctx, st, r)
		return
	}
	if path == "/api/v1/metadata" {
		st, r := api.Metadata(promParams{ctx})
		s.writeJSON(ctx, st, r)
		return
	}
	if !s.eng.Ready() {
		ctx.Response.Header.Set("Retry-After", "1")
		s.writeJSON(ctx, fasthttp.StatusServiceUnavailable, &prom.Response{Status: "error", ErrorType: prom.ErrUnavailable, Error: "replaying the WAL; retry shortly"})
		return
	}
	db := promDB(ctx)
	// What the query selects, evaluates and answers is reserved of
	// --query-max-memory-total in hold, its answer until it is sent.
	hold := s.queryMem.Reserve()
	sent := hold.Release
	defer func() { sent() }()
	q := &prom.Queryable{Eng: s.eng, DB: db, MaxMemoryBytes: s.cfg.QueryMaxMemory, Shared: hold}
	qctx, cancel := s.queryContext(ctx)
	defer cancel()
	p := promParams{ctx}
	var st int
	var r *prom.Response
	switch {
	case path == "/api/v1/query":
		st, r = api.Query(qctx, q, p)
	case path == "/api/v1/query_range":
		st, r = api.QueryRange(qctx, q, p)
	case path == "/api/v1/series":
		st, r = api.Series(qctx, q, p)
	case path == "/api/v1/labels":
		st, r = api.Labels(qctx, q, p)
	case strings.HasPrefix(path, "/api/v1/label/") && strings.HasSuffix(path, "/values"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/api/v1/label/"), "/values")
		st, r = api.LabelValues(qctx, q, name, p)
	default:
		st, r = prom.StatusOf(prom.ErrNotFound), &prom.Response{Status: "error", ErrorType: prom.ErrNotFound, Error: "no endpoint " + path}
	}
	if r.AnswerBytes() < promStreamBytes {
		s.writeJSON(ctx, st, r)
		r.Release()
		return
	}
	// A large answer is encoded as it is sent, a series at a time, and
	// stays reserved until its last byte is written or its client leaves.
	sent = func() {}
	ctx.SetStatusCode(st)
	ctx.SetContentType("application/json")
	s.setBodyStreamWriter(ctx, func(w *bufio.Writer) { // requestlog.go
		defer hold.Release()
		defer r.Release()
		if err := r.WriteJSON(w); err != nil {
			s.log.Warn("send PromQL answer", "err", err)
		}
	})
}

// promStreamBytes is the size of a PromQL answer, as charged, from which
// it is sent as it is encoded: a smaller one is buffered whole, its
// reservation given back when its handler returns.
const promStreamBytes = 256 << 10

// handlePromRead serves POST /api/v1/read: Prometheus remote read, with
// the samples response type.
func (s *Server) handlePromRead(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use POST to remote-read")
		return
	}
	if !s.requireReady(ctx) {
		return
	}
	body := ctx.PostBody()
	n, err := snappy.DecodedLen(body)
	if err != nil || n > s.cfg.MaxBodyBytes {
		s.writeError(ctx, fasthttp.StatusBadRequest, "prom-bad-snappy", "the body is not a snappy-compressed ReadRequest of at most --max-body-bytes")
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "prom-bad-snappy", "the body is not valid snappy data: "+err.Error())
		return
	}
	var req prompb.ReadRequest
	if err := req.Unmarshal(raw); err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "prom-bad-protobuf", "the body is not a remote-read ReadRequest: "+err.Error())
		return
	}
	// The first type the client lists that Silt speaks, as Prometheus
	// itself chooses (no list means samples).
	rt, ok := promResponseType(req.AcceptedResponseTypes) // prom_read_stream.go
	if !ok {
		s.writeError(ctx, fasthttp.StatusBadRequest, "prom-unsupported-response-type",
			"remote read answers with samples or streamed XOR chunks; the request accepts neither")
		return
	}
	q := &prom.Queryable{Eng: s.eng, DB: promDB(ctx), MaxMemoryBytes: s.cfg.QueryMaxMemory, Shared: s.queryMem.Reserve()}
	if rt == prompb.ReadRequest_STREAMED_XOR_CHUNKS {
		s.streamPromRead(ctx, q, req.Queries) // prom_read_stream.go; releases q.Shared
		return
	}
	defer q.Shared.Release() // the answer is encoded by then
	qctx, cancel := s.queryContext(ctx)
	defer cancel()
	resp := prompb.ReadResponse{Results: make([]*prompb.QueryResult, len(req.Queries))}
	for i, rq := range req.Queries {
		res, err := readQuery(qctx, q, rq)
		if errors.Is(err, prom.ErrMemoryLimit) {
			s.writeError(ctx, fasthttp.StatusUnprocessableEntity, prom.CodeMemoryLimit, fmt.Sprintf("query %d: %v", i, err))
			return
		}
		if err != nil {
			s.writeError(ctx, fasthttp.StatusBadRequest, "prom-read-failed", fmt.Sprintf("query %d: %v", i, err))
			return
		}
		resp.Results[i] = res
	}
	// The answer is encoded whole, then compressed: both copies count.
	size := resp.Size()
	if err := q.Charge(int64(size+snappy.MaxEncodedLen(size)), "the encoded answer"); err != nil {
		s.writeError(ctx, fasthttp.StatusUnprocessableEntity, prom.CodeMemoryLimit, err.Error())
		return
	}
	out, err := resp.Marshal()
	if err != nil {
		s.writeError(ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
		return
	}
	ctx.Response.Header.Set("Content-Encoding", "snappy")
	ctx.SetContentType("application/x-protobuf")
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBody(snappy.Encode(nil, out))
}

// promSampleBytes is what a prompb.Sample takes (its value, time and the
// protobuf library's bookkeeping fields).
const promSampleBytes = int64(unsafe.Sizeof(prompb.Sample{}))

// readQuery answers one remote-read query. Its copy of the samples is
// charged to q, as what q's Selects load is.
func readQuery(ctx context.Context, q *prom.Queryable, rq *prompb.Query) (*prompb.QueryResult, error) {
	ss, closer, err := readSelect(ctx, q, rq)
	if err != nil {
		return nil, err
	}
	defer closer()
	res := &prompb.QueryResult{}
	for ss.Next() {
		sr := ss.At()
		ts := &prompb.TimeSeries{}
		sr.Labels().Range(func(l labels.Label) {
			ts.Labels = append(ts.Labels, prompb.Label{Name: l.Name, Value: l.Value})
		})
		it := sr.Iterator(nil)
		for it.Next() != 0 {
			t, v := it.At()
			c := cap(ts.Samples)
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: t, Value: v})
			if grown := cap(ts.Samples) - c; grown > 0 {
				if err := q.Charge(int64(grown)*promSampleBytes, "the samples copied for the answer"); err != nil {
					return nil, err
				}
			}
		}
		res.Timeseries = append(res.Timeseries, ts)
	}
	return res, ss.Err()
}

// readSelect selects the series of one remote-read query, sorted by their
// labels; closer releases the querier once they have been read.
func readSelect(ctx context.Context, q *prom.Queryable, rq *prompb.Query) (storage.SeriesSet, func(), error) {
	ms := make([]*labels.Matcher, 0, len(rq.Matchers))
	for _, m := range rq.Matchers {
		var t labels.MatchType
		switch m.Type {
		case prompb.LabelMatcher_EQ:
			t = labels.MatchEqual
		case prompb.LabelMatcher_NEQ:
			t = labels.MatchNotEqual
		case prompb.LabelMatcher_RE:
			t = labels.MatchRegexp
		case prompb.LabelMatcher_NRE:
			t = labels.MatchNotRegexp
		default:
			return nil, nil, fmt.Errorf("unknown matcher type %d", m.Type)
		}
		lm, err := labels.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, nil, err
		}
		ms = append(ms, lm)
	}
	qr, err := q.Querier(rq.StartTimestampMs, rq.EndTimestampMs)
	if err != nil {
		return nil, nil, err
	}
	var hints *storage.SelectHints
	if h := rq.Hints; h != nil {
		hints = &storage.SelectHints{Start: h.StartMs, End: h.EndMs, Step: h.StepMs, Func: h.Func, Grouping: h.Grouping, By: h.By, Range: h.RangeMs}
	}
	return qr.Select(ctx, true, hints, ms...), func() { _ = qr.Close() }, nil
}
