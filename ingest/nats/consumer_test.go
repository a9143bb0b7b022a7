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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/sink"
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

func (s *countingSink) WriteFrom(db string, b *columnar.Batch, offs sink.SourceOffsets) (sink.WriteResult, error) {
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

// Undecodable messages go to a dead-letter subject (captured by a stream)
// with the reason and are acknowledged; a "db" header routes a message.
func TestDeadLetterSubjectAndDBHeader(t *testing.T) {
	url := startServer(t)
	dir := t.TempDir()
	e, err := engine.Open(engine.Config{DataDir: dir, Logger: quietLog(), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	pub := func(data, db string) {
		m := nats.NewMsg("metrics.x")
		m.Data = []byte(data)
		if db != "" {
			m.Header.Set("db", db)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	pub("cpu v=1 1", "")
	pub("garbage", "")
	pub("cpu v=2 2", "other")
	c, err := New(ctx, Config{URL: url, Stream: "METRICS", Consumer: "silt", Format: stream.FormatLine, DB: "db",
		DeadLetter: "subject:dead.silt"}, e, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	waitFor(t, "position", func() bool { return e.SourceOffsets("nats/")[Key("METRICS", "silt")] == 4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for db, want := range map[string]int{"db": 1, "other": 1} {
		n := 0
		if err := e.Scan(db, "cpu", func(*columnar.Point) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s.cpu: %d rows, want %d", db, n, want)
		}
	}
	dead, err := js.Stream(ctx, "DEAD")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dead.GetLastMsgForSubject(ctx, "dead.silt")
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "garbage" || msg.Header.Get("Silt-Reason") == "" || msg.Header.Get("Silt-Sequence") != "2" {
		t.Errorf("dead letter %q headers %v", msg.Data, msg.Header)
	}
	// Everything was acknowledged: nothing pending on the consumer. Acks
	// are published without waiting for the server, so the last ones may
	// still be on their way when Close returns.
	cons, err := js.Consumer(ctx, "METRICS", "silt")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer has %d unacknowledged and %d pending messages 10 s after Close", info.NumAckPending, info.NumPending)
		}
	}
}

// refusingSink answers ErrBackpressure to the first refusals writes, as a
// full head does.
type refusingSink struct {
	*countingSink
	refusals int
}

func (s *refusingSink) WriteFrom(db string, b *columnar.Batch, offs sink.SourceOffsets) (sink.WriteResult, error) {
	if s.refusals > 0 {
		s.refusals--
		return sink.WriteResult{}, sink.ErrBackpressure
	}
	return s.countingSink.WriteFrom(db, b, offs)
}

// Backpressure stops fetching and retries the batch in hand: nothing lost,
// nothing written twice, the pause counted.
func TestBackpressureRetries(t *testing.T) {
	url := startServer(t)
	dir := t.TempDir()
	e, err := engine.Open(engine.Config{DataDir: dir, Logger: quietLog(), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	publish(t, url, 0, 2000)
	sink := &refusingSink{countingSink: &countingSink{Engine: e, seen: map[int64]int{}}, refusals: 6}
	reg := prometheus.NewRegistry()
	c, err := New(context.Background(), Config{URL: url, Stream: "METRICS", Consumer: "silt", Format: stream.FormatLine,
		DB: "db", DeadLetter: "file:" + dir + "/dead", Batch: 500}, sink, reg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "all", func() bool { return sink.count() >= 2000 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	for id, n := range sink.seen {
		if n != 1 {
			t.Errorf("message %d written %d times", id, n)
		}
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "silt_nats_backpressure_pauses_total":
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 1 {
				t.Errorf("pauses = %v, want 1 (six refusals of one batch)", v)
			}
		case "silt_nats_paused":
			if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 0 {
				t.Errorf("still paused after the writes went through")
			}
		}
	}
}
