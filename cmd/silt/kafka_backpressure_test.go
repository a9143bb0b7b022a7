package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rssBytes reads the resident set size of pid from /proc.
func rssBytes(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// spreadLine is record i with its time spread over 100 days, so that each
// flush writes (and fsyncs) a segment per day: flushing is far slower than
// consuming, as on a busy disk. Same series and values as streamLine.
func spreadLine(i int) string {
	return fmt.Sprintf("cpu,host=h%d v=%di %d", i%streamHosts, i, streamBase-int64(i%100)*86_400_000_000_000+int64(i)*1000)
}

// Backpressure margin: what a silt process holds besides its heads (Go
// runtime and libraries, about 55 MiB idle; one Kafka fetch of
// --kafka.fetch-max-bytes and the decoded poll in hand; the Parquet
// writers of a flush; compaction's merges; garbage the GC has not
// returned yet). It holds for this workload's narrow rows; wide rows need
// more for compaction (docs/memory.md). docs/streams.md states both.
const backpressureMargin = 256 << 20

// TestKafkaBackpressure gives silt a backlog far larger than its head bound,
// produced before it consumes, so consumption outruns flushing: the
// partitions must pause (not buffer), every record must arrive, and RSS must
// stay under the head bound plus the documented margin, with a backlog of a
// quarter of the records and then of the other three quarters. (The peaks of
// the two phases are logged: RSS rises with the data ingested so far even
// without any pause, which is the engine's, not the consumer's.)
func TestKafkaBackpressure(t *testing.T) {
	skipShort(t)
	n := int(envInt(t, "SILT_BACKPRESSURE_RECORDS", 240000))
	const maxHead = 2 << 20
	brokers := startKfake(t, 4)
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(kafkaTopic),
		kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(from, to int) {
		for ; from < to; from += 10000 {
			rs := make([]*kgo.Record, 0, 10000)
			for i := from; i < min(from+10000, to); i++ {
				rs = append(rs, &kgo.Record{Key: []byte("k" + strconv.Itoa(i)), Value: []byte(spreadLine(i))})
			}
			if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	flags := append(kafkaFlags(brokers, data), "--max-head-bytes", strconv.Itoa(maxHead),
		"--kafka.max-poll-records", "5000", "--kafka.fetch-max-bytes", "4MiB")
	flags = append(flags, "--flush-bytes", strconv.Itoa(maxHead/2)) // the later flag wins

	// peakWhile samples the RSS until the durable positions cover want's
	// records (read from /metrics: a SQL query over hundreds of segments
	// would measure the query's memory, not ingestion's), then checks the
	// rows through SQL.
	peakWhile := func(p *siltProc, want seriesStats) int64 {
		var peak int64
		stop, sampled := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(sampled)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if rss, err := rssBytes(p.cmd.Process.Pid); err == nil && rss > peak {
						peak = rss
					}
				}
			}
		}()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			v, err := p.metricValue("silt_kafka_partition_offset", "")
			if err != nil {
				t.Fatal(err)
			}
			if v >= float64(want.rows()) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("positions cover %v of %d records after 5 minutes", v, want.rows())
			}
			time.Sleep(100 * time.Millisecond)
		}
		close(stop)
		<-sampled
		waitStats(t, []*siltProc{p}, "streams", want, time.Minute)
		return peak
	}
	quarter := n / 4
	produce(0, quarter)
	p := h.start(data, flags...)
	peak1 := peakWhile(p, expectedStats(quarter))
	produce(quarter, n)
	peak2 := peakWhile(p, expectedStats(n))
	pauses, err := p.metricValue("silt_kafka_backpressure_pauses_total", "")
	if err != nil {
		t.Fatal(err)
	}
	refusals, _ := p.metricValue("silt_backpressure_rejections_total", "")
	t.Logf("peak RSS %.1f MiB with a backlog of %d records, %.1f MiB with %d (heads bound %d MiB, margin %d MiB); %v partition pauses, %v engine refusals",
		float64(peak1)/(1<<20), quarter, float64(peak2)/(1<<20), n-quarter, maxHead>>20, backpressureMargin>>20, pauses, refusals)
	if pauses == 0 {
		t.Errorf("the consumer never paused: the test did not outrun the flushes (raise SILT_BACKPRESSURE_RECORDS)")
	}
	if os.Getenv("SILT_E2E_RACE") != "" {
		t.Logf("race-detector build: its shadow memory voids the RSS bound, not checked")
	} else if peak := max(peak1, peak2); peak > maxHead+backpressureMargin {
		t.Errorf("peak RSS %d bytes above the head bound %d + margin %d", peak, maxHead, backpressureMargin)
	}
	if code := p.term(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
