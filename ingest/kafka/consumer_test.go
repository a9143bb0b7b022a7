package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/ingest/stream"
)

const topic = "metrics"

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newCluster(t testing.TB, partitions int32) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, "dead"),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// produce sends n records "cpu,host=h<i%hosts> id=<i>i,v=<i>i <ts>" with
// ids first..first+n-1.
func produce(t testing.TB, brokers []string, first, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rs := make([]*kgo.Record, 0, n)
	for i := first; i < first+n; i++ {
		v := fmt.Sprintf("cpu,host=h%d id=%di,v=%di %d", i%7, i, i, 1_700_000_000_000_000_000+int64(i)*1000)
		rs = append(rs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// countingSink wraps an engine and records every id it is given in a
// successful write, so duplicates across restarts are seen even though the
// engine itself would deduplicate them.
type countingSink struct {
	*engine.Engine
	mu   *sync.Mutex
	seen map[int64]int
}

func (s *countingSink) WriteFrom(db string, b *columnar.Batch, offs sink.SourceOffsets) (sink.WriteResult, error) {
	return s.count(b, func() (sink.WriteResult, error) { return s.Engine.WriteFrom(db, b, offs) })
}

func (s *countingSink) WriteParts(db string, b *columnar.Batch, parts []sink.SourcePart) (sink.WriteResult, error) {
	return s.count(b, func() (sink.WriteResult, error) { return s.Engine.WriteParts(db, b, parts) })
}

func (s *countingSink) count(b *columnar.Batch, write func() (sink.WriteResult, error)) (sink.WriteResult, error) {
	ids := make([]int64, 0, len(b.Rows))
	for i := range b.Rows {
		for _, f := range b.RowFields(&b.Rows[i]) {
			if string(b.Bytes(f.Key)) == "id" {
				ids = append(ids, int64(f.Num))
			}
		}
	}
	res, err := write()
	if err == nil {
		s.mu.Lock()
		for _, id := range ids {
			s.seen[id]++
		}
		s.mu.Unlock()
	}
	return res, err
}

func openEngine(t testing.TB, dir string) *engine.Engine {
	t.Helper()
	e, err := engine.Open(engine.Config{DataDir: dir, Logger: quietLog(), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type runner struct {
	c      *Consumer
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, cfg Config, sink sink.Sink, noCommit bool) *runner {
	t.Helper()
	c, err := New(cfg, sink, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	c.noCommit.Store(noCommit)
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	return r
}

// stop ends the consumer (with its final group commit unless it was
// started with noCommit).
func (r *runner) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	if r.c.noCommit.Load() {
		r.c.cl.Close()
		return
	}
	if err := r.c.Close(); err != nil {
		t.Fatal(err)
	}
}

func testConfig(brokers []string, dir string) Config {
	return Config{Brokers: brokers, Topics: []string{topic}, Group: "silt", Format: stream.FormatLine,
		DB: "db", DeadLetter: "file:" + dir + "/dead.ndjson", MaxPollRecords: 500,
		Extra: []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond),
			kgo.FetchMaxWait(100 * time.Millisecond)}}
}

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

func checkExactlyOnce(t *testing.T, seen map[int64]int, n int) {
	t.Helper()
	if len(seen) != n {
		t.Errorf("%d distinct records written, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("record %d written %d times", id, c)
		}
	}
}

func rowCount(t testing.TB, e *engine.Engine) int {
	t.Helper()
	n := 0
	if err := e.Scan("db", "cpu", func(*columnar.Point) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// Consumers stopped without committing group offsets (as kill -9 leaves
// them) resume at Silt's recorded offsets: no record is written twice and
// none is lost. A consumer that trusted the group's offsets would write the
// records after the last group commit again.
func TestResumeAtOwnOffsets(t *testing.T) {
	cluster := newCluster(t, 4)
	brokers := cluster.ListenAddrs()
	dir := t.TempDir()
	e := openEngine(t, dir)
	defer e.Close()
	sink := &countingSink{Engine: e, mu: &sync.Mutex{}, seen: map[int64]int{}}
	const rounds, per = 6, 1500
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range rounds {
		produce(t, brokers, round*per, per)
		// Every other round commits nothing to the group, as when the
		// commits after the last writes die with the process.
		r := start(t, testConfig(brokers, dir), sink, round%2 == 0)
		// Stop at a random point: sometimes mid-way, sometimes after all.
		target := rng.IntN(per*(round+1)) + 1
		waitFor(t, "records consumed", func() bool {
			sink.mu.Lock()
			defer sink.mu.Unlock()
			return len(sink.seen) >= target
		})
		r.stop(t)
		if round == 2 {
			// Flushed offsets come from the manifest, not the WAL.
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := start(t, testConfig(brokers, dir), sink, false)
	waitFor(t, "every record", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.seen) >= rounds*per
	})
	r.stop(t)
	checkExactlyOnce(t, sink.seen, rounds*per)
	if got := rowCount(t, e); got != rounds*per {
		t.Errorf("engine holds %d rows, want %d", got, rounds*per)
	}
}

// Two consumers with separate engines in one group split the partitions;
// partitions move between them as members join and leave, and every record
// lands exactly once in one of the two engines.
func TestRebalanceBetweenInstances(t *testing.T) {
	cluster := newCluster(t, 6)
	brokers := cluster.ListenAddrs()
	var mu sync.Mutex
	seen := map[int64]int{}
	dirA, dirB := t.TempDir(), t.TempDir()
	ea, eb := openEngine(t, dirA), openEngine(t, dirB)
	defer ea.Close()
	defer eb.Close()
	sa := &countingSink{Engine: ea, mu: &mu, seen: seen}
	sb := &countingSink{Engine: eb, mu: &mu, seen: seen}
	const per = 3000
	total := 0
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }

	produce(t, brokers, total, per)
	total += per
	a := start(t, testConfig(brokers, dirA), sa, false)
	waitFor(t, "A consuming", func() bool { return count() > per/3 })
	b := start(t, testConfig(brokers, dirB), sb, false) // join: partitions split
	produce(t, brokers, total, per)
	total += per
	waitFor(t, "all consumed", func() bool { return count() >= total })
	a.stop(t) // leave: B takes everything
	produce(t, brokers, total, per)
	total += per
	waitFor(t, "B alone", func() bool { return count() >= total })
	a = start(t, testConfig(brokers, dirA), sa, false) // rejoin
	produce(t, brokers, total, per)
	total += per
	waitFor(t, "after rejoin", func() bool { return count() >= total })
	a.stop(t)
	b.stop(t)
	checkExactlyOnce(t, seen, total)
	ra, rb := rowCount(t, ea), rowCount(t, eb)
	if ra == 0 || rb == 0 || ra+rb != total {
		t.Errorf("rows A=%d B=%d, want both > 0 and %d in all", ra, rb, total)
	}
}

// Undecodable messages go to the dead letter with their reason; the
// partition goes on past them.
func TestPoisonMessagesDeadLettered(t *testing.T) {
	for _, dl := range []string{"file", "topic"} {
		t.Run(dl, func(t *testing.T) {
			cluster := newCluster(t, 2)
			brokers := cluster.ListenAddrs()
			dir := t.TempDir()
			e := openEngine(t, dir)
			defer e.Close()
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			vals := []string{"cpu,host=a v=1 1", "not line protocol", "cpu,host=a v=2 2", "cpu,host=a v=\"str\" 3", "cpu,host=b v=3 4"}
			for _, v := range vals {
				if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testConfig(brokers, dir)
			if dl == "topic" {
				cfg.DeadLetter = "dead"
			}
			reg := newRegistry()
			c, err := New(cfg, e, reg, quietLog())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			waitFor(t, "3 rows", func() bool { return rowCount(t, e) == 3 })
			waitFor(t, "2 dead letters", func() bool { return counterSum(t, reg, "silt_kafka_dead_letters_total") == 2 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			dead := readDead(t, dl, dir, brokers)
			if len(dead) != 2 || dead[0] != "not line protocol" || dead[1] != "cpu,host=a v=\"str\" 3" {
				t.Fatalf("dead letters = %q", dead)
			}
			if got := e.SourceOffsets("kafka/")[Key(topic, 0)] + e.SourceOffsets("kafka/")[Key(topic, 1)]; got != int64(len(vals)) {
				t.Fatalf("offsets cover %d messages, want %d", got, len(vals))
			}
		})
	}
}

// JSON messages: rows without a table go to --kafka.table, a "db" header
// routes a message to another database, rows without a time get the
// record's timestamp, and the offsets ride on the last database's write.
func TestJSONAndDBHeader(t *testing.T) {
	cluster := newCluster(t, 1)
	brokers := cluster.ListenAddrs()
	dir := t.TempDir()
	e := openEngine(t, dir)
	defer e.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ts := time.Unix(1_700_000_000, 0)
	recs := []*kgo.Record{
		{Value: []byte(`{"time":1,"tags":{"h":"a"},"fields":{"v":1}}`)},
		{Value: []byte(`{"h":"b","v":2}`), Timestamp: ts, Headers: []kgo.RecordHeader{{Key: "db", Value: []byte("other")}}},
		{Value: []byte(`{"table":"t2","v":3}` + "\n" + `{"time":2,"v":4}`)},
		{Value: []byte(`{"v":5}`), Headers: []kgo.RecordHeader{{Key: "db", Value: []byte("")}}}, // bad name: dead letter
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(brokers, dir)
	cfg.Format, cfg.Table = stream.FormatJSON, "events"
	r := start(t, cfg, e, false)
	waitFor(t, "all offsets", func() bool { return e.SourceOffsets("kafka/")[Key(topic, 0)] == int64(len(recs)) })
	r.stop(t)
	count := func(db, table string) (n int, times []int64) {
		err := e.Scan(db, table, func(p *columnar.Point) error { n++; times = append(times, p.Time); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return n, times
	}
	if n, _ := count("db", "events"); n != 2 {
		t.Errorf("db.events: %d rows, want 2", n)
	}
	if n, _ := count("db", "t2"); n != 1 {
		t.Errorf("db.t2: %d rows, want 1", n)
	}
	if n, times := count("other", "events"); n != 1 || times[0] != ts.UnixNano() {
		t.Errorf("other.events: %d rows at %v, want 1 at the record's timestamp %d", n, times, ts.UnixNano())
	}
	dead := readDead(t, "file", dir, brokers)
	if len(dead) != 1 || dead[0] != `{"v":5}` {
		t.Errorf("dead letters %q", dead)
	}
}
