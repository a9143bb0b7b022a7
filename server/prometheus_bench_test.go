package server

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// BenchmarkPromRemoteWrite sends what a Prometheus scraping 1,000 series
// every 15 s sends, 500 samples a request (max_samples_per_send), over
// HTTP with the WAL's fsync, and reports samples/s and, after a flush, the
// bytes per sample of the segments:
//
//	go test -run NONE -bench PromRemoteWrite -benchtime 20x ./server
func BenchmarkPromRemoteWrite(b *testing.B) {
	const seriesN, perSeries, perRequest = 1000, 120, 500
	rng := rand.New(rand.NewPCG(1, 1))
	type ser struct {
		labels []prompb.Label
		v      float64
	}
	all := make([]ser, seriesN)
	for i := range all {
		all[i] = ser{labels: []prompb.Label{
			{Name: "__name__", Value: fmt.Sprintf("metric_%d_total", i%50)},
			{Name: "instance", Value: fmt.Sprintf("host-%d:9100", i/50)},
			{Name: "job", Value: "node"},
			{Name: "mode", Value: []string{"user", "system", "idle", "iowait"}[i%4]},
		}}
	}
	// Requests in scrape order: every series' sample of one scrape, then
	// the next scrape.
	var bodies [][]byte
	var req prompb.WriteRequest
	n := 0
	flush := func() {
		raw, _ := req.Marshal()
		bodies = append(bodies, snappy.Encode(nil, raw))
		req.Timeseries, n = nil, 0
	}
	for k := range perSeries {
		for i := range all {
			s := &all[i]
			s.v += float64(rng.IntN(100))
			req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: s.labels,
				Samples: []prompb.Sample{{Timestamp: 1_700_000_000_000 + int64(k)*15_000 + int64(i%1000), Value: s.v}}})
			if n++; n == perRequest {
				flush()
			}
		}
	}
	if n > 0 {
		flush()
	}
	b.ResetTimer()
	var samples int
	var segBytes int64
	for range b.N {
		b.StopTimer()
		s := startServer(b, 0)
		b.StartTimer()
		for _, body := range bodies {
			resp, err := http.Post(s.url+"/api/v1/write", "application/x-protobuf", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 204 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		samples += seriesN * perSeries
		b.StopTimer()
		if err := s.eng.Flush(); err != nil {
			b.Fatal(err)
		}
		segBytes = 0
		for _, m := range s.eng.Manifest().Segments {
			if !m.IsRollup() {
				segBytes += m.Bytes
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(segBytes)/float64(seriesN*perSeries), "segment-bytes/sample")
}
