package iceberg_test

// A point two writers hold must be listed once by the shared Iceberg
// table, with the value a query node answers: the newer write's.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/iceberg"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// peerWriter is a cluster writer as silt serve --role writer wires one:
// its compaction dedupes against the other writers' segments and its
// publishing withholds what another writer holds a newer copy of.
func peerWriter(t *testing.T, srv *miniotest.Server, id string) *fixture {
	t.Helper()
	return peerWriterAt(t, srv, id, t.TempDir())
}

// peerWriterAt is peerWriter on data directory dir (a restart when dir
// was a writer's before).
func peerWriterAt(t *testing.T, srv *miniotest.Server, id, dir string) *fixture {
	t.Helper()
	prefix := cluster.WriterPrefix(clusterRoot, id)
	tr := openTier(t, srv, prefix)
	root, err := tiering.NewS3Store(s3Options(srv, clusterRoot))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	own := strings.TrimPrefix(prefix, clusterRoot+"/") + "/"
	f := &fixture{srv: srv, tr: tr, root: root, today: segment.WindowOf(time.Now().UnixNano())}
	f.pub = &iceberg.Publisher{Store: root, Location: "s3://" + bucket + "/" + clusterRoot, DataPrefix: own,
		Legacy: own + iceberg.DefaultRoot}
	peers := &cluster.PeerSegments{Node: id, Union: cluster.NewUnion(root, quiet), Store: root}
	e, err := engine.Open(engine.Config{DataDir: dir, FlushInterval: time.Hour, FlushBytes: 1 << 30, MaxHeadBytes: 1 << 30,
		Logger: quiet, Compaction: engine.CompactionConfig{Interval: time.Hour}, Peers: peers,
		Tiering: engine.TierConfig{Tier: tr, After: 48 * time.Hour, Interval: time.Hour,
			Publish: func(ctx context.Context, m *manifest.Manifest) error {
				ps, err := peers.Segments(ctx)
				if err != nil {
					return err
				}
				_, err = f.pub.PublishAll(ctx, iceberg.WithholdShadowed(m, id, ps))
				return err
			}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	f.e = e
	return f
}

// queryNode opens a query node over the writers' bucket manifests under
// the cluster root (cluster.Union), as silt serve --role query does: a
// fixture to read its answer (siltRows) from.
func queryNode(t *testing.T, srv *miniotest.Server) *fixture {
	t.Helper()
	cfg := tiering.DefaultConfig()
	cfg.S3 = s3Options(srv, clusterRoot)
	qt, err := tiering.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	union := cluster.NewUnion(qt.S3, nil)
	q, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Compaction: engine.CompactionConfig{Interval: time.Hour},
		Tiering:    engine.TierConfig{Tier: qt, Interval: time.Hour, ReadOnly: true, Manifests: union.Load}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return &fixture{srv: srv, e: q}
}

// reload makes a query node read the writers' bucket manifests again.
func (f *fixture) reload(t *testing.T) {
	t.Helper()
	if err := f.e.ReloadBucketManifest(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// tierWriters runs a tiering pass on every writer at once (each ends with
// its commit into the shared table) and fails on any pass's error.
func tierWriters(t *testing.T, ws ...*fixture) {
	t.Helper()
	for i, err := range tierAll(ws) {
		if err != nil {
			t.Fatalf("tier pass of writer %d: %v", i, err)
		}
	}
}

// writeHosts writes hosts every 20 minutes over [from, to) with values of
// round (the fixture's columns), flushes and compacts.
func writeHosts(t *testing.T, e *engine.Engine, hosts []string, from, to int64, round int, keep func(ts int64) bool) {
	t.Helper()
	step := int64(20 * time.Minute)
	var b columnar.Batch
	line := 0
	for ts := from; ts < to; ts += step {
		if keep != nil && !keep(ts) {
			continue
		}
		for h, host := range hosts {
			line++
			b.StartRow([]byte("cpu"), line)
			b.AddTag([]byte("host"), []byte(host))
			b.AddTag([]byte("region"), []byte([]string{"eu", "us"}[h%2]))
			b.AddFloat([]byte("usage"), float64((ts/step)%97)+float64(h)/10+float64(100*round))
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(ts/step%1000))
			b.AddNum([]byte("u"), columnar.FieldUint, uint64(round))
			b.AddString([]byte("note"), []byte(fmt.Sprintf("round %d", round)))
			b.AddNum([]byte("ok"), columnar.FieldBool, uint64(round%2))
			b.EndRow(ts)
		}
	}
	if _, err := e.Write(db, &b); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := e.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A partition (hosts a0..a2) moves from w1 to w2 mid-window: w2 consumes
// the last poll again (the same values) and rewrites some of w1's points
// (new values); both tier the window to a real MinIO and publish into the
// shared table. w2's copies are newer (write stamps), so a query node
// answers them; w1 withholds its window until its compaction has
// rewritten its segment without them, and then iceberg-go's scan and
// DuckDB read exactly the query node's rows: every point once, with its
// newest value.
func TestIcebergMinIOPointOnTwoWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO and DuckDB")
	}
	srv := miniotest.Start(t)
	w1, w2 := peerWriter(t, srv, "w1"), peerWriter(t, srv, "w2")
	ctx := context.Background()
	day := int64(segment.WindowDuration)
	win := w1.today - 3*day
	mid := win + day/2
	partA := []string{"a0", "a1", "a2"}
	writeHosts(t, w2.e, []string{"b0", "b1"}, win, win+day, 1, nil) // w2's own partition
	writeHosts(t, w1.e, partA, win, mid, 1, nil)                    // w1's, until the hand-over
	// w2 takes partition A over: the poll before the hand-over again,
	// then every third point of the morning rewritten, then on.
	poll := mid - 2*int64(time.Hour)
	writeHosts(t, w2.e, partA, poll, mid, 1, nil)
	writeHosts(t, w2.e, partA, win, mid, 2, func(ts int64) bool { return (ts/int64(20*time.Minute))%3 == 0 })
	writeHosts(t, w2.e, partA, mid, win+day, 1, nil)

	tierWriters(t, w2, w1)
	qf := queryNode(t, srv) // the union of the writers' bucket manifests
	want := qf.siltRows(t, win, win+day)
	// The query node's answer holds each point once, the rewrite's value
	// where there is one.
	points := map[string]bool{}
	rewritten := 0
	for _, r := range want {
		f := strings.Split(r, "|")
		if len(f) < 7 {
			t.Fatalf("row %q", r)
		}
		points[f[0]+"|"+f[1]] = true
		if f[6] == "round 2" {
			rewritten++
		}
	}
	if n := 2*72 + 3*72; len(points) != n || len(want) != n || rewritten == 0 {
		t.Fatalf("query node: %d rows, %d points, %d rewritten; want %d points", len(want), len(points), rewritten, n)
	}

	// w2's merged segment holds writes older than some of w1's (its own
	// partition's, before the hand-over), so until its compaction has
	// compared the points both hold, its window is withheld too (the
	// passes above ran at once: a second one has each writer see the
	// other's manifest). Its copies are all newer: it records w1's
	// segment as checked and keeps its file.
	tierWriters(t, w2, w1)
	if v, _, err := w2.pub.Current(ctx, db, "cpu"); err != nil {
		t.Fatal(err)
	} else if v > 0 {
		tbl, _ := w2.loadTable(t)
		if _, files := icebergRows(t, tbl); len(files) != 0 {
			t.Fatalf("the table lists %v before any writer compared the points both hold", files)
		}
	}
	before := w2.e.Manifest().Segments
	if err := w2.e.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	tierWriters(t, w2, w1)
	for _, s := range w2.e.Manifest().Segments {
		if !s.IsRollup() && !slices.ContainsFunc(before, func(b segment.SegmentMeta) bool { return b.Path == s.Path }) {
			t.Fatalf("w2 rewrote its segment into %s: none of its copies is older", s.Path)
		}
	}

	// w1's window is withheld (w2 holds newer copies of some of its
	// points): the table holds w2's rows only, each once.
	tbl, _ := w2.loadTable(t)
	got, files := icebergRows(t, tbl)
	for _, p := range files {
		if !strings.Contains(p, "/nodes/w2/") {
			t.Fatalf("the table lists %s before w1 rewrote its segment", p)
		}
	}
	sameRows(t, "iceberg-go scan before w1's rewrite", w2.siltRows(t, win, win+day), got)

	// w1's compaction rewrites its segment without them; its next pass
	// uploads it and publishes the window.
	if err := w1.e.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	tierWriters(t, w2, w1)
	qf.reload(t)
	sameRows(t, "the query node after w1's rewrite", want, qf.siltRows(t, win, win+day))
	tbl, _ = w2.loadTable(t)
	got, files = icebergRows(t, tbl)
	if !slices.ContainsFunc(files, func(p string) bool { return strings.Contains(p, "/nodes/w1/") }) {
		t.Fatalf("w1's window is still withheld: the table lists %v", files)
	}
	sameRows(t, "iceberg-go scan of the shared table", want, got)
	if d := w2.duckRows(t, files); d != nil {
		sameRows(t, "DuckDB over the shared table's files", want, d)
	}
}
