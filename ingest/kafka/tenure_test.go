package kafka

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/sink"
)

func TestHistoryCodec(t *testing.T) {
	h := []tenure{{"a1b2", 3, 0}, {"node-B", 4, 1200}, {"a1b2", 9, 1500}}
	meta := formatHistory(h)
	if meta != "silt1 a1b2:3:0;node-B:4:1200;a1b2:9:1500" {
		t.Fatalf("metadata %q", meta)
	}
	got, err := parseHistory(meta)
	if err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("parse: %v %v", got, err)
	}
	// Capped at the last maxHistory tenures, under Kafka's 4096-byte limit.
	var long []tenure
	for i := range 100 {
		long = append(long, tenure{"0123456789ab", int32(1_000_000 + i), 1_000_000_000_000 + int64(i)})
	}
	meta = formatHistory(long)
	got, err = parseHistory(meta)
	if err != nil || !reflect.DeepEqual(got, long[100-maxHistory:]) || len(meta) > 4096 {
		t.Fatalf("capped history: %d tenures, %d bytes, err %v", len(got), len(meta), err)
	}
	// Other tools' metadata is no history; Silt's that does not parse is
	// an error.
	for _, m := range []string{"", "some tool's note", "silt1 "} {
		if got, err := parseHistory(m); got != nil || err != nil {
			t.Errorf("%q: %v %v", m, got, err)
		}
	}
	for _, m := range []string{"silt1 a:1", "silt1 a:x:0", "silt1 :1:0", "silt1 a:1:-5", "silt1 a:1:0;"} {
		if _, err := parseHistory(m); err == nil {
			t.Errorf("%q parsed", m)
		}
	}
}

// The hand-over point of each case the protocol must cover (docs/scaling.md).
func TestHandoverPoint(t *testing.T) {
	A, B, C := "aaaa", "bbbb", "cccc"
	cases := []struct {
		name      string
		hist      []tenure
		committed int64
		node      string
		gen       int32
		want      int64
	}{
		// A owns the partition since generation 2; its last commit (500)
		// is where the next owner, whoever it is, starts.
		{"no later tenure", []tenure{{A, 2, 0}}, 500, A, 2, 500},
		// B took over at 300 (A's last confirmed commit) and has
		// committed since: A's rows from 300 on are B's.
		{"rejoin after the other commits", []tenure{{A, 2, 0}, {B, 3, 300}}, 900, A, 2, 300},
		// B took over but has not committed yet: the history still ends
		// with A, and B started at the committed offset.
		{"rejoin before the other commits", []tenure{{A, 2, 0}}, 300, A, 2, 300},
		// A died before its tenure's first commit: the history does not
		// name it; the first later tenure started where A did.
		{"died before the first commit, next owner committed", []tenure{{B, 1, 0}, {C, 4, 250}}, 700, A, 3, 250},
		{"died before the first commit, nobody since", []tenure{{B, 1, 0}}, 250, A, 3, 250},
		{"died before any commit of the group", nil, -1, A, 1, 0},
		// Chain of three owners: each one's rows end where the next began.
		{"chain: first", []tenure{{A, 2, 0}, {B, 3, 300}, {C, 5, 800}}, 1000, A, 2, 300},
		{"chain: second", []tenure{{A, 2, 0}, {B, 3, 300}, {C, 5, 800}}, 1000, B, 3, 800},
		{"chain: last", []tenure{{A, 2, 0}, {B, 3, 300}, {C, 5, 800}}, 1000, C, 5, 1000},
		// A owned the partition twice; its first tenure's rows end where
		// B began, its second's at the committed offset.
		{"second tenure of the same node, first", []tenure{{A, 2, 0}, {B, 3, 300}, {A, 6, 800}}, 950, A, 2, 300},
		{"second tenure of the same node, second", []tenure{{A, 2, 0}, {B, 3, 300}, {A, 6, 800}}, 950, A, 6, 950},
		// A's tenure fell out of the capped history: the oldest later one.
		{"evicted from the history", []tenure{{B, 40, 5000}, {C, 41, 5200}}, 5300, A, 7, 5000},
	}
	for _, c := range cases {
		if got := handoverPoint(c.hist, c.committed, c.node, c.gen); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestNodeIDStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, err := LoadNodeID(dir)
	if err != nil || validNodeID(id) != nil {
		t.Fatalf("%q %v", id, err)
	}
	again, err := LoadNodeID(dir)
	if err != nil || again != id {
		t.Fatalf("second load %q %v, want %q", again, err, id)
	}
	if err := os.WriteFile(filepath.Join(dir, nodeIDFile), []byte("bad:id\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNodeID(dir); err == nil || !strings.Contains(err.Error(), "node id") {
		t.Fatalf("bad node id accepted: %v", err)
	}
}

// With a real (kfake) group: every commit carries the partition's tenure
// history; when a second instance joins, the partitions it takes over
// carry the first instance's tenure followed by its own, starting where the
// first left off; a restarted instance's Handover reads them back as the
// replay limits.
func TestTenureHistoryInGroupCommits(t *testing.T) {
	cluster := newCluster(t, 6)
	brokers := cluster.ListenAddrs()
	var mu sync.Mutex
	seen := map[int64]int{}
	dirA, dirB := t.TempDir(), t.TempDir()
	ea, eb := openEngine(t, dirA), openEngine(t, dirB)
	defer ea.Close()
	defer eb.Close()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	cfgA, cfgB := testConfig(brokers, dirA), testConfig(brokers, dirB)
	cfgA.Handover = NewHandover(cfgA, dirA, 10*time.Second, quietLog())
	cfgB.Handover = NewHandover(cfgB, dirB, 10*time.Second, quietLog())
	nodeA, _ := cfgA.Handover.NodeID()
	nodeB, _ := cfgB.Handover.NodeID()

	const per = 3000
	produce(t, brokers, 0, per)
	a := start(t, cfgA, &countingSink{Engine: ea, mu: &mu, seen: seen}, false)
	waitFor(t, "A consumed all", func() bool { return count() >= per })
	b := start(t, cfgB, &countingSink{Engine: eb, mu: &mu, seen: seen}, false)
	waitFor(t, "B assigned", func() bool {
		b.c.mu.Lock()
		defer b.c.mu.Unlock()
		return len(b.c.parts) > 0
	})
	produce(t, brokers, per, per)
	waitFor(t, "all consumed", func() bool { return count() >= 2*per })
	a.stop(t)
	b.stop(t)
	checkExactlyOnce(t, seen, 2*per)

	group := readGroup(t, brokers)
	moved := 0
	for p := range int32(6) {
		key := Key(topic, p)
		g, ok := group[key]
		if !ok || len(g.hist) == 0 {
			t.Fatalf("%s: no tenure history in the group's commit (%+v)", key, g)
		}
		if h := g.hist[0]; h.node != nodeA || h.start != 0 {
			t.Errorf("%s: first tenure %+v, want A's (%s) from 0", key, h, nodeA)
		}
		for i := 1; i < len(g.hist); i++ {
			if g.hist[i].gen <= g.hist[i-1].gen || g.hist[i].start < g.hist[i-1].start {
				t.Errorf("%s: tenures out of order: %+v", key, g.hist)
			}
		}
		// What A's restart would drop: the rows of A's tenure from B's
		// start on, or from the committed offset if A kept the partition.
		limit, ok := NewHandover(cfgA, dirA, 10*time.Second, quietLog()).ReplayLimit(key, int64(g.hist[0].gen))
		want := g.committed
		if len(g.hist) > 1 {
			moved++
			if g.hist[1].node != nodeB {
				t.Errorf("%s: second tenure %+v, want B's (%s)", key, g.hist[1], nodeB)
			}
			want = g.hist[1].start
			if want == 0 {
				t.Errorf("%s: B started at 0, not where A left off", key)
			}
		}
		if !ok || limit != want {
			t.Errorf("%s: replay limit of A's tenure %d, %v; want %d", key, limit, ok, want)
		}
	}
	if moved == 0 {
		t.Errorf("no partition moved to B: %+v", group)
	}
}

// A flush makes rows permanent only once the group has confirmed their
// positions: here every poll's own commit is held back (the commitDelay knob), as a
// kill -9 right after the fsync would lose it, and the flush commits the
// positions itself before naming the segments in the manifest.
func TestFlushWaitsForGroupCommit(t *testing.T) {
	cluster := newCluster(t, 4)
	brokers := cluster.ListenAddrs()
	produce(t, brokers, 0, 2000)
	dir := t.TempDir()
	cfg := testConfig(brokers, dir)
	cfg.knobs.commitDelay = time.Hour
	cfg.Handover = NewHandover(cfg, dir, 10*time.Second, quietLog())
	e, err := engine.Open(engine.Config{DataDir: dir, Logger: quietLog(), FlushInterval: time.Hour, Sources: cfg.Handover})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := start(t, cfg, e, false)
	waitFor(t, "a poll written", func() bool { return len(e.SourceOffsets("kafka/")) > 0 })
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	flushed := e.Manifest().Sources
	group := readGroup(t, brokers)
	if len(flushed) == 0 {
		t.Fatal("the flush recorded no positions")
	}
	for k, v := range flushed {
		if g := group[k]; g.committed < v || len(g.hist) == 0 {
			t.Errorf("%s flushed up to %d, but the group has committed %d (history %v)", k, v, g.committed, g.hist)
		}
	}
	r.stop(t)
}

// A flush's commit that a rebalance overtakes must not set the group's
// offset back. franz-go holds a CommitOffsetsSync while the group joins and
// syncs, then sends it under the new generation, which the coordinator
// accepts for any partition. Meanwhile a poll lands (the flush froze its
// heads before it) and then either the partition is revoked, committing the
// new position, or the poll commits it itself; the flush's commit, sent
// after with the older position, would leave the group behind rows this
// node keeps (revoked: the next owner consumes them again; kept: a later
// flush takes them as confirmed), without a warning. The hook puts the poll
// and the other commit exactly between the build and the send.
func TestFlushCommitOvertakenKeepsLaterPosition(t *testing.T) {
	for _, revoke := range []bool{true, false} {
		name := map[bool]string{true: "revoked", false: "poll committed"}[revoke]
		t.Run(name, func(t *testing.T) { testFlushCommitOvertaken(t, revoke) })
	}
}

func testFlushCommitOvertaken(t *testing.T, revoke bool) {
	cluster := newCluster(t, 1)
	brokers := cluster.ListenAddrs()
	produce(t, brokers, 0, 1000)
	dir := t.TempDir()
	cfg := testConfig(brokers, dir)
	cfg.knobs.commitDelay = time.Hour // the polls' own commits never land
	cfg.Handover = NewHandover(cfg, dir, 10*time.Second, quietLog())
	e := openEngine(t, dir)
	defer e.Close()
	r := start(t, cfg, e, false)
	key := Key(topic, 0)
	waitFor(t, "a poll written", func() bool { return e.SourceOffsets("kafka/")[key] > 0 })
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	defer r.c.cl.Close()
	c := r.c
	flushed := e.SourceOffsets("kafka/")[key]

	var later int64
	c.gateCommitHook = func() {
		c.gateCommitHook = nil
		tp := topicPart{topic, 0}
		c.mu.Lock()
		st := c.parts[tp]
		st.next += 300 // a poll lands after the flush froze its heads
		later = st.next
		meta, gens := map[topicPart]string{tp: st.meta}, map[topicPart]int32{tp: st.gen}
		c.mu.Unlock()
		if revoke {
			c.revoked(context.Background(), c.cl, map[string][]int32{topic: {0}})
			return
		}
		c.cl.CommitOffsetsSync(commitCtx(context.Background(), meta),
			map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: later}}}, c.committed(gens))
	}
	if err := c.awaitCommitted(sink.SourceOffsets{key: flushed}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if later == 0 {
		t.Fatal("the flush committed nothing: the hook never ran")
	}

	group := readGroup(t, brokers)
	if got := group[key].committed; got != later {
		t.Errorf("group offset %d after %d was committed and the flush's commit (built at %d) came after: "+
			"the group is behind rows this node keeps, [%d, %d)", got, later, flushed, got, later)
	}
}
