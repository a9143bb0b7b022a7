package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATSServer runs an embedded nats-server on 127.0.0.1 with JetStream
// file storage and a stream METRICS over metrics.>.
func startNATSServer(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "METRICS",
		Subjects: []string{"metrics.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	return s.ClientURL()
}

// natsPublish publishes the workload's records [0, n) in paced chunks.
func natsPublish(t *testing.T, url string, n, chunk int, pause time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		nc, err := nats.Connect(url)
		if err != nil {
			done <- err
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			done <- err
			return
		}
		for from := 0; from < n; from += chunk {
			for i := from; i < min(from+chunk, n); i++ {
				if _, err := js.PublishAsync(fmt.Sprintf("metrics.h%d", i%streamHosts), []byte(streamLine(i))); err != nil {
					done <- err
					return
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				done <- fmt.Errorf("publish acks timed out")
				return
			}
			time.Sleep(pause)
		}
		done <- nil
	}()
	return done
}

func natsServeFlags(url, dataDir string) []string {
	return []string{"--nats.url", url, "--nats.stream", "METRICS", "--nats.consumer", "silt-e2e",
		"--nats.db", "streams", "--nats.format", "line", "--nats.batch", "300", "--nats.ack-wait", "2s",
		"--nats.dead-letter", "file:" + dataDir + "-dead.ndjson", "--flush-bytes", "64KiB"}
}

// TestNATSExactlyOnceKill9 consumes a JetStream stream with the real
// binary, kill -9s it at random moments (so acknowledgements after the
// fsync are lost and the server redelivers), restarts it, and checks
// through SQL that every message is there exactly once, and that the
// redeliveries were acknowledged without being written.
func TestNATSExactlyOnceKill9(t *testing.T) {
	skipShort(t)
	rounds := int(envInt(t, "SILT_NATS_CRASH_ROUNDS", 5))
	n := int(envInt(t, "SILT_NATS_RECORDS", 30000))
	rng := rand.New(rand.NewPCG(testSeed(t), 11))
	url := startNATSServer(t)
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	siltBinary(t)
	published := natsPublish(t, url, n, 1000, time.Duration(rounds)*time.Second/time.Duration(n/1000))
	for range rounds {
		p := h.start(data, natsServeFlags(url, data)...)
		time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
		p.kill()
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	p := h.start(data, natsServeFlags(url, data)...)
	waitStats(t, []*siltProc{p}, "streams", expectedStats(n), 3*time.Minute)
	// Let the ack wait of any message still unacknowledged run out: its
	// redelivery must be skipped, not written.
	time.Sleep(3 * time.Second)
	waitStats(t, []*siltProc{p}, "streams", expectedStats(n), 10*time.Second)
	if v, err := p.metricValue("silt_nats_position", ""); err != nil || v != float64(n+1) {
		t.Errorf("silt_nats_position = %v (%v), want %d (next stream sequence)", v, err, n+1)
	}
	if code := p.term(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	raw, err := os.ReadFile(filepath.Join(data, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), fmt.Sprintf(`"nats/METRICS/silt-e2e": %d`, n+1)) {
		t.Errorf("manifest sources do not cover the stream:\n%s", raw)
	}
}
