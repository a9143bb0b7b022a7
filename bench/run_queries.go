package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Dialects are the query languages `silt bench query` speaks, with the
// endpoint each goes to: Silt's /api/v1/sql, its PostgreSQL listener
// (pgwire: the same SQL, --url a connection string), /query (Silt's and InfluxDB's
// InfluxQL), ClickHouse's HTTP interface, and a Prometheus-compatible
// /api/v1/query_range (VictoriaMetrics).
var Dialects = []string{"sql", "pgwire", "influxql", "clickhouse", "promql"}

// Answer is what one query returned, reduced to what can be compared across
// systems whose answers differ in shape: the number of result rows and the
// numbers in them (time stamps are strings in all three answers, so they
// are not among the numbers).
type Answer struct {
	Rows    int       `json:"rows"`
	Count   int       `json:"numbers"`
	Sum     float64   `json:"sum"`
	Numbers []float64 `json:"sorted_numbers,omitempty"` // sorted; only when there are at most maxKeptNumbers
}

// maxKeptNumbers bounds the numbers an answer keeps for value checks: a
// high-cpu-all answer has ~500k; those are compared by count and sum.
const maxKeptNumbers = 20000

// Client sends queries in one dialect to one server.
type Client struct {
	URL     string
	DB      string
	Dialect string
	HTTP    *http.Client

	// ServerPID, when > 0, is the server's process on this machine: each
	// timed run also records the CPU its threads spent meanwhile
	// (TypeResult.CPU), which a busy machine inflates far less than the
	// wall time.
	ServerPID int

	pg *pgx.Conn // the pgwire dialect's connection (pgwire_client.go)
}

// Do runs text and returns the raw response body and the wall time from
// sending the request to having read the whole response.
func (c *Client) Do(ctx context.Context, text string) ([]byte, time.Duration, error) {
	var req *http.Request
	var err error
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, 0, fmt.Errorf("parse --url %q: %w", c.URL, err)
	}
	switch c.Dialect {
	case "pgwire": // URL is a PostgreSQL connection string
		return c.doPG(ctx, text)
	case "sql":
		u.Path = joinPath(u.Path, "/api/v1/sql")
		u.RawQuery = url.Values{"db": {c.DB}, "q": {text}}.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	case "influxql":
		u.Path = joinPath(u.Path, "/query")
		u.RawQuery = url.Values{"db": {c.DB}, "q": {text}}.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	case "promql":
		u.Path = joinPath(u.Path, "/api/v1/query_range")
		u.RawQuery = text
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	case "clickhouse":
		u.RawQuery = url.Values{"database": {c.DB}}.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(),
			strings.NewReader(text+" FORMAT JSONCompact"))
	default:
		return nil, 0, fmt.Errorf("unknown dialect %q (want %s)", c.Dialect, strings.Join(Dialects, ", "))
	}
	if err != nil {
		return nil, 0, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	_ = resp.Body.Close()
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(body, 300))
	}
	return body, elapsed, nil
}

func truncate(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// ParseAnswer reduces a response body of dialect to an Answer.
func ParseAnswer(dialect string, body []byte) (Answer, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var rows [][]any
	switch dialect {
	case "sql", "pgwire":
		var r struct {
			Rows [][]any `json:"rows"`
		}
		if err := dec.Decode(&r); err != nil {
			return Answer{}, fmt.Errorf("decode Silt answer: %w", err)
		}
		rows = r.Rows
	case "influxql":
		var r struct {
			Results []struct {
				Error  string `json:"error"`
				Series []struct {
					Values [][]any `json:"values"`
				} `json:"series"`
			} `json:"results"`
		}
		if err := dec.Decode(&r); err != nil {
			return Answer{}, fmt.Errorf("decode InfluxDB answer: %w", err)
		}
		for _, res := range r.Results {
			if res.Error != "" {
				return Answer{}, fmt.Errorf("InfluxDB: %s", res.Error)
			}
			for _, s := range res.Series {
				rows = append(rows, s.Values...)
			}
		}
	case "promql":
		// A range query's matrix: one row per point of every series, its
		// value a decimal string.
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []struct {
					Values [][]any `json:"values"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := dec.Decode(&r); err != nil {
			return Answer{}, fmt.Errorf("decode Prometheus answer: %w", err)
		}
		if r.Status != "success" {
			return Answer{}, fmt.Errorf("query_range: %s %s", r.Status, r.Error)
		}
		for _, s := range r.Data.Result {
			for _, p := range s.Values {
				if len(p) == 2 {
					if v, ok := p[1].(string); ok {
						p[1] = json.Number(v)
					}
					rows = append(rows, p[1:])
				}
			}
		}
	case "clickhouse":
		var r struct {
			Data [][]any `json:"data"`
		}
		if err := dec.Decode(&r); err != nil {
			return Answer{}, fmt.Errorf("decode ClickHouse answer: %w", err)
		}
		rows = r.Data
	default:
		return Answer{}, fmt.Errorf("unknown dialect %q", dialect)
	}
	a := Answer{Rows: len(rows)}
	var nums []float64
	for _, row := range rows {
		for _, v := range row {
			n, ok := v.(json.Number)
			if !ok {
				continue
			}
			f, err := n.Float64()
			if err != nil {
				return Answer{}, fmt.Errorf("number %s: %w", n, err)
			}
			nums = append(nums, f)
			a.Sum += f
		}
	}
	a.Count = len(nums)
	if len(nums) <= maxKeptNumbers {
		slices.Sort(nums)
		a.Numbers = nums
	}
	return a, nil
}

// Agrees reports whether two answers hold the same rows and numbers, within
// a relative tolerance for sums and means computed in a different order.
func (a Answer) Agrees(b Answer) error {
	if a.Rows != b.Rows {
		return fmt.Errorf("%d rows against %d", a.Rows, b.Rows)
	}
	if a.Count != b.Count {
		return fmt.Errorf("%d numbers against %d", a.Count, b.Count)
	}
	if !near(a.Sum, b.Sum) {
		return fmt.Errorf("numbers sum to %g against %g", a.Sum, b.Sum)
	}
	if a.Numbers != nil && b.Numbers != nil {
		for i := range a.Numbers {
			if !near(a.Numbers[i], b.Numbers[i]) {
				return fmt.Errorf("sorted number %d is %g against %g", i, a.Numbers[i], b.Numbers[i])
			}
		}
	}
	return nil
}

func near(x, y float64) bool {
	return math.Abs(x-y) <= 1e-9*max(1, math.Abs(x), math.Abs(y))
}

// TypeResult is the timings and answers of one query type on one system.
type TypeResult struct {
	Type string `json:"type"`
	// Unsupported: the dialect has no such query (TSBS writes none for it).
	Unsupported bool      `json:"unsupported,omitempty"`
	Runs        []float64 `json:"runs_ms"` // every timed run, in run order
	// CPU is the server's CPU time during each timed run, in run order
	// (ms; Client.ServerPID), when measured: the query's own work plus
	// whatever the server did in the background meanwhile.
	CPU     []float64 `json:"server_cpu_ms,omitempty"`
	Answers []Answer  `json:"answers"` // per instance, from its first run
	Errors  []string  `json:"errors,omitempty"`
}

// Stats returns min, median, p95 and max of the runs in milliseconds.
func (t TypeResult) Stats() (lo, med, p95, hi float64) {
	if len(t.Runs) == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(t.Runs)
	slices.Sort(s)
	return s[0], quantile(s, 0.5), quantile(s, 0.95), s[len(s)-1]
}

// quantile of sorted s by linear interpolation between closest ranks.
func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (s[i+1]-s[i])*(pos-float64(i))
}

// RunQueries runs every instance runs times (one query at a time, instances
// of a type interleaved so caches warm evenly), after one untimed warm-up
// run per instance whose answer is kept. progress, when not nil, is called
// after each query.
func RunQueries(ctx context.Context, c *Client, qs []Query, runs int, progress func(done, total int)) []TypeResult {
	res, _ := RunQueriesPaired(ctx, []*Client{c}, qs, runs, progress)
	return res[0]
}

// RunQueriesPaired runs the queries as RunQueries does on each client in
// turn, interleaved (Interleave): every run of an instance goes to all of
// them, one after the other, who goes first rotating from one step to the
// next, so that the drift of a busy machine weighs on all alike. res[i] is
// client i's; ratios[type] holds, for each step that every client
// answered, client 1's time over client 0's (nil with one client).
func RunQueriesPaired(ctx context.Context, cs []*Client, qs []Query, runs int, progress func(done, total int)) (res [][]TypeResult, ratios map[string][]float64) {
	eps := make([]Endpoint, len(cs))
	for i, c := range cs {
		eps[i] = c
	}
	iv := Interleave(ctx, eps, qs, Schedule{Runs: runs, Progress: progress})
	if len(cs) > 1 {
		ratios = map[string][]float64{}
		for _, st := range iv.Steps {
			if !math.IsNaN(st.MS[0]) && !math.IsNaN(st.MS[1]) && st.MS[0] > 0 {
				ratios[st.Type] = append(ratios[st.Type], st.MS[1]/st.MS[0])
			}
		}
	}
	return iv.Results, ratios
}

// serverCPU reads the CPU time of c's server so far (threadsCPUOf), when
// c has a ServerPID.
func (c *Client) serverCPU() (time.Duration, bool) {
	if c.ServerPID <= 0 {
		return 0, false
	}
	return threadsCPUOf(c.ServerPID)
}

// MedianCPU returns the median of the server's CPU per timed run in ms
// (NaN when not measured).
func (t TypeResult) MedianCPU() float64 { return Median(t.CPU) }

// Median returns the median of v (NaN for none).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return quantile(s, 0.5)
}
