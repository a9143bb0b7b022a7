package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Params are a request's parameters, from its URL and its form body.
type Params interface {
	Get(name string) string
	List(name string) []string // every value, for match[]
}

// Response is Prometheus' JSON envelope.
type Response struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
	// Code is Silt's stable code of an error where it has one
	// (query-memory-limit), as in Silt's other error bodies; Prometheus
	// clients read errorType and ignore it.
	Code     string   `json:"code,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Infos    []string `json:"infos,omitempty"`

	// release gives the engine back the answer's points (promql's
	// Query.Close puts them in its pool): only once it is encoded.
	release func()
}

// Error types and their HTTP statuses, as Prometheus answers them (clients
// such as Grafana read errorType).
const (
	ErrBadData     = "bad_data"
	ErrExecution   = "execution"
	ErrCanceled    = "canceled"
	ErrTimeout     = "timeout"
	ErrInternal    = "internal"
	ErrUnavailable = "unavailable"
	ErrNotFound    = "not_found"
)

// CodeMemoryLimit is the code of a query refused for --query-max-memory,
// as SQL and InfluxQL name it.
const CodeMemoryLimit = "query-memory-limit"

// StatusOf is the HTTP status of an error type.
func StatusOf(errorType string) int {
	switch errorType {
	case ErrBadData:
		return 400
	case ErrExecution:
		return 422
	case ErrCanceled:
		return 499
	case ErrTimeout, ErrUnavailable:
		return 503
	case ErrNotFound:
		return 404
	}
	return 500
}

func fail(typ string, format string, args ...any) (int, *Response) {
	return StatusOf(typ), &Response{Status: "error", ErrorType: typ, Error: fmt.Sprintf(format, args...)}
}

func success(data any, ws annotations.Annotations) (int, *Response) {
	r := &Response{Status: "success", Data: data}
	if len(ws) > 0 {
		r.Warnings, r.Infos = ws.AsStrings("", 10, 10)
	}
	return 200, r
}

// API answers the query endpoints of Prometheus' HTTP API.
type API struct {
	// Engine evaluates queries when EvalLevels is empty.
	Engine *promql.Engine
	// EvalLevels, if set, are the engines a query is evaluated by, each
	// allowing more samples than the one before (NewEvalLevels). What
	// a level's engine may hold is reserved from the query's shared
	// budget (Queryable.Shared, --query-max-memory-total) before it
	// evaluates, and given back once it has: a query evaluates on the
	// first level, and again on the next only when it needs more
	// samples than the level allows.
	EvalLevels []EvalLevel
	Meta       *MetadataStore
	Version    string
	// LookbackDelta is the staleness window; 0: Prometheus' 5 minutes.
	LookbackDelta time.Duration
	// Timeout bounds a query's evaluation.
	Timeout time.Duration
}

// NewEngine returns a promql engine configured as Prometheus 2.x is by
// default (the @ modifier and negative offsets on, as since 2.33). A
// subquery without a step takes DefaultSubqueryStep, what Prometheus takes
// from its default evaluation_interval.
func NewEngine(maxSamples int, timeout time.Duration) *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:               maxSamples,
		Timeout:                  timeout,
		LookbackDelta:            5 * time.Minute,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return DefaultSubqueryStep.Milliseconds() },
	})
}

// DefaultSubqueryStep is the step of a subquery that gives none.
const DefaultSubqueryStep = time.Minute

// queryData is the data of /api/v1/query and /api/v1/query_range.
type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     parser.Value     `json:"result"`
}

// Query answers /api/v1/query.
func (a *API) Query(ctx context.Context, q storage.Queryable, p Params) (int, *Response) {
	ts := time.Now()
	if s := p.Get("time"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			return fail(ErrBadData, "invalid parameter \"time\": %v", err)
		}
		ts = t
	}
	ctx, cancel, st, r := a.withTimeout(ctx, p)
	if r != nil {
		return st, r
	}
	defer cancel()
	opts, st, r := a.queryOpts(p)
	if r != nil {
		return st, r
	}
	return a.run(ctx, q, func(e *promql.Engine) (promql.Query, error) {
		return e.NewInstantQuery(ctx, q, opts, p.Get("query"), ts)
	})
}

// QueryRange answers /api/v1/query_range.
func (a *API) QueryRange(ctx context.Context, q storage.Queryable, p Params) (int, *Response) {
	start, err := parseTime(p.Get("start"))
	if err != nil {
		return fail(ErrBadData, "invalid parameter \"start\": %v", err)
	}
	end, err := parseTime(p.Get("end"))
	if err != nil {
		return fail(ErrBadData, "invalid parameter \"end\": %v", err)
	}
	if end.Before(start) {
		return fail(ErrBadData, "invalid parameter \"end\": end timestamp must not be before start time")
	}
	step, err := parseDuration(p.Get("step"))
	if err != nil {
		return fail(ErrBadData, "invalid parameter \"step\": %v", err)
	}
	if step <= 0 {
		return fail(ErrBadData, "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")
	}
	// As Prometheus: a range query returns at most 11,000 points a series.
	if end.Sub(start)/step > 11000 {
		return fail(ErrBadData, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
	}
	ctx, cancel, st, r := a.withTimeout(ctx, p)
	if r != nil {
		return st, r
	}
	defer cancel()
	opts, st, r := a.queryOpts(p)
	if r != nil {
		return st, r
	}
	return a.run(ctx, q, func(e *promql.Engine) (promql.Query, error) {
		return e.NewRangeQuery(ctx, q, opts, p.Get("query"), start, end, step)
	})
}

func (a *API) queryOpts(p Params) (promql.QueryOpts, int, *Response) {
	lookback := a.LookbackDelta
	if s := p.Get("lookback_delta"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			st, r := fail(ErrBadData, "invalid parameter \"lookback_delta\": %v", err)
			return nil, st, r
		}
		lookback = d
	}
	return promql.NewPrometheusQueryOpts(false, lookback, nil), 0, nil
}

func (a *API) withTimeout(ctx context.Context, p Params) (context.Context, context.CancelFunc, int, *Response) {
	d := a.Timeout
	if s := p.Get("timeout"); s != "" {
		t, err := parseDuration(s)
		if err != nil {
			st, r := fail(ErrBadData, "invalid parameter \"timeout\": %v", err)
			return nil, nil, st, r
		}
		if d <= 0 || t < d {
			d = t
		}
	}
	if d <= 0 {
		c, cancel := context.WithCancel(ctx)
		return c, cancel, 0, nil
	}
	c, cancel := context.WithTimeout(ctx, d)
	return c, cancel, 0, nil
}

// EvalLevel is an engine whose evaluation holds at most Bytes of
// samples (EngineMaxSamples(Bytes) of them).
type EvalLevel struct {
	Bytes  int64
	Engine *promql.Engine
}

// NewEvalLevels returns the levels of API.EvalLevels for a query
// memory limit of maxBytes (--query-max-memory) and a budget all queries
// share of totalBytes (--query-max-memory-total; 0: none): a sixteenth
// of the top level, a quarter, all of it, the top being maxBytes or half
// the total if that is less (a level the total cannot hold with the
// query's selection beside it would refuse every query that reaches it).
// Most queries evaluate within the first, so that each reserves little
// of the budget; a query that needs more is evaluated again with four
// times as much, at most twice. maxBytes <= 0: none (API.Engine
// evaluates, reserving nothing).
func NewEvalLevels(maxBytes, totalBytes int64, timeout time.Duration) []EvalLevel {
	if maxBytes <= 0 {
		return nil
	}
	top := maxBytes
	if totalBytes > 0 {
		top = max(1, min(top, totalBytes/2))
	}
	var ls []EvalLevel
	for _, b := range [...]int64{top >> 4, top >> 2, top} {
		if b < minEvalBytes && b < top || len(ls) > 0 && b <= ls[len(ls)-1].Bytes {
			continue
		}
		ls = append(ls, EvalLevel{Bytes: b, Engine: NewEngine(EngineMaxSamples(b), timeout)})
	}
	return ls
}

// minEvalBytes is the smallest level below the last: less would make
// small limits evaluate most queries more than once.
const minEvalBytes = 1 << 20

// run evaluates the query newQuery makes on an engine, level by level
// (API.EvalLevels), and charges its answer.
func (a *API) run(ctx context.Context, q storage.Queryable, newQuery func(*promql.Engine) (promql.Query, error)) (int, *Response) {
	levels := a.EvalLevels
	if len(levels) == 0 {
		levels = []EvalLevel{{Engine: a.Engine}}
	}
	qa, _ := q.(*Queryable)
	var held int64 // reserved for the evaluation
	defer func() { qa.unreserve(held) }()
	for i, l := range levels {
		if err := qa.reserve(l.Bytes - held); err != nil {
			return execError(err)
		}
		held = l.Bytes
		qry, err := newQuery(l.Engine)
		if err != nil {
			return fail(ErrBadData, "invalid parameter \"query\": %v", err)
		}
		res := qry.Exec(ctx)
		var ets promql.ErrTooManySamples
		if res.Err != nil && i+1 < len(levels) && errors.As(res.Err, &ets) {
			// Again on the next level, selecting again: what this
			// run selected is garbage now, and no longer charged.
			qry.Close()
			qa.unchargeSelected()
			continue
		}
		// The evaluation is over: what its engine held is garbage but
		// the answer, charged below.
		qa.unreserve(held)
		held = 0
		if res.Err != nil {
			qry.Close()
			return execError(res.Err)
		}
		// The answer is held, then encoded, while the request's caller
		// sends it: charged as what the Selects loaded is (to
		// --query-max-memory and the shared --query-max-memory-total).
		if qa != nil {
			if err := qa.Charge(answerBytes(res.Value), "the answer's samples"); err != nil {
				qry.Close()
				return execError(err)
			}
		}
		st, r := success(queryData{ResultType: res.Value.Type(), Result: res.Value}, res.Warnings)
		r.release = qry.Close
		return st, r
	}
	panic("unreachable: the last level returns")
}

// Release gives back to the engine what the answer's points hold; r must
// not be encoded after. Nil-safe, and a no-op for answers that are not
// an evaluation's.
func (r *Response) Release() {
	if r != nil && r.release != nil {
		r.release()
		r.release = nil
	}
}

// AnswerBytes is what the answer of a query holds with its JSON, as it
// was charged; 0 for other responses.
func (r *Response) AnswerBytes() int64 {
	if d, ok := r.Data.(queryData); ok {
		return answerBytes(d.Result)
	}
	return 0
}

// WriteJSON writes r as a json.Encoder does (a newline after it). A
// matrix or vector answer is written a series at a time, so that besides
// the answer itself it holds one series' JSON, not the whole body's.
func (r *Response) WriteJSON(w io.Writer) error {
	d, ok := r.Data.(queryData)
	if !ok {
		return json.NewEncoder(w).Encode(r)
	}
	switch v := d.Result.(type) {
	case promql.Matrix:
		if v == nil {
			return json.NewEncoder(w).Encode(r)
		}
		return writeEnvelope(w, r, d.ResultType, len(v), func(i int) any { return v[i] })
	case promql.Vector:
		if v == nil {
			return json.NewEncoder(w).Encode(r)
		}
		return writeEnvelope(w, r, d.ResultType, len(v), func(i int) any { return v[i] })
	}
	return json.NewEncoder(w).Encode(r)
}

// writeEnvelope writes r with its data's result as the n elements elem
// returns, each marshaled on its own.
func writeEnvelope(w io.Writer, r *Response, typ parser.ValueType, n int, elem func(int) any) error {
	status, err := json.Marshal(r.Status)
	if err != nil {
		return err
	}
	rt, err := json.Marshal(typ)
	if err != nil {
		return err
	}
	// The fields after data, as Response encodes them.
	tail, err := json.Marshal(struct {
		ErrorType string   `json:"errorType,omitempty"`
		Error     string   `json:"error,omitempty"`
		Code      string   `json:"code,omitempty"`
		Warnings  []string `json:"warnings,omitempty"`
		Infos     []string `json:"infos,omitempty"`
	}{r.ErrorType, r.Error, r.Code, r.Warnings, r.Infos})
	if err != nil {
		return err
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"status":`...)
	b = append(b, status...)
	b = append(b, `,"data":{"resultType":`...)
	b = append(b, rt...)
	b = append(b, `,"result":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		e, err := json.Marshal(elem(i))
		if err != nil {
			return err
		}
		b = append(b, e...)
		if len(b) >= 32<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, "]}"...)
	if len(tail) > 2 {
		b = append(b, ',')
		b = append(b, tail[1:len(tail)-1]...)
	}
	b = append(b, "}\n"...)
	_, err = w.Write(b)
	return err
}

// Per-item costs of an answer: a point as the engine holds it in a
// series (a float sample, or a histogram's pointer and its struct) plus
// its JSON in the response body, and a vector sample's struct.
const (
	pointJSONBytes    = 32
	histogramBytes    = 256
	vectorSampleBytes = 64
)

// answerBytes is what an evaluated answer holds, with its JSON.
func answerBytes(v parser.Value) int64 {
	var n int64
	switch v := v.(type) {
	case promql.Matrix:
		for _, s := range v {
			n += seriesOverheadBytes + int64(s.Metric.ByteSize()) +
				int64(len(s.Floats))*(sampleBytes+pointJSONBytes) +
				int64(len(s.Histograms))*(histogramBytes+pointJSONBytes)
		}
	case promql.Vector:
		for _, s := range v {
			n += vectorSampleBytes + int64(s.Metric.ByteSize()) + pointJSONBytes
			if s.H != nil {
				n += histogramBytes
			}
		}
	}
	return n
}

func execError(err error) (int, *Response) {
	var eqc promql.ErrQueryCanceled
	var eqt promql.ErrQueryTimeout
	var es promql.ErrStorage
	var ets promql.ErrTooManySamples
	switch {
	case errors.Is(err, ErrMemoryLimit):
		st, r := fail(ErrExecution, "%v", err)
		r.Code = CodeMemoryLimit
		return st, r
	case errors.As(err, &ets):
		// The engine's MaxSamples is derived from --query-max-memory.
		st, r := fail(ErrExecution, "%v: the samples its evaluation holds at once would pass --query-max-memory; narrow its time range, raise its step or aggregate sooner", err)
		r.Code = CodeMemoryLimit
		return st, r
	case errors.As(err, &eqc), errors.Is(err, context.Canceled):
		return fail(ErrCanceled, "%v", err)
	case errors.As(err, &eqt), errors.Is(err, context.DeadlineExceeded):
		return fail(ErrTimeout, "%v", err)
	case errors.As(err, &es):
		return fail(ErrInternal, "%v", err)
	}
	return fail(ErrExecution, "%v", err)
}

// timeRange reads start and end, which default to all time.
func timeRange(p Params) (int64, int64, int, *Response) {
	mint, maxt := int64(math.MinInt64/nsPerMs), int64(math.MaxInt64/nsPerMs-1)
	if s := p.Get("start"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			st, r := fail(ErrBadData, "invalid parameter \"start\": %v", err)
			return 0, 0, st, r
		}
		mint = t.UnixMilli()
	}
	if s := p.Get("end"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			st, r := fail(ErrBadData, "invalid parameter \"end\": %v", err)
			return 0, 0, st, r
		}
		maxt = t.UnixMilli()
	}
	if maxt < mint {
		st, r := fail(ErrBadData, "invalid parameter \"end\": end timestamp must not be before start time")
		return 0, 0, st, r
	}
	return mint, maxt, 0, nil
}

func matcherSets(p Params) ([][]*labels.Matcher, int, *Response) {
	var sets [][]*labels.Matcher
	for _, s := range p.List("match[]") {
		ms, err := selectorParser.ParseMetricSelector(s)
		if err != nil {
			st, r := fail(ErrBadData, "invalid parameter \"match[]\": %v", err)
			return nil, st, r
		}
		sets = append(sets, ms)
	}
	return sets, 0, nil
}

func limitParam(p Params) (int, int, *Response) {
	s := p.Get("limit")
	if s == "" {
		return 0, 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		st, r := fail(ErrBadData, "invalid parameter \"limit\": %q is not a non-negative integer", s)
		return 0, st, r
	}
	return n, 0, nil
}

// Series answers /api/v1/series.
func (a *API) Series(ctx context.Context, q storage.Queryable, p Params) (int, *Response) {
	sets, st, r := matcherSets(p)
	if r != nil {
		return st, r
	}
	if len(sets) == 0 {
		return fail(ErrBadData, "no match[] parameter provided")
	}
	mint, maxt, st, r := timeRange(p)
	if r != nil {
		return st, r
	}
	lim, st, r := limitParam(p)
	if r != nil {
		return st, r
	}
	qr, err := q.Querier(mint, maxt)
	if err != nil {
		return fail(ErrExecution, "%v", err)
	}
	defer qr.Close()
	seen := map[string]bool{}
	var out []labels.Labels
	var warn annotations.Annotations
	hints := &storage.SelectHints{Start: mint, End: maxt, Func: "series"}
	for _, ms := range sets {
		ss := qr.Select(ctx, true, hints, ms...)
		for ss.Next() {
			l := ss.At().Labels()
			if k := l.String(); !seen[k] {
				seen[k] = true
				out = append(out, l)
			}
		}
		if err := ss.Err(); err != nil {
			return execError(err)
		}
		warn.Merge(ss.Warnings())
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i], out[j]) < 0 })
	if lim > 0 && len(out) > lim {
		out = out[:lim]
		warn.Add(errors.New("results truncated due to limit"))
	}
	if out == nil {
		out = []labels.Labels{}
	}
	return success(out, warn)
}

// Labels answers /api/v1/labels.
func (a *API) Labels(ctx context.Context, q storage.Queryable, p Params) (int, *Response) {
	return a.labelQuery(ctx, q, p, func(qr storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return qr.LabelNames(ctx, hints, ms...)
	})
}

// LabelValues answers /api/v1/label/<name>/values.
func (a *API) LabelValues(ctx context.Context, q storage.Queryable, name string, p Params) (int, *Response) {
	if !model.UTF8Validation.IsValidLabelName(name) {
		return fail(ErrBadData, "invalid label name: %q", name)
	}
	return a.labelQuery(ctx, q, p, func(qr storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return qr.LabelValues(ctx, name, hints, ms...)
	})
}

func (a *API) labelQuery(_ context.Context, q storage.Queryable, p Params, get func(storage.Querier, *storage.LabelHints, []*labels.Matcher) ([]string, annotations.Annotations, error)) (int, *Response) {
	sets, st, r := matcherSets(p)
	if r != nil {
		return st, r
	}
	mint, maxt, st, r := timeRange(p)
	if r != nil {
		return st, r
	}
	lim, st, r := limitParam(p)
	if r != nil {
		return st, r
	}
	qr, err := q.Querier(mint, maxt)
	if err != nil {
		return fail(ErrExecution, "%v", err)
	}
	defer qr.Close()
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	set := map[string]struct{}{}
	var warn annotations.Annotations
	for _, ms := range sets {
		vs, ws, err := get(qr, &storage.LabelHints{Limit: lim}, ms)
		if err != nil {
			return execError(err)
		}
		warn.Merge(ws)
		for _, v := range vs {
			set[v] = struct{}{}
		}
	}
	out := sortedKeys(set)
	if lim > 0 && len(out) > lim {
		out = out[:lim]
		warn.Add(errors.New("results truncated due to limit"))
	}
	return success(out, warn)
}

// Metadata answers /api/v1/metadata from what remote write sent.
func (a *API) Metadata(p Params) (int, *Response) {
	lim, st, r := limitParam(p)
	if r != nil {
		return st, r
	}
	return success(a.Meta.Get(p.Get("metric"), lim), nil)
}

// BuildInfo answers /api/v1/status/buildinfo.
func (a *API) BuildInfo() (int, *Response) {
	return success(map[string]string{
		"version":   a.Version,
		"revision":  "",
		"branch":    "",
		"buildUser": "",
		"buildDate": "",
		"goVersion": runtime.Version(),
	}, nil)
}

// MetadataStore holds the metric metadata remote write sends, by metric
// family. It lives in memory: Prometheus sends all of it again every
// minute (metadata_config.send_interval).
type MetadataStore struct {
	mu sync.Mutex
	m  map[string]MetricMeta
}

// MetricMeta is one family's metadata as /api/v1/metadata answers it.
type MetricMeta struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// maxMetadata bounds the families held: metadata is a convenience for
// query editors, not worth unbounded memory.
const maxMetadata = 100_000

// Put records metric's metadata.
func (s *MetadataStore) Put(metric string, m MetricMeta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]MetricMeta{}
	}
	if _, ok := s.m[metric]; !ok && len(s.m) >= maxMetadata {
		return
	}
	s.m[metric] = m
}

// Get returns the metadata of metric ("" for all), at most limit families
// (0: all).
func (s *MetadataStore) Get(metric string, limit int) map[string][]MetricMeta {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]MetricMeta{}
	if metric != "" {
		if m, ok := s.m[metric]; ok {
			out[metric] = []MetricMeta{m}
		}
		return out
	}
	names := make([]string, 0, len(s.m))
	for k := range s.m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if limit > 0 && len(out) >= limit {
			break
		}
		out[k] = []MetricMeta{s.m[k]}
	}
	return out
}

// parseTime reads a time as Prometheus does: Unix seconds with an optional
// fraction, or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(t) || math.IsInf(t, 0) || t > 9.2e9 || t < -9.2e9 {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
		}
		sec, frac := math.Modf(t)
		return time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration reads a duration as Prometheus does: seconds with an
// optional fraction, or a Prometheus duration such as 1m30s.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if ts > float64(math.MaxInt64) || ts < float64(math.MinInt64) || math.IsNaN(ts) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

var selectorParser = parser.NewParser(parser.Options{})
