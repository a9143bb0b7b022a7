package server

import (
	"bufio"
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/influxql"
	"github.com/siltdb/silt/query/sql"
)

// Query latency per front end: silt_query_duration_seconds{frontend}, a
// histogram of how long queries take, so that a dashboard (and the
// console's Status view) can chart latency next to the query rate.
//
// What one observation covers depends on what the front end can see:
//   - HTTP (sql, influxql, promql): from the request's arrival to the end
//     of its answer: when the handler returns, or, for an answer streamed
//     after it returns, when the stream's last byte is handed to the
//     connection. Compile, run and encode are all in it.
//   - pgwire and flight: the execution of one statement by the shared
//     executor (RunSQL, RunInfluxQL), not its planning in a separate
//     Parse or GetFlightInfo, nor the sending of its rows.
//
// Refused requests (auth, per-client limits) are not queries and are not
// observed; a query that fails is, as its client waited for it too.

// Front end labels of silt_query_duration_seconds.
const (
	frontendSQL      = "sql"
	frontendInfluxQL = "influxql"
	frontendPromQL   = "promql"
	frontendPgwire   = "pgwire"
	frontendFlight   = "flight"
)

// queryDurationBuckets span a cached lookup (under a millisecond) to a
// query that runs into --query-timeout's default minute.
var queryDurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// newQueryDuration registers the histogram with every front end's series
// present from the start (at zero), so a rate over it has a first point.
func newQueryDuration(reg prometheus.Registerer) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "silt_query_duration_seconds",
		Help:    "Time to answer a query, by front end (sql, influxql, promql: HTTP request to last byte; pgwire, flight: statement execution).",
		Buckets: queryDurationBuckets,
	}, []string{"frontend"})
	for _, f := range []string{frontendSQL, frontendInfluxQL, frontendPromQL, frontendPgwire, frontendFlight} {
		h.WithLabelValues(f)
	}
	reg.MustRegister(h)
	return h
}

// httpQueryFrontend is the front end of a query endpoint, "" for a path
// that does not run queries.
func httpQueryFrontend(path string) string {
	switch path {
	case "/api/v1/sql", "/api/v3/query_sql":
		return frontendSQL
	case "/query", "/api/v3/query_influxql":
		return frontendInfluxQL
	case "/api/v1/query", "/api/v1/query_range":
		return frontendPromQL
	}
	return ""
}

// queryStreamTimedKey marks a request whose streamed answer observes its
// own duration when the stream ends (timeQueryStream).
const queryStreamTimedKey = "silt.query-stream-timed"

// observeHTTPQuery records the duration of a query request whose handler
// has returned, unless its answer is still being streamed (then the
// stream records it when done).
func (s *Server) observeHTTPQuery(ctx *fasthttp.RequestCtx, path string) {
	f := httpQueryFrontend(path)
	if f == "" || (ctx.Response.IsBodyStream() && ctx.UserValue(queryStreamTimedKey) != nil) {
		return
	}
	s.queryDuration.WithLabelValues(f).Observe(time.Since(ctx.Time()).Seconds())
}

// timeQueryStream wraps the stream writer of a query's answer so that the
// query's duration runs to the stream's end.
func (s *Server) timeQueryStream(ctx *fasthttp.RequestCtx, sw fasthttp.StreamWriter) fasthttp.StreamWriter {
	f := httpQueryFrontend(string(ctx.Path()))
	if f == "" || s.queryDuration == nil {
		return sw
	}
	ctx.SetUserValue(queryStreamTimedKey, true)
	obs := s.queryDuration.WithLabelValues(f)
	// ctx.Time is read now: ctx is not to be read once the handler has
	// returned, other than by the stream fasthttp waits for.
	start := ctx.Time()
	return func(w *bufio.Writer) {
		defer func() { obs.Observe(time.Since(start).Seconds()) }()
		sw(w)
	}
}

// Frontend is the server as a non-HTTP front end (the PostgreSQL and
// Flight SQL listeners) sees it: the same executor, with each statement's
// execution observed under the front end's label.
type Frontend struct {
	*Server
	obs prometheus.Observer
}

// Frontend returns the server as the front end name ("pgwire", "flight")
// uses it.
func (s *Server) Frontend(name string) *Frontend {
	return &Frontend{Server: s, obs: s.queryDuration.WithLabelValues(name)}
}

// RunSQL is Server.RunSQL, timed.
func (f *Frontend) RunSQL(ctx context.Context, db string, q *sql.Query, raw bool) (*query.Result, error) {
	start := time.Now()
	defer func() { f.obs.Observe(time.Since(start).Seconds()) }()
	return f.Server.RunSQL(ctx, db, q, raw)
}

// RunInfluxQL is Server.RunInfluxQL, timed.
func (f *Frontend) RunInfluxQL(ctx context.Context, db, text string, params json.RawMessage, now time.Time) (*query.Result, error) {
	start := time.Now()
	defer func() { f.obs.Observe(time.Since(start).Seconds()) }()
	return f.Server.RunInfluxQL(ctx, db, text, params, now)
}

// registerPlanCacheMetrics exports the InfluxQL plan cache's counters.
func registerPlanCacheMetrics(reg prometheus.Registerer, c *influxql.PlanCache) {
	counter := func(name, help string, v func(influxql.PlanCacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(c.Stats())) })
	}
	gauge := func(name, help string, v func(influxql.PlanCacheStats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(v(c.Stats())) })
	}
	reg.MustRegister(
		counter("silt_influxql_plan_cache_hits_total", "InfluxQL parses and SQL plans /query took from the plan cache.",
			func(s influxql.PlanCacheStats) uint64 { return s.Hits }),
		counter("silt_influxql_plan_cache_misses_total", "InfluxQL parses and SQL plans /query made because the plan cache lacked them.",
			func(s influxql.PlanCacheStats) uint64 { return s.Misses }),
		counter("silt_influxql_plan_cache_evictions_total", "Entries dropped from the InfluxQL plan cache to stay within its bounds.",
			func(s influxql.PlanCacheStats) uint64 { return s.Evictions }),
		gauge("silt_influxql_plan_cache_entries", "Texts the InfluxQL plan cache holds (parses, plans, and texts seen once).",
			func(s influxql.PlanCacheStats) int64 { return int64(s.Entries) }),
		gauge("silt_influxql_plan_cache_bytes", "Estimated memory of the InfluxQL plan cache's entries.",
			func(s influxql.PlanCacheStats) int64 { return s.Bytes }),
	)
}
