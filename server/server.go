// Package server is Silt's HTTP API on fasthttp: ingest (InfluxDB v1/v2 line
// protocol, NDJSON), schema, export, health and metrics.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/influxql"
)

// Version is reported by /ping and /health; set by cmd/silt.
var Version = "dev"

// Config configures the HTTP server.
type Config struct {
	Addr         string
	MaxBodyBytes int // request body limit, after gzip decompression
	Logger       *slog.Logger

	QueryTimeout   time.Duration // per SQL query; 0 means 1 minute
	QueryMaxRows   int           // result rows; 0 means 1,000,000
	QueryMaxMemory int64         // materialized columns per query; 0 means 1 GiB
	// QueryMaxMemoryTotal is what all running queries may hold together
	// (0: no shared bound).
	QueryMaxMemoryTotal int64

	// Tokens turn auth on: every endpoint but /health and /ping then needs
	// one (see auth.go). None: auth is off.
	Tokens []Token
	// TokensFile names a file of more tokens, one a line, that
	// LoadSecrets adds to Tokens; New does not read it.
	TokensFile string
	// tokenErr is the first bad --auth-token, reported by Validate.
	tokenErr error

	// MaxRequestsPerClient bounds the requests one client (its token with
	// auth on, else its IP address) has in flight; more get 429. 0: no
	// limit. See budget.go.
	MaxRequestsPerClient int
	// MaxInflightBodyBytes bounds the request bodies all clients together
	// have the server read or hold at once; a request that would go over
	// gets 503 before its body is read. 0: no limit.
	MaxInflightBodyBytes int64

	// DebugPprof serves /debug/pprof (--debug.pprof); off, the path is
	// 404. With auth on it needs the admin scope.
	DebugPprof bool
	// AllowedOrigins are the browser origins (scheme://host[:port]) that
	// may change state cross-site (--http-allowed-origins); none: only
	// same-origin pages and non-browser clients may.
	AllowedOrigins []string
	// AccessLog logs one line per request (--access-log; requestlog.go).
	AccessLog bool
}

// maxHeaderBytes bounds a request's line and headers: fasthttp's read
// buffer, which must hold them whole. Grafana's GET mode puts whole
// queries in the URL, often beyond fasthttp's default of 4 KiB.
const maxHeaderBytes = 64 << 10

// writeBufferBytes is the buffer a response is written through: the
// answers of a dashboard's panels fit whole, with their headers (gzipped
// above 4 KB: a lastpoint's 45 KB of JSON is 4.3 KB). fasthttp
// takes it from a pool for a connection's responses: at most one per open
// connection, beside the read buffer of maxHeaderBytes.
const writeBufferBytes = 16 << 10

// Server serves the HTTP API for one engine.
type Server struct {
	// sqlRowsOnly makes /api/v1/sql answer every query from rows, never
	// from the executor's typed columns (exec.RunTable): the tests compare
	// the two answers.
	sqlRowsOnly atomic.Bool

	cfg     Config
	eng     *engine.Engine
	log     *slog.Logger
	srv     *fasthttp.Server
	metrics httpMetrics
	budget  *budget
	maxLine int // the engine's Limits.MaxLineBytes, for the decoders
	ids     *requestIDs
	prom    *promState
	// queryMem is the memory running queries share, over every protocol.
	queryMem *exec.Budget
	// queryDuration is silt_query_duration_seconds (query_metrics.go).
	queryDuration *prometheus.HistogramVec
	// plans keeps InfluxQL requests' parses and SQL plans for the
	// requests that repeat them (influxql.PlanCache).
	plans *influxql.PlanCache
}

type httpMetrics struct {
	requests        *prometheus.CounterVec
	queriesCanceled *prometheus.CounterVec // by reason: client-gone, timeout
}

// New returns a server for eng.
func New(eng *engine.Engine, cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = time.Minute
	}
	if cfg.QueryMaxRows <= 0 {
		cfg.QueryMaxRows = 1_000_000
	}
	if cfg.QueryMaxMemory <= 0 {
		cfg.QueryMaxMemory = 1 << 30
	}
	s := &Server{cfg: cfg, eng: eng, log: cfg.Logger, maxLine: eng.Config().Limits.MaxLineBytes,
		budget: newBudget(cfg.MaxRequestsPerClient, cfg.MaxInflightBodyBytes), ids: newRequestIDs()}
	s.metrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "silt_http_requests_total", Help: "HTTP requests by endpoint and status code."}, []string{"path", "code"})
	s.metrics.queriesCanceled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "silt_queries_canceled_total", Help: "Queries stopped before they finished, by reason (client-gone, timeout)."}, []string{"reason"})
	eng.Metrics().Registry.MustRegister(s.metrics.requests, s.metrics.queriesCanceled)
	eng.Metrics().Registry.MustRegister(s.budget.collectors()...)
	s.queryMem = exec.NewBudget(cfg.QueryMaxMemoryTotal)
	eng.Metrics().Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "silt_query_memory_reserved_bytes", Help: "Memory running queries have reserved of --query-max-memory-total."},
		func() float64 { return float64(s.queryMem.Used()) }))
	s.queryDuration = newQueryDuration(eng.Metrics().Registry) // query_metrics.go
	s.plans = influxql.NewPlanCache(influxql.DefaultPlanEntries, influxql.DefaultPlanBytes)
	registerPlanCacheMetrics(eng.Metrics().Registry, s.plans) // query_metrics.go
	registerStatusMetrics(eng)                                // status_metrics.go
	s.prom = newPromState(s)
	metricsHandler := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(eng.Metrics().Registry, promhttp.HandlerOpts{}))
	s.srv = &fasthttp.Server{
		Handler:            s.withRequestLog(s.route(metricsHandler)),
		Name:               "silt",
		MaxRequestBodySize: cfg.MaxBodyBytes,
		ReadTimeout:        5 * time.Minute,
		WriteTimeout:       5 * time.Minute,
		IdleTimeout:        2 * time.Minute,
		// Bodies are read whole; fasthttp answers 413 above the limit.
		ReduceMemoryUsage: false,
		Logger:            fasthttpLogger{s.log},
		// fasthttp's errors otherwise quote the bytes it read, headers
		// included: Authorization or a p parameter would reach the log.
		SecureErrorLogMessage: true,
		ErrorHandler:          s.transportError,
		ReadBufferSize:        maxHeaderBytes,
		// A dashboard's answer, headers and (gzipped) body, leaves in one
		// write system call: with fasthttp's 4 KiB a lastpoint's 4.3 KB
		// took two, each a loopback or network send of its own (server
		// CPU per query). Larger answers stream in 64 KiB chunks anyway
		// (stream_writeto.go); see writeBufferBytes for what it holds.
		WriteBufferSize: writeBufferBytes,
		// Credentials and scopes are checked from the headers before any
		// body is read (auth.go), so an unauthenticated client cannot make
		// the server buffer its body.
		HeaderReceived: s.headerReceived,
		ExpectHandler:  s.expect,
		ConnState: func(c net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateClosed {
				s.budget.connClosed(c)
			}
		},
	}
	return s
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("fasthttp", "msg", format, "args", args)
}

func (s *Server) route(metrics fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		if s.budget.on() {
			// Whatever the request took at its headers, it holds until
			// its handler returns.
			defer s.budget.release(&ctx.Request.Header)
		}
		if strings.HasPrefix(path, "/api/v2/") {
			// v2 clients read an error's message key (api_v2.go).
			defer s.addV2Message(ctx)
		}
		// The web console's page and assets hold no data: they are read
		// without a token (the page asks for one for its calls).
		if isConsolePath(path) && (ctx.IsGet() || ctx.IsHead()) {
			s.handleConsole(ctx, path)
			s.metrics.requests.WithLabelValues(knownPath(path), statusLabel(ctx.Response.StatusCode())).Inc()
			return
		}
		// The browser check comes first: a CORS preflight carries no
		// credentials.
		ok := s.sameSiteOrSafe(ctx, path)
		var tok *Token
		if ok {
			tok, ok = s.authorize(ctx, path)
		}
		if ok && s.budget.on() {
			ok = s.admit(ctx, path, tok)
		}
		if !ok {
			s.metrics.requests.WithLabelValues(knownPath(path), statusLabel(ctx.Response.StatusCode())).Inc()
			return
		}
		switch path {
		case "/query":
			if s.requireReady(ctx) {
				s.handleQuery(ctx, tok)
			}
		case "/write":
			s.handleWrite(ctx, formatLineProtocol, string(ctx.QueryArgs().Peek("db")))
		case "/api/v2/write":
			s.handleWrite(ctx, formatLineProtocol, string(ctx.QueryArgs().Peek("bucket")))
		case "/api/v1/ingest":
			s.handleWrite(ctx, formatNDJSON, string(ctx.QueryArgs().Peek("db")))
		case "/ping":
			ctx.Response.Header.Set("X-Influxdb-Version", "1.8.10-silt-"+Version)
			ctx.Response.Header.Set("X-Influxdb-Build", "OSS")
			ctx.SetStatusCode(fasthttp.StatusNoContent)
		case "/health":
			s.handleHealth(ctx)
		case "/ready":
			if s.eng.Stopping() {
				// Balancers stop sending here while the final flush runs.
				s.writeError(ctx, fasthttp.StatusServiceUnavailable, "shutting-down", "shutting down: writes are refused")
			} else if s.eng.Ready() {
				s.writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ready"})
			} else {
				s.writeError(ctx, fasthttp.StatusServiceUnavailable, "not-ready", "replaying the WAL")
			}
		case "/metrics":
			metrics(ctx)
		case "/api/v1/databases":
			if s.requireReady(ctx) {
				s.handleDatabases(ctx, tok)
			}
		case "/api/v1/tables":
			if s.requireReady(ctx) {
				s.handleTables(ctx)
			}
		case "/api/v1/sql":
			if s.requireReady(ctx) {
				s.handleSQL(ctx)
			}
		case "/api/v1/export":
			if s.requireReady(ctx) {
				s.handleExport(ctx)
			}
		case "/api/v1/import/csv":
			s.handleCSVImport(ctx) // upload_csv.go
		case "/api/openapi.yaml":
			s.handleOpenAPI(ctx) // openapi.go
		// Prometheus: remote write and read, and the query API.
		case "/api/v1/write":
			s.handlePromWrite(ctx)
		case "/api/v1/read":
			s.handlePromRead(ctx)
		case "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
			"/api/v1/metadata", "/api/v1/status/buildinfo":
			s.handlePromAPI(ctx, path)
		case backupPath:
			s.handleBackup(ctx)
		case backupFilePath:
			s.handleBackupFile(ctx)
		// The InfluxDB v2 and v3 APIs beyond writes (api_v2.go, api_v3.go).
		case "/api/v2/query":
			s.handleV2Query(ctx)
		case "/api/v2/buckets":
			if s.requireReady(ctx) {
				s.handleBuckets(ctx, tok)
			}
		case "/api/v2/orgs":
			s.handleOrgs(ctx)
		case "/api/v3/write_lp":
			s.handleWriteLP(ctx)
		case "/api/v3/query_sql", "/api/v3/query_influxql":
			if s.requireReady(ctx) {
				s.handleQueryV3(ctx, path == "/api/v3/query_influxql")
			}
		case "/api/v3/configure/database":
			if s.requireReady(ctx) {
				s.handleConfigureDatabase(ctx)
			}
		default:
			if strings.HasPrefix(path, "/api/v1/label/") {
				s.handlePromAPI(ctx, path)
				break
			}
			// The web console's page and assets, asked for with another
			// method than GET: refused by its handler.
			if isConsolePath(path) {
				s.handleConsole(ctx, path)
				break
			}
			if s.cfg.DebugPprof && (path == "/debug/pprof" || strings.HasPrefix(path, "/debug/pprof/")) {
				s.handlePprof(ctx, path)
				return
			}
			s.writeError(ctx, fasthttp.StatusNotFound, "not-found", "no endpoint "+path)
		}
		s.observeHTTPQuery(ctx, path) // query_metrics.go
		s.metrics.requests.WithLabelValues(knownPath(path), statusLabel(ctx.Response.StatusCode())).Inc()
	}
}

// admit takes the request's client slot if its headers did not (auth off,
// or credentials in a form body) and answers 429 or 503 when it, or the
// refusal recorded at its headers, says so. /health and /ping, open
// without auth, are never limited: a busy client must not make the
// server look dead to its supervisor.
func (s *Server) admit(ctx *fasthttp.RequestCtx, path string, tok *Token) bool {
	client := ""
	switch {
	case pathScope(ctx.Method(), path) == scopeNone:
	case tok != nil:
		client = tokenClient(tok)
	default:
		client = ctx.RemoteIP().String()
	}
	d := s.budget.admitHandler(&ctx.Request.Header, client)
	if d.status == 0 {
		return true
	}
	s.deny(ctx, d)
	return false
}

func knownPath(p string) string {
	switch p {
	case "/write", "/api/v2/write", "/api/v1/ingest", "/ping", "/health", "/query", "/ready", "/metrics",
		"/api/v1/databases", "/api/v1/tables", "/api/v1/export", "/api/v1/sql",
		"/api/openapi.yaml",
		"/api/v1/write", "/api/v1/read", "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
		"/api/v1/metadata", "/api/v1/status/buildinfo",
		"/api/v2/query", "/api/v2/buckets", "/api/v2/orgs", "/api/v3/write_lp", "/api/v3/query_sql",
		"/api/v3/query_influxql", "/api/v3/configure/database",
		"/api/v1/import/csv":
		return p
	}
	return "other"
}

// statusLabel is the code label of silt_http_requests_total: the number,
// as Prometheus' own HTTP metrics and every dashboard expect.
func statusLabel(code int) string {
	return strconv.Itoa(code)
}

// ErrorBody is the JSON of every error response.
type ErrorBody struct {
	Error     string `json:"error"`
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"` // as in the X-Request-Id header
}

func (s *Server) writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	enc := json.NewEncoder(ctx)
	if err := enc.Encode(v); err != nil {
		s.log.Warn("encode response", "err", err)
	}
}

func (s *Server) writeError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	if isV2Path(ctx) {
		s.writeJSON(ctx, status, v2ErrorBody{Error: msg, Code: code, Message: msg, RequestID: string(s.requestID(ctx))})
		return
	}
	s.writeJSON(ctx, status, ErrorBody{Error: msg, Code: code, RequestID: string(s.requestID(ctx))})
}

// requireReady answers 503 while the engine replays its WAL.
func (s *Server) requireReady(ctx *fasthttp.RequestCtx) bool {
	if s.eng.Ready() {
		return true
	}
	ctx.Response.Header.Set("Retry-After", "1")
	s.writeError(ctx, fasthttp.StatusServiceUnavailable, "not-ready", "replaying the WAL; retry shortly")
	return false
}

// transportError answers requests fasthttp could not read. Its message
// never includes fasthttp's error text, which quotes the request's own
// bytes (headers included, Authorization too).
func (s *Server) transportError(ctx *fasthttp.RequestCtx, err error) {
	// An answer to HEAD has no body, also when fasthttp gave up reading
	// the request (a HEAD with a body too large, say).
	ctx.Response.SkipBody = ctx.IsHead() || requestWasHead(ctx.Conn())
	// What the request took at its headers is given back: no handler runs.
	refused := s.budget.refusal(&ctx.Request.Header)
	s.budget.release(&ctx.Request.Header)
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		// A body refused because the headers did not authorize it, or
		// for the server's load (headerReceived), gets the reason, not 413.
		if refused.status != 0 {
			s.deny(ctx, refused)
			return
		}
		if _, d := s.headerCheck(&ctx.Request.Header); d.status != 0 {
			s.deny(ctx, d)
			return
		}
		s.writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body-too-large",
			fmt.Sprintf("request body exceeds %d bytes (--max-body-bytes); split the write", s.cfg.MaxBodyBytes))
	case errors.As(err, &small):
		s.writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "request-too-large",
			fmt.Sprintf("the request line and headers exceed %d bytes; send long queries in a POST body", maxHeaderBytes))
	case errors.As(err, &netErr) && netErr.Timeout():
		s.writeError(ctx, fasthttp.StatusRequestTimeout, "request-timeout", "the request was not received in time")
	default:
		s.log.Debug("unreadable request", "remote", ctx.RemoteAddr().String(), "err_type", fmt.Sprintf("%T", err))
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-request", "the request is not valid HTTP/1.1")
	}
}

// Serve listens on cfg.Addr until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(headListener{ln})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for in-flight requests.
func (s *Server) Shutdown() error { return s.srv.Shutdown() }

// QueryMemoryReserved is what running queries have reserved of
// --query-max-memory-total (silt_query_memory_reserved_bytes): live memory
// the derived soft memory limit makes room for (engine.FollowMemoryLimit).
func (s *Server) QueryMemoryReserved() int64 { return s.queryMem.Used() }
