package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/kafka"
	"github.com/siltdb/silt/ingest/stream"
	"github.com/siltdb/silt/server"
)

// Workload of BenchmarkStreamIngest: TSBS cpu rows (1000 hosts, 10 fields).
const (
	benchHosts     = 1000
	benchIntervals = 50 // per op: 50 000 rows
	linesPerRecord = 10 // Kafka record = 10 lines, as a small Telegraf batch
	linesPerPost   = 5000
)

func benchLines(b *testing.B, intervals int) [][]byte {
	gen := bench.NewCPU(benchHosts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Second, 1)
	var body []byte
	for range intervals {
		body = gen.AppendInterval(body)
	}
	lines := bytes.SplitAfter(body, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func benchEngine(b *testing.B) *engine.Engine {
	e, err := engine.Open(engine.Config{DataDir: b.TempDir(), FlushInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

// BenchmarkStreamIngest compares, in one run on one machine, rows/s from a
// kfake topic through the Kafka consumer into durable segments with rows/s
// through the HTTP write API into durable segments. An op is 50 000 TSBS
// cpu rows; the clock stops when they are in segments named by the
// manifest (Flush returned). Kafka production happens before the clock
// starts. Run with a fixed -benchtime (e.g. 10x): records stay in kfake's
// memory.
func BenchmarkStreamIngest(b *testing.B) {
	b.Run("kafka", func(b *testing.B) {
		lines := benchLines(b, benchIntervals*b.N)
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		defer cluster.Close()
		cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("bench"),
			kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		var records int64
		var wg sync.WaitGroup
		for i := 0; i < len(lines); i += linesPerRecord {
			val := bytes.Join(lines[i:min(i+linesPerRecord, len(lines))], nil)
			wg.Add(1)
			records++
			cl.Produce(context.Background(), &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			})
		}
		wg.Wait()
		cl.Close()
		// As silt serve runs it: the hand-over hooks make the final flush
		// wait for the group to confirm the positions.
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		dir := b.TempDir()
		cfg := kafka.Config{Brokers: cluster.ListenAddrs(), Topics: []string{"bench"}, Group: "bench",
			Format: stream.FormatLine, DB: "bench", DeadLetter: "file:" + b.TempDir() + "/dead"}
		cfg.Handover = kafka.NewHandover(cfg, dir, 0, quiet)
		e, err := engine.Open(engine.Config{DataDir: dir, FlushInterval: time.Hour, Logger: quiet, Sources: cfg.Handover})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		c, err := kafka.New(cfg, e, nil, quiet)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		for {
			var n int64
			for _, v := range e.SourceOffsets("kafka/") {
				n += v
			}
			if n >= records {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := e.Flush(); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
		b.ReportMetric(float64(len(lines))/elapsed.Seconds(), "rows/s")
		reportFsyncs(b, e)
	})
	b.Run("http", func(b *testing.B) {
		lines := benchLines(b, benchIntervals*b.N)
		var bodies [][]byte
		for i := 0; i < len(lines); i += linesPerPost {
			bodies = append(bodies, bytes.Join(lines[i:min(i+linesPerPost, len(lines))], nil))
		}
		e := benchEngine(b)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := server.New(e, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		go func() { _ = srv.Serve(ln) }()
		defer func() { _ = srv.Shutdown() }()
		url := "http://" + ln.Addr().String() + "/write?db=bench"
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		work := make(chan []byte)
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for range 8 { // concurrent clients, as BenchmarkHTTPIngest
			wg.Add(1)
			go func() {
				defer wg.Done()
				for body := range work {
					resp, err := client.Post(url, "text/plain", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusNoContent {
						b.Errorf("status %d", resp.StatusCode)
					}
				}
			}()
		}
		for _, body := range bodies {
			work <- body
		}
		close(work)
		wg.Wait()
		if err := e.Flush(); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(len(lines))/elapsed.Seconds(), "rows/s")
		reportFsyncs(b, e)
	})
}

// reportFsyncs reports WAL fsyncs per op and their mean latency: on a
// shared disk the fsync time, not the CPU, often sets the pace.
func reportFsyncs(b *testing.B, e *engine.Engine) {
	var m dto.Metric
	if err := e.Metrics().WALFsync.Write(&m); err != nil {
		return
	}
	h := m.GetHistogram()
	b.ReportMetric(float64(h.GetSampleCount())/float64(b.N), "fsyncs/op")
	if h.GetSampleCount() > 0 {
		b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1e3, "ms/fsync")
	}
}
