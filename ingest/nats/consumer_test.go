package nats

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/stream"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer runs an embedded nats-server with JetStream file storage on
// 127.0.0.1 and creates the stream METRICS over metrics.> and DEAD over
// dead.>.
func startServer(t testing.TB) string {
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
	js, _ := jetstream.New(nc)
	for name, subj := range map[string]string{"METRICS": "metrics.>", "DEAD": "dead.>"} {
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name,
			Subjects: []string{subj}, Storage: jetstream.FileStorage}); err != nil {
			t.Fatal(err)
		}
	}
	return s.ClientURL()
}

func publish(t testing.TB, url string, first, n int) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	for i := first; i < first+n; i++ {
		v := fmt.Sprintf("cpu,host=h%d id=%di,v=%di %d", i%7, i, i, 1_700_000_000_000_000_000+int64(i)*1000)
		if _, err := js.PublishAsync(fmt.Sprintf("metrics.h%d", i%3), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("publish timed out")
	}
}

type countingSink struct {
	*engine.Engine
	mu   sync.Mutex
	seen map[int64]int
}

func (s *countingSink) WriteFrom(db string, b *columnar.Batch, offs engine.SourceOffsets) (engine.WriteResult, error) {
	var ids []int64
	for i := range b.Rows {
		for _, f := range b.RowFields(&b.Rows[i]) {
			if string(b.Bytes(f.Key)) == "id" {
				ids = append(ids, int64(f.Num))
			}
		}
	}
	res, err := s.Engine.WriteFrom(db, b, offs)
	if err == nil {
		s.mu.Lock()
		for _, id := range ids {
			s.seen[id]++
		}
		s.mu.Unlock()
	}
	return res, err
}

func (s *countingSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.seen) }

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Runs that lose their acknowledgements (as a crash right after the fsync
// does) get the messages redelivered; Silt's recorded stream sequence skips
// them, so every message is written exactly once.
func TestRedeliveriesWrittenOnce(t *testing.T) {
	url := startServer(t)
	dir := t.TempDir()
	e, err := engine.Open(engine.Config{DataDir: dir, Logger: quietLog(), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sink := &countingSink{Engine: e, seen: map[int64]int{}}
	cfg := Config{URL: url, Stream: "METRICS", Consumer: "silt", Format: stream.FormatLine, DB: "db",
		DeadLetter: "file:" + dir + "/dead.ndjson", Batch: 300, AckWait: 500 * time.Millisecond}
	rng := rand.New(rand.NewPCG(3, 4))
	const rounds, per = 5, 1000
	for round := range rounds {
		publish(t, url, round*per, per)
		c, err := New(context.Background(), cfg, sink, nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		c.noAck = round%2 == 0
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		target := rng.IntN(per*(round+1)) + 1
		waitFor(t, "consumed", func() bool { return sink.count() >= target })
		if c.noAck {
			// Outlive the ack wait: the unacknowledged messages come back
			// to this run and must not be written again.
			time.Sleep(1500 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if round == 1 {
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, err := New(context.Background(), cfg, sink, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "all", func() bool { return sink.count() >= rounds*per })
	// Let lost acks' redeliveries arrive: they must be skipped.
	time.Sleep(1500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(sink.seen) != rounds*per {
		t.Errorf("%d distinct messages written, want %d", len(sink.seen), rounds*per)
	}
	for id, n := range sink.seen {
		if n != 1 {
			t.Errorf("message %d written %d times", id, n)
		}
	}
	rows := 0
	if err := e.Scan("db", "cpu", func(*columnar.Point) error { rows++; return nil }); err != nil {
		t.Fatal(err)
	}
	if rows != rounds*per {
		t.Errorf("engine holds %d rows, want %d", rows, rounds*per)
	}
}
