package server

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// promMemoryRequest holds n series of metric m (label s="s0".."s<n-1>"),
// each with k samples 15 s apart from t=1000 s.
func promMemoryRequest(n, k int) *prompb.WriteRequest {
	var req prompb.WriteRequest
	for i := range n {
		ts := promSeries("m", "s", fmt.Sprintf("s%d", i))
		for j := range k {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: int64(1_000_000 + j*15_000), Value: float64(i + j)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	return &req
}

// promCode reads the code Silt adds to Prometheus' error envelope.
func promCode(t *testing.T, body []byte) string {
	t.Helper()
	var a struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return a.Code
}

// TestPromQLQueryMemoryLimit: PromQL queries are bounded by
// --query-max-memory, both what they select from storage and what the
// engine evaluates, and over it they get Prometheus' execution error
// (422) with Silt's code query-memory-limit; queries within it answer.
func TestPromQLQueryMemoryLimit(t *testing.T) {
	const budget = 4 << 20
	s := startServerWith(t, Config{QueryMaxMemory: budget})
	// 200 series × 2,000 samples: 6.4 MB of samples at 16 bytes each.
	const series, samples = 200, 2000
	if code, body := s.remoteWrite(t, "/api/v1/write", promMemoryRequest(series, samples)); code != 204 {
		t.Fatalf("remote write: %d %s", code, body)
	}
	end := 1000 + (samples-1)*15
	rangeQuery := func(q string, step int) (int, []byte) {
		t.Helper()
		code, _, body := s.post(t, "/api/v1/query_range", url.Values{"query": {q},
			"start": {"1000"}, "end": {fmt.Sprint(end)}, "step": {fmt.Sprint(step)}}.Encode(),
			"Content-Type", "application/x-www-form-urlencoded")
		return code, body
	}
	overLimit := func(what string, code int, body []byte) {
		t.Helper()
		var a promAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("%s: %v: %s", what, err, body)
		}
		if code != 422 || a.Status != "error" || a.ErrorType != "execution" || promCode(t, body) != "query-memory-limit" ||
			!strings.Contains(a.Error, "--query-max-memory") {
			t.Fatalf("%s: want 422 execution query-memory-limit naming the flag, got %d %s", what, code, body)
		}
	}

	// Selecting every series loads more samples than the budget holds.
	code, body := rangeQuery(`sum(rate(m[5m]))`, 60)
	overLimit("every series", code, body)

	// The same over a tenth of the series fits, and answers what was
	// written: rate of a series rising by 1 every 15 s is 1/15.
	code, body = rangeQuery(`sum(rate(m{s=~"s1.?"}[5m]))`, 60)
	var a promAnswer
	if err := json.Unmarshal(body, &a); err != nil || code != 200 || len(a.Data.Result) != 1 {
		t.Fatalf("a tenth of the series: %d %s", code, body)
	}
	v, err := strconv.ParseFloat(fmt.Sprint(a.Data.Result[0].Values[10][1]), 64)
	if err != nil || math.Abs(v-11.0/15) > 1e-9 {
		t.Fatalf("sum of 11 rates: %v, want 11/15", a.Data.Result[0].Values[10][1])
	}

	// Few samples selected, many evaluated: 20 series at 10,000 steps are
	// 200,000 samples held by the engine, past the 131,072 that 4 MiB
	// allows it (32 bytes a sample).
	code, body = rangeQuery(`m{s=~"s1.?|s2.?"}`, 3)
	overLimit("evaluation", code, body)
	// At a coarser step the same selection answers.
	code, body = rangeQuery(`m{s=~"s1.?|s2.?"}`, 30)
	if code != 200 {
		t.Fatalf("coarse step: %d %s", code, body)
	}

	// Remote read copies the samples into its answer: bounded too.
	rr := &prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: 0, EndTimestampMs: int64(end) * 1000,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "m"}}}}}
	raw, _ := rr.Marshal()
	code, _, body = s.post(t, "/api/v1/read", string(snappy.Encode(nil, raw)), "Content-Encoding", "snappy", "Content-Type", "application/x-protobuf")
	if code != 422 || promCode(t, body) != "query-memory-limit" {
		t.Fatalf("remote read of every series: %d %s", code, body)
	}
}
