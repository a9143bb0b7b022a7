package exec

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/tiering"
)

// The PostgreSQL oracle over a cluster: three writers split the cpu
// dataset's hosts as a Kafka group splits partitions, each tiering into
// its own prefix of one real MinIO bucket; two partitions change owner
// mid-stream with the last poll before the hand-over consumed again by
// the next owner (the same records on two writers). A query node that
// knows only the bucket answers every query of the suite over the union of
// the writers' manifests, and must equal PostgreSQL over the stream with
// each point once.
func TestAgainstPostgresCluster(t *testing.T) {
	o := pgoracle.Start(t)
	srv := miniotest.Start(t)
	const root = "oracle-cluster"
	openTier := func(prefix string) *tiering.Tier {
		cfg := tiering.DefaultConfig()
		cfg.S3 = tiering.S3Options{Endpoint: srv.Endpoint, Bucket: "silt", Prefix: prefix, Insecure: true,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path", MaxRetries: 1}
		cfg.CacheDir = t.TempDir()
		cfg.CacheMaxBytes = 4 << 20
		cfg.CacheBlockBytes = 64 << 10
		tr, err := tiering.Open(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.S3.EnsureBucket(context.Background()); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	points := pgoracle.CPUDataset(21, cpuStart, 10*time.Second, 720, 53, pgoracle.DatasetOptions{OutOfOrder: 0.1, Duplicates: 0.05})

	// Partition p holds the hosts h with h%3 == p, in write order.
	var streams [3][]pgoracle.Point
	for _, p := range points {
		h, err := strconv.Atoi(strings.TrimPrefix(p.Tags["hostname"], "host_"))
		if err != nil {
			t.Fatal(err)
		}
		streams[h%3] = append(streams[h%3], p)
	}
	// Owners: partition 0 moves from w1 to w2 and partition 1 from w2 to
	// w3, each after 60% of its stream, the new owner starting 400 records
	// before the hand-over (the poll the old owner had made durable but
	// not committed); partition 2 stays on w3.
	ids := []string{"w1", "w2", "w3"}
	var held [3][]pgoracle.Point
	reconsumed := 0
	for p := range 2 {
		s := streams[p]
		cut := len(s) * 6 / 10
		held[p] = append(held[p], s[:cut]...)
		held[p+1] = append(held[p+1], s[cut-400:]...)
		reconsumed += 400
	}
	held[2] = append(held[2], streams[2]...)

	ctx := context.Background()
	for i, id := range ids {
		dir := t.TempDir()
		eng, err := engine.Open(engine.Config{DataDir: dir, FlushInterval: time.Hour, NoSync: true, Logger: quiet,
			Compaction: engine.CompactionConfig{Interval: time.Hour}, // compacted below
			Tiering:    engine.TierConfig{Tier: openTier(cluster.WriterPrefix(root, id)), After: time.Hour, Interval: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		half := len(held[i]) / 2
		for _, part := range [][]pgoracle.Point{held[i][:half], held[i][half:]} {
			writeLP(t, eng, pgoracle.CPUTable, part)
			if err := eng.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := eng.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.TierNow(ctx); err != nil {
			t.Fatal(err)
		}
		for _, m := range eng.Manifest().Segments {
			if !m.Cold() {
				t.Fatalf("writer %s: segment %s is still local", id, m.Path)
			}
		}
		// The writer stops: the query node must not need it.
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
	}

	qt := openTier(root)
	union := cluster.NewUnion(qt.S3, quiet)
	q, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet,
		Compaction: engine.CompactionConfig{Interval: time.Hour},
		Tiering:    engine.TierConfig{Tier: qt, Interval: time.Hour, ReadOnly: true, Manifests: union.Load}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if ws := union.Writers(); len(ws) != 3 {
		t.Fatalf("query node sees writers %+v, want 3", ws)
	}

	// The oracle: every record of every partition once, in stream order
	// (MergeLastWriteWins keeps each point's last write).
	var stream []pgoracle.Point
	for p := range 3 {
		stream = append(stream, streams[p]...)
	}
	loadOracle(t, o, q, pgoracle.CPUTable, stream)
	_, rows, err := o.Query("SELECT count(*) FROM cpu")
	if err != nil {
		t.Fatal(err)
	}
	res, err := runSQLAt(q, "SELECT count(*) FROM cpu", true)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != res.Rows[0][0] {
		t.Fatalf("count: query node %v, oracle %v (%d records consumed twice)", res.Rows[0][0], rows[0][0], reconsumed)
	}

	var tl tally
	for _, c := range tsbsCases() {
		check(t, o, q, c, &tl)
	}
	r := rand.New(rand.NewPCG(29, 31))
	for range 60 {
		check(t, o, q, randomCase(r), &tl)
	}
	t.Logf("oracle over a 3-writer bucket from a query node: %d records consumed twice; %d queries run, %d passed, %d rejected by the front end, %d errors on both sides, %d answered from rollups",
		reconsumed, tl.run, tl.passed, tl.rejected, tl.errorsAgreed, tl.fromRollups)
}
