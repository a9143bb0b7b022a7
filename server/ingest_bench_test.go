package server

import (
	"bytes"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/siltdb/silt/bench"
)

// BenchmarkHTTPIngest measures end-to-end ingest: HTTP request → line
// protocol decode → WAL append and group-commit fsync (default durability)
// → Arrow head, with flushes to Parquet running in the background as they
// would in production. One op is one request of linesPerRequest TSBS cpu
// rows; rows/s is the figure to quote. Client and server share the machine.
func BenchmarkHTTPIngest(b *testing.B) {
	const hosts, intervals = 1000, 5 // 5000 lines (~1.9 MB) per request
	gen := bench.NewCPU(hosts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Second, 1)
	bodies := make([][]byte, 64)
	for i := range bodies {
		var body []byte
		for j := 0; j < intervals; j++ {
			body = gen.AppendInterval(body)
		}
		bodies[i] = body
	}
	s := startServer(b, 0)
	url := s.url + "/write?db=bench"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	b.SetBytes(int64(len(bodies[0])))
	b.SetParallelism(4) // 4×GOMAXPROCS concurrent clients
	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[next.Add(1)%int64(len(bodies))]
			resp, err := client.Post(url, "text/plain", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 204 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*hosts*intervals)/time.Since(start).Seconds(), "rows/s")
	// CPU per row, client included: steadier than rows/s on a shared
	// machine (the flushes' CPU counts as it happens to fall in the run).
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*hosts*intervals), "cpu-ns/row")
	// Group commit at work: fsyncs per request stays below 1 under load.
	var m dto.Metric
	if err := s.eng.Metrics().WALFsync.Write(&m); err == nil {
		b.ReportMetric(float64(m.GetHistogram().GetSampleCount())/float64(b.N), "fsyncs/op")
	}
}
