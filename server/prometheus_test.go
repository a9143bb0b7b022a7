package server

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/siltdb/silt/engine"
)

func promSeries(name string, kv ...string) prompb.TimeSeries {
	ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: name}}}
	for i := 0; i+1 < len(kv); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ts
}

func (s *testServer) remoteWrite(t *testing.T, path string, req *prompb.WriteRequest) (int, []byte) {
	t.Helper()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := s.post(t, path, string(snappy.Encode(nil, raw)),
		"Content-Encoding", "snappy", "Content-Type", "application/x-protobuf", "X-Prometheus-Remote-Write-Version", "0.1.0")
	return code, body
}

type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func (s *testServer) promQuery(t *testing.T, path string, params url.Values) (int, promAnswer) {
	t.Helper()
	code, _, body := s.post(t, path, params.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	var a promAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s: %v: %s", path, err, body)
	}
	return code, a
}

// instant evaluates q at t seconds and returns "labels=value" lines, sorted
// by the engine's output order.
func (s *testServer) instant(t *testing.T, q string, at float64) []string {
	t.Helper()
	code, a := s.promQuery(t, "/api/v1/query", url.Values{"query": {q}, "time": {fmt.Sprint(at)}})
	if code != 200 || a.Status != "success" {
		t.Fatalf("%s: %d %+v", q, code, a)
	}
	var out []string
	for _, r := range a.Data.Result {
		delete(r.Metric, "instance")
		out = append(out, fmt.Sprintf("%v=%v", r.Metric, r.Value[1]))
	}
	return out
}

// counterRequest holds a counter per job rising by 10 every 10 s from
// t=1000 s to 1590 s, a gauge, and a series that ends with a stale marker.
func counterRequest() *prompb.WriteRequest {
	var req prompb.WriteRequest
	for j, job := range []string{"api", "db"} {
		c := promSeries("reqs_total", "job", job, "instance", "h:1")
		g := promSeries("temp", "job", job, "room", []string{"a", "b"}[j])
		for i := range 60 {
			ts := int64(1_000_000 + i*10_000)
			c.Samples = append(c.Samples, prompb.Sample{Timestamp: ts, Value: float64(10 * i * (j + 1))})
			g.Samples = append(g.Samples, prompb.Sample{Timestamp: ts, Value: float64(20 + j)})
		}
		req.Timeseries = append(req.Timeseries, c, g)
	}
	gone := promSeries("gone", "job", "api")
	gone.Samples = []prompb.Sample{{Timestamp: 1_000_000, Value: 7}, {Timestamp: 1_010_000, Value: math.Float64frombits(0x7ff0000000000002)}}
	req.Timeseries = append(req.Timeseries, gone)
	return &req
}

func TestPromRemoteWriteThenPromQL(t *testing.T) {
	s := startServer(t, 0)
	if code, body := s.remoteWrite(t, "/api/v1/write", counterRequest()); code != 204 {
		t.Fatalf("remote write: %d %s", code, body)
	}
	check := func(stage string) {
		t.Helper()
		if got := s.instant(t, `rate(reqs_total[1m])`, 1300); fmt.Sprint(got) != "[map[job:api]=1 map[job:db]=2]" {
			t.Fatalf("%s: rate: %v", stage, got)
		}
		if got := s.instant(t, `sum by (job) (temp{room=~"a|b"}) * on (job) group_left rate(reqs_total{job!="db"}[1m])`, 1300); fmt.Sprint(got) != "[map[job:api]=20]" {
			t.Fatalf("%s: join: %v", stage, got)
		}
		if got := s.instant(t, `{__name__=~"re.*|te.*", job="db"}`, 1300); len(got) != 2 {
			t.Fatalf("%s: regex on the name: %v", stage, got)
		}
		if got := s.instant(t, `temp{room!~"b", missing=""}`, 1300); fmt.Sprint(got) != "[map[__name__:temp job:api room:a]=20]" {
			t.Fatalf("%s: negative and absent-label matchers: %v", stage, got)
		}
		if got := s.instant(t, `temp{missing="x"}`, 1300); len(got) != 0 {
			t.Fatalf("%s: a matcher on a label no series has: %v", stage, got)
		}
		// Before the stale marker the sample is seen for the lookback
		// window; after it, not, though 5 minutes have not passed.
		if got := s.instant(t, `gone`, 1005); fmt.Sprint(got) != "[map[__name__:gone job:api]=7]" {
			t.Fatalf("%s: before the stale marker: %v", stage, got)
		}
		if got := s.instant(t, `gone`, 1015); len(got) != 0 {
			t.Fatalf("%s: after the stale marker: %v", stage, got)
		}
		code, a := s.promQuery(t, "/api/v1/query_range", url.Values{"query": {`temp{job="api"}`}, "start": {"1000"}, "end": {"1100"}, "step": {"50"}})
		if code != 200 || a.Data.ResultType != "matrix" || len(a.Data.Result) != 1 || len(a.Data.Result[0].Values) != 3 {
			t.Fatalf("%s: range query: %d %+v", stage, code, a)
		}
	}
	check("head")
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	check("segments")

	// The same rows through SQL and InfluxQL.
	code, body := s.get(t, "/api/v1/sql?db=prometheus&q="+url.QueryEscape(`SELECT count(*), sum(value) FROM reqs_total WHERE job = 'db'`))
	if code != 200 || !strings.Contains(string(body), "[60,35400]") {
		t.Fatalf("SQL: %d %s", code, body)
	}
	code, body = s.get(t, "/query?db=prometheus&q="+url.QueryEscape(`SELECT max(value) FROM temp WHERE job = 'db'`))
	if code != 200 || !strings.Contains(string(body), ",21]") {
		t.Fatalf("InfluxQL: %d %s", code, body)
	}
}

func TestPromQueryAPI(t *testing.T) {
	s := startServer(t, 0)
	if code, body := s.remoteWrite(t, "/api/v1/write?db=other", counterRequest()); code != 204 {
		t.Fatalf("remote write: %d %s", code, body)
	}
	// ?db= picks the database; the default one is empty.
	if got := s.instant(t, `temp`, 1300); len(got) != 0 {
		t.Fatalf("default database: %v", got)
	}
	code, body := s.get(t, "/api/v1/series?db=other&match[]="+url.QueryEscape(`temp`)+"&start=1000&end=2000")
	if code != 200 || string(body) != `{"status":"success","data":[{"__name__":"temp","job":"api","room":"a"},{"__name__":"temp","job":"db","room":"b"}]}`+"\n" {
		t.Fatalf("series: %d %s", code, body)
	}
	code, body = s.get(t, "/api/v1/label/job/values?db=other")
	if code != 200 || string(body) != `{"status":"success","data":["api","db"]}`+"\n" {
		t.Fatalf("label values: %d %s", code, body)
	}
	code, body = s.get(t, "/api/v1/label/__name__/values?db=other")
	if code != 200 || string(body) != `{"status":"success","data":["gone","reqs_total","temp"]}`+"\n" {
		t.Fatalf("metric names: %d %s", code, body)
	}
	code, body = s.get(t, "/api/v1/label/room/values?db=other&match[]="+url.QueryEscape(`temp{job="db"}`))
	if code != 200 || string(body) != `{"status":"success","data":["b"]}`+"\n" {
		t.Fatalf("label values with match[]: %d %s", code, body)
	}
	code, body = s.get(t, "/api/v1/labels?db=other")
	if code != 200 || string(body) != `{"status":"success","data":["__name__","instance","job","room"]}`+"\n" {
		t.Fatalf("labels: %d %s", code, body)
	}
	code, body = s.get(t, "/api/v1/status/buildinfo")
	if code != 200 || !strings.Contains(string(body), `"version":"2.42.0-silt-`) {
		t.Fatalf("buildinfo: %d %s", code, body)
	}
	// Errors: Prometheus' types and statuses.
	for _, c := range []struct {
		path   string
		params url.Values
		code   int
		typ    string
	}{
		{"/api/v1/query", url.Values{"query": {"rate(x[5m]"}}, 400, "bad_data"},
		{"/api/v1/query", url.Values{"query": {"up"}, "time": {"yesterday"}}, 400, "bad_data"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}, "step": {"1"}}, 400, "bad_data"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"100000"}, "step": {"1"}}, 400, "bad_data"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"10"}, "step": {"0"}}, 400, "bad_data"},
		{"/api/v1/series", url.Values{}, 400, "bad_data"},
		{"/api/v1/series", url.Values{"match[]": {"{"}}, 400, "bad_data"},
		{"/api/v1/query", url.Values{"query": {`label_replace(label_replace(temp, "job", "x", "", ""), "room", "x", "", "")`}, "time": {"1300"}, "db": {"other"}}, 422, "execution"},
	} {
		code, a := s.promQuery(t, c.path, c.params)
		if code != c.code || a.Status != "error" || a.ErrorType != c.typ || a.Error == "" {
			t.Errorf("%s %v: %d %+v, want %d %s", c.path, c.params, code, a, c.code, c.typ)
		}
	}
}

func TestPromRemoteWriteErrors(t *testing.T) {
	s := startServer(t, 1<<20)
	good := promSeries("up", "job", "x")
	good.Samples = []prompb.Sample{{Timestamp: 1_000_000, Value: 1}}
	raw, _ := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{good}}).Marshal()
	body := snappy.Encode(nil, raw)
	hdr := []string{"Content-Encoding", "snappy", "Content-Type", "application/x-protobuf"}
	for _, c := range []struct {
		name string
		body string
		hdr  []string
		code int
		want string
	}{
		{"truncated snappy", string(body[:len(body)-2]), hdr, 400, "prom-bad-snappy"},
		{"plain text", "up 1\n", hdr, 400, "prom-bad-snappy"},
		{"bad protobuf", string(snappy.Encode(nil, []byte{0x0a, 0x7f, 1})), hdr, 400, "prom-bad-protobuf"},
		{"gzip", string(body), []string{"Content-Encoding", "gzip"}, 415, "unsupported-encoding"},
		{"remote write 2.0", string(body), []string{"Content-Encoding", "snappy", "Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request"}, 415, "prom-unsupported-protocol"},
		{"bigger than the limit once decoded", string(snappy.Encode(nil, make([]byte, 2<<20))), hdr, 413, "body-too-large"},
	} {
		code, _, got := s.post(t, "/api/v1/write", c.body, c.hdr...)
		if code != c.code || !strings.Contains(string(got), `"code":"`+c.want+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, got, c.code, c.want)
		}
	}
	if code, body := s.get(t, "/api/v1/write"); code != 405 {
		t.Errorf("GET: %d %s", code, body)
	}

	// One bad series is refused (400, which Prometheus does not resend);
	// the others of the request are written.
	bad := promSeries("up", "job", "\xff")
	bad.Samples = []prompb.Sample{{Timestamp: 1_000_000, Value: 1}}
	hist := promSeries("lat")
	hist.Histograms = []prompb.Histogram{{Timestamp: 1_000_000}}
	hist.Samples = []prompb.Sample{{Timestamp: 1_000_000, Value: 3}}
	ex := promSeries("ex", "job", "x")
	ex.Samples = []prompb.Sample{{Timestamp: 1_000_000, Value: 1}}
	ex.Exemplars = []prompb.Exemplar{{Value: 1, Timestamp: 1_000_000}}
	code, got := s.remoteWrite(t, "/api/v1/write", &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{good, bad, ex}})
	if code != 400 || !strings.Contains(string(got), `"code":"prom-invalid-utf8"`) || !strings.Contains(string(got), `"written":2`) {
		t.Fatalf("bad label: %d %s", code, got)
	}
	code, got = s.remoteWrite(t, "/api/v1/write", &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{hist}})
	if code != 400 || !strings.Contains(string(got), `"code":"prom-native-histogram"`) || !strings.Contains(string(got), `"written":1`) {
		t.Fatalf("native histogram: %d %s", code, got)
	}
	if got := s.instant(t, `count({__name__=~"up|ex|lat"})`, 1000); fmt.Sprint(got) != "[map[]=3]" {
		t.Fatalf("the good series of refused requests: %v", got)
	}
	_, metrics := s.get(t, "/metrics")
	for _, m := range []string{"silt_prometheus_exemplars_ignored_total 1", "silt_prometheus_histograms_rejected_total 1",
		`silt_prometheus_samples_rejected_total{code="prom-invalid-utf8"} 1`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestPromRemoteWriteBackpressure: a full head answers 429, which
// Prometheus retries, and the retried request is stored whole.
func TestPromRemoteWriteBackpressure(t *testing.T) {
	s := startServerEngine(t, Config{}, engine.Config{MaxHeadBytes: 64 << 10})
	var req prompb.WriteRequest
	for i := range 300 {
		ts := promSeries("m", "i", fmt.Sprint(i))
		ts.Samples = []prompb.Sample{{Timestamp: 1_000_000, Value: float64(i)}}
		req.Timeseries = append(req.Timeseries, ts)
	}
	full := false
	for range 50 {
		code, body := s.remoteWrite(t, "/api/v1/write", &req)
		if code == 429 {
			full = true
			break
		}
		if code != 204 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if !full {
		t.Fatal("the head never filled")
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	if code, body := s.remoteWrite(t, "/api/v1/write", &req); code != 204 {
		t.Fatalf("after the flush: %d %s", code, body)
	}
	if got := s.instant(t, `count(m)`, 1000); fmt.Sprint(got) != "[map[]=300]" {
		t.Fatalf("count: %v", got)
	}
}

func TestPromRemoteRead(t *testing.T) {
	s := startServer(t, 0)
	if code, body := s.remoteWrite(t, "/api/v1/write", counterRequest()); code != 204 {
		t.Fatalf("remote write: %d %s", code, body)
	}
	rr := &prompb.ReadRequest{Queries: []*prompb.Query{{
		StartTimestampMs: 1_000_000, EndTimestampMs: 1_050_000,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "reqs_total"}, {Type: prompb.LabelMatcher_RE, Name: "job", Value: "d.*"}},
	}}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES}}
	raw, _ := rr.Marshal()
	code, hdr, body := s.post(t, "/api/v1/read", string(snappy.Encode(nil, raw)), "Content-Encoding", "snappy", "Content-Type", "application/x-protobuf")
	if code != 200 || hdr.Get("Content-Encoding") != "snappy" {
		t.Fatalf("read: %d %s", code, body)
	}
	dec, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var resp prompb.ReadResponse
	if err := resp.Unmarshal(dec); err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 1 || len(resp.Results[0].Timeseries) != 1 {
		t.Fatalf("%+v", resp)
	}
	ts := resp.Results[0].Timeseries[0]
	if fmt.Sprint(ts.Labels) != "[{__name__ reqs_total {} [] 0} {instance h:1 {} [] 0} {job db {} [] 0}]" || len(ts.Samples) != 6 || ts.Samples[5].Value != 100 {
		t.Fatalf("%v %v", ts.Labels, ts.Samples)
	}
}
