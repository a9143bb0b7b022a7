package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/tiering"
)

// answerBatches reads every point the engine serves for db.cpu through
// RunBatches (the path SQL and InfluxQL take).
func answerBatches(t testing.TB, e *engine.Engine) lwwModel {
	t.Helper()
	ts, err := e.OpenScanContext(context.Background(), "db", "cpu", math.MinInt64, math.MaxInt64, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ts.Columns = []string{"usage"}
	got := lwwModel{}
	err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
		host := -1
		for i, tv := range b.Tags {
			if tv.Name == "host" {
				host = i
			}
		}
		usage := -1
		for i, fv := range b.Fields {
			if fv.Name == "usage" {
				usage = i
			}
		}
		row := func(r int) error {
			k := lwwKey{b.Tags[host].Dict[b.Tags[host].IDs[r]], b.Time[r]}
			if _, dup := got[k]; dup {
				return fmt.Errorf("point %v delivered twice", k)
			}
			got[k] = b.Fields[usage].F[r]
			return nil
		}
		if b.Sel != nil {
			for _, r := range b.Sel {
				if err := row(int(r)); err != nil {
					return err
				}
			}
			return nil
		}
		for r := range b.Len {
			if err := row(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Two writers over a real MinIO rewrite the same points of one day
// window in turns (a partition moving back and forth), each turn flushed
// and tiered, and then both merge their window: each writer's merged
// segment spans every turn, so the two copies' write ranges interleave
// and no order of whole segments is right for every point. The query
// node must answer each point's last write — the model's, computed from
// the test's order of writes — through Run and RunBatches, from the
// per-point stamps; ordering copies by the union's order of segments
// (StampMergeOff) must answer otherwise (the case proves something).
// interleavedCluster writes hosts × points points of one day window on
// two writers over a real MinIO in rounds, alternating writers, each round
// rewriting about half the points, flushed and tiered; then both writers
// merge their window. It returns a query node over the bucket and the
// model of the last writes.
func interleavedCluster(tb testing.TB, hosts, points, rounds int) (*engine.Engine, lwwModel) {
	t := tb
	srv := miniotest.Start(t)
	const root = "stamps"
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	openTier := func(prefix string) *tiering.Tier { return minioTier(t, srv, prefix) }
	openWriter := func(id string) *engine.Engine {
		e, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet,
			Compaction: engine.CompactionConfig{Interval: time.Hour},
			Tiering:    engine.TierConfig{Tier: openTier(WriterPrefix(root, id)), After: time.Hour, Interval: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	flushTier := func(e *engine.Engine) {
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.TierNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	w1, w2 := openWriter("w1"), openWriter("w2")
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixNano()
	rng := rand.New(rand.NewPCG(21, 7))
	model := lwwModel{}
	for round := 1; round <= rounds; round++ {
		w := w1
		if round%2 == 0 {
			w = w2
		}
		var ps []lwwPoint
		for h := range hosts {
			for k := range points {
				if round > 1 && rng.IntN(2) == 0 {
					continue
				}
				ps = append(ps, lwwPoint{fmt.Sprintf("h%d", h), day + int64(k)*int64(time.Minute), float64(round*1_000_000 + h*1000 + k)})
			}
		}
		for len(ps) > 0 { // requests of at most 5,000 lines
			n := min(len(ps), 5000)
			writeLWW(t, w, ps[:n])
			model.add(ps[:n])
			ps = ps[n:]
		}
		flushTier(w)
	}
	for _, w := range []*engine.Engine{w1, w2} {
		if err := w.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.TierNow(ctx); err != nil {
			t.Fatal(err)
		}
		raw := 0
		for _, s := range w.Manifest().Segments {
			if !s.IsRollup() {
				raw++
			}
		}
		if raw != 1 {
			t.Fatalf("a writer holds %d segments of the window after compaction, want 1", raw)
		}
	}
	qt := openTier(root)
	union := NewUnion(qt.S3, quiet)
	q, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet,
		Compaction: engine.CompactionConfig{Interval: time.Hour},
		Tiering:    engine.TierConfig{Tier: qt, Interval: time.Hour, ReadOnly: true, Manifests: union.Load}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if err := q.ReloadBucketManifest(ctx); err != nil {
		t.Fatal(err)
	}
	return q, model
}

func TestLastWriteWinsInterleavedStampsMinIO(t *testing.T) {
	q, model := interleavedCluster(t, 6, 40, 8)
	sameAnswer(t, "Run", answer(t, q), model)
	sameAnswer(t, "RunBatches", answerBatches(t, q), model)

	engine.StampMergeOff = true
	defer func() { engine.StampMergeOff = false }()
	differ := 0
	for k, v := range answer(t, q) {
		if model[k] != v {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("ordering whole segments answers as the stamps do: the case proves nothing")
	}
	t.Logf("%d of %d points would answer an older write without per-point stamps", differ, len(model))
}

// BenchmarkQueryNodeStampMerge: what ordering writers' copies by
// per-point stamps costs a query node's full scan (RunBatches) of a window
// both writers merged (100 hosts, 720 points each, 4 turns), against
// ordering whole segments (StampMergeOff): CPU per point delivered.
func BenchmarkQueryNodeStampMerge(b *testing.B) {
	q, model := interleavedCluster(b, 100, 720, 4)
	for _, c := range []struct {
		name string
		off  bool
	}{{"segment-order", true}, {"stamps", false}} {
		b.Run(c.name, func(b *testing.B) {
			engine.StampMergeOff = c.off
			defer func() { engine.StampMergeOff = false }()
			answerBatches(b, q) // the block cache warmed
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				before := processCPU(b)
				answerBatches(b, q)
				cpu += processCPU(b) - before
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(model)), "cpu-ns/point")
		})
	}
}

// processCPU returns the CPU time (user and system) the process has used:
// less disturbed by a busy machine than wall time.
func processCPU(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQueryNodeLastStamps: what deciding equal times by stamp costs
// a query node's last-value scan (LastOnly: last() and lastpoint) of a
// window both writers merged (100 hosts), against folding the sources in
// the union's order (StampMergeOff): CPU per query, the segments'
// summaries cached (the first query of each mode computed them).
func BenchmarkQueryNodeLastStamps(b *testing.B) {
	q, _ := interleavedCluster(b, 100, 720, 4)
	last := func() {
		ts, err := q.OpenScanContext(context.Background(), "db", "cpu", math.MinInt64, math.MaxInt64, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ts.Close()
		ts.Columns, ts.LastOnly = []string{"host", "usage"}, true
		rows := 0
		if err := ts.RunBatches(context.Background(), func(cb *columnar.ColumnBatch) error { rows += cb.Len; return nil }); err != nil {
			b.Fatal(err)
		}
		if rows != 100 {
			b.Fatalf("%d rows, want a row per host", rows)
		}
	}
	for _, c := range []struct {
		name string
		off  bool
	}{{"union-order", true}, {"stamps", false}} {
		b.Run(c.name, func(b *testing.B) {
			engine.StampMergeOff = c.off
			defer func() { engine.StampMergeOff = false }()
			last() // the summaries cached
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				before := processCPU(b)
				last()
				cpu += processCPU(b) - before
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/query")
		})
	}
}
