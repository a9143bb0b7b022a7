package prom

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// WriteJSON, which writes an answer a series at a time, writes the bytes
// encoding/json writes for the whole response.
func TestWriteJSONMatchesEncoder(t *testing.T) {
	h := &histogram.FloatHistogram{Count: 3, Sum: 4.5, Schema: 0,
		PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []float64{3}}
	var big promql.Matrix
	for i := range 300 {
		s := promql.Series{Metric: labels.FromStrings("__name__", "m", "s", string(rune('a'+i%26)), "html", "<&>")}
		for j := range 50 {
			s.Floats = append(s.Floats, promql.FPoint{T: int64(1000*j + i), F: float64(i) / 3})
		}
		big = append(big, s)
	}
	cases := map[string]*Response{
		"matrix": {Status: "success", Data: queryData{ResultType: parser.ValueTypeMatrix, Result: big},
			Warnings: []string{"w1", "w\"2"}, Infos: []string{"i"}},
		"histograms": {Status: "success", Data: queryData{ResultType: parser.ValueTypeMatrix, Result: promql.Matrix{
			{Metric: labels.FromStrings("a", "b"), Histograms: []promql.HPoint{{T: 5, H: h}}}}}},
		"vector": {Status: "success", Data: queryData{ResultType: parser.ValueTypeVector, Result: promql.Vector{
			{Metric: labels.FromStrings("a", "b"), T: 1500, F: 2.5},
			{Metric: labels.FromStrings("a", "c"), T: 1500, H: h}}}},
		"empty vector": {Status: "success", Data: queryData{ResultType: parser.ValueTypeVector, Result: promql.Vector{}}},
		"nil matrix":   {Status: "success", Data: queryData{ResultType: parser.ValueTypeMatrix, Result: promql.Matrix(nil)}},
		"scalar":       {Status: "success", Data: queryData{ResultType: parser.ValueTypeScalar, Result: promql.Scalar{T: 1, V: 2}}},
		"error":        {Status: "error", ErrorType: ErrExecution, Error: "x", Code: CodeMemoryLimit},
		"labels":       {Status: "success", Data: []string{"a", "b"}},
	}
	for name, r := range cases {
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(r); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteJSON(&got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: WriteJSON wrote\n%.400s\nencoding/json\n%.400s", name, got.Bytes(), want.Bytes())
		}
	}
}
