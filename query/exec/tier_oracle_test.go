package exec

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/tiering"
)

// The PostgreSQL oracle over cold data: the cpu dataset (out-of-order and
// duplicate points, two flushes compacted into one window) is tiered to a
// real MinIO, its local files are gone, and every query of the suite must
// still equal PostgreSQL's answer — on the node that tiered it, and on a
// fresh read-only node that knows only the bucket.
func TestAgainstPostgresTiered(t *testing.T) {
	o := pgoracle.Start(t)
	srv := miniotest.Start(t)
	points := pgoracle.CPUDataset(20, cpuStart, 10*time.Second, 720, 47, pgoracle.DatasetOptions{OutOfOrder: 0.1, Duplicates: 0.05})
	openTier := func() *tiering.Tier {
		cfg := tiering.DefaultConfig()
		cfg.S3 = tiering.S3Options{Endpoint: srv.Endpoint, Bucket: "silt", Prefix: "oracle", Insecure: true,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path", MaxRetries: 1}
		cfg.CacheDir = t.TempDir()
		cfg.CacheMaxBytes = 1 << 20 // smaller than the data: reads go to MinIO and evict
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
	config := func(dir string, readOnly bool) engine.Config {
		return engine.Config{DataDir: dir, FlushInterval: time.Hour, NoSync: true,
			Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			Compaction: engine.CompactionConfig{Interval: time.Hour}, // compacted below
			Tiering:    engine.TierConfig{Tier: openTier(), After: time.Hour, Interval: time.Hour, ReadOnly: readOnly}}
	}
	dir := t.TempDir()
	eng, err := engine.Open(config(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	half := len(points) / 2
	for _, part := range [][]pgoracle.Point{points[:half], points[half:]} {
		var body []byte
		for _, p := range part {
			body = append(p.AppendLineProtocol(body, pgoracle.CPUTable), '\n')
		}
		var b columnar.Batch
		lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { t.Fatalf("line protocol: %v", e) })
		if _, err := eng.Write(testDB, &b); err != nil {
			t.Fatal(err)
		}
		if err := eng.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := eng.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := eng.TierNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Segments == 0 {
		t.Fatal("nothing was tiered")
	}
	for _, m := range eng.Manifest().Segments {
		if m.Tier == "" {
			t.Fatalf("segment %s is still local", m.Path)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(m.Path))); !os.IsNotExist(err) {
			t.Fatalf("local copy of cold segment %s: %v", m.Path, err)
		}
	}
	loadOracle(t, o, eng, pgoracle.CPUTable, points)

	ro, err := engine.Open(config(t.TempDir(), true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	for name, e := range map[string]*engine.Engine{"tiering node": eng, "read-only node": ro} {
		var tl tally
		for _, c := range tsbsCases() {
			check(t, o, e, c, &tl)
		}
		r := rand.New(rand.NewPCG(13, 17))
		for range 80 {
			check(t, o, e, randomCase(r), &tl)
		}
		t.Logf("oracle over cold segments, %s: %d queries run, %d passed, %d rejected by the front end, %d errors on both sides, %d answered from rollups",
			name, tl.run, tl.passed, tl.rejected, tl.errorsAgreed, tl.fromRollups)
	}
}
