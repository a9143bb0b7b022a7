package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// raceStore is the query node's object store (a real MinIO behind it)
// with a hook that orders the race the test is about: when armed, the
// nth GET of a segment object of the armed key runs fire first (the
// writer replaces the segment and deletes its object), then the GET goes
// to MinIO, which no longer has it.
type raceStore struct {
	tiering.ObjectStore
	mu    sync.Mutex
	key   string // the armed key ("" : disarmed)
	nth   int    // which GET of it fires
	gets  int
	fired bool
	fire  func()
}

func (s *raceStore) arm(key string, nth int, fire func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.nth, s.gets, s.fired, s.fire = key, nth, 0, false, fire
}

func (s *raceStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.mu.Lock()
	var fire func()
	if s.key != "" && key == s.key {
		s.gets++
		if s.gets == s.nth {
			fire, s.fired, s.key = s.fire, true, ""
		}
	}
	s.mu.Unlock()
	if fire != nil {
		fire() // under no lock of the query node's: it only waits for this GET
	}
	return s.ObjectStore.GetRange(ctx, key, off, n)
}

func (s *raceStore) didFire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// A query node plans a query on the writers' manifests; before it reads a
// segment (at its open, or between two reads of it), the writer merges
// the segment's window, tiers the output and deletes the replaced objects
// (--tier.delete-grace 0: what a scan longer than the grace meets). The
// query must answer exactly what a model of the writes says — run again
// on the reloaded manifests — and never from what it read before the
// object went. An object deleted while the manifests still name it fails
// the query, after its retries, with an error that says so.
func TestQueryNodeObjectGoneMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO")
	}
	srv := miniotest.Start(t)
	const root = "gone"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	openTier := func(prefix string) *tiering.Tier { return minioTier(t, srv, prefix) }
	w1, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet,
		FlushBytes: 1 << 30, MaxHeadBytes: 1 << 30,
		Compaction: engine.CompactionConfig{Interval: time.Hour},
		Tiering:    engine.TierConfig{Tier: openTier(WriterPrefix(root, "w1")), After: time.Hour, Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w1.Close() })
	tierNow := func() {
		t.Helper()
		if _, err := w1.TierNow(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Two days in the past, every 30 s for 8 hosts, values random
	// integers (exact float sums; segments past the 64 KiB a cold open
	// reads, so a scan reads them again after the open).
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixNano()
	rng := rand.New(rand.NewPCG(21, 7))
	model := lwwModel{}
	round := func(keep func(k int) bool) {
		var ps []lwwPoint
		for h := range 8 {
			for k := range 2 * 2880 {
				if keep(k) {
					ps = append(ps, lwwPoint{fmt.Sprintf("h%d", h), day + int64(k)*int64(30*time.Second), float64(rng.IntN(1 << 30))})
				}
			}
		}
		writeLWW(t, w1, ps)
		model.add(ps)
		if err := w1.Flush(); err != nil {
			t.Fatal(err)
		}
		tierNow()
	}
	// A window merged and tiered: a late write then lands a second segment
	// in each day, overlapping the first (every 7th point rewritten).
	newWindow := func() {
		round(func(int) bool { return true })
		round(func(k int) bool { return k%7 == 0 })
	}
	newWindow()
	for _, s := range w1.Manifest().Segments {
		if !s.Cold() {
			t.Fatalf("segment %s is still local", s.Path)
		}
	}

	qt := openTier(root)
	rs := &raceStore{ObjectStore: qt.Store}
	qt.Store = rs
	union := NewUnion(qt.S3, quiet)
	q, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet,
		Compaction: engine.CompactionConfig{Interval: time.Hour},
		Tiering:    engine.TierConfig{Tier: qt, Interval: time.Hour, ReadOnly: true, Manifests: union.Load}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })

	// The model's answers.
	wantRows := func() []string {
		var out []string
		for k, v := range model {
			out = append(out, fmt.Sprintf("%s|%d|%.0f", k.host, k.t, v))
		}
		slices.Sort(out)
		return out
	}
	wantAgg := func() []string {
		n, sum := map[string]int{}, map[string]float64{}
		for k, v := range model {
			n[k.host]++
			sum[k.host] += v
		}
		var out []string
		for h := range n {
			out = append(out, fmt.Sprintf("%s|%d|%.0f", h, n[h], sum[h]))
		}
		slices.Sort(out)
		return out
	}
	run := func(ctx context.Context, text string) ([]string, error) {
		tables, ok := q.Tables("db")
		if !ok {
			return nil, errors.New("no database db on the query node")
		}
		cat, names := exec.Catalog(tables)
		cq, err := sql.Compile(text, cat, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := exec.Run(ctx, cq, exec.EngineSource{Engine: q, DB: "db"}, names)
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(res.Rows))
		for _, r := range res.Rows {
			parts := make([]string, len(r))
			for i, v := range r {
				switch x := v.(type) {
				case time.Time:
					parts[i] = fmt.Sprint(x.UnixNano())
				case float64:
					parts[i] = fmt.Sprintf("%.0f", x)
				default:
					parts[i] = fmt.Sprint(x)
				}
			}
			out = append(out, strings.Join(parts, "|"))
		}
		slices.Sort(out)
		return out, nil
	}
	const rawQ = "SELECT host, time, usage FROM cpu"
	// The filter on a field keeps the planner off the rollups, so that the
	// aggregate reads the raw segment the race is about.
	const aggQ = "SELECT host, count(usage), sum(usage) FROM cpu WHERE usage >= 0 GROUP BY host"
	same := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			bad := 0
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] && bad < 3 {
					t.Errorf("%s: row %d: query node %q, model %q", what, i, got[i], want[i])
					bad++
				}
			}
			t.Fatalf("%s: query node answered %d rows, the model %d", what, len(got), len(want))
		}
	}
	retries := func() float64 { return counter(t, q, "silt_query_object_gone_retries_total") }
	failures := func() float64 { return counter(t, q, "silt_query_object_gone_failures_total") }

	// largest returns the biggest raw segment in the bucket that the query
	// node has not read yet (one it read is in its block cache, and a
	// deleted object is then never asked for).
	read := map[string]bool{}
	largest := func() segment.SegmentMeta {
		t.Helper()
		var segs []segment.SegmentMeta
		for _, s := range q.Manifest().Segments {
			if !s.IsRollup() && !read[s.Path] {
				segs = append(segs, s)
			}
		}
		if len(segs) == 0 {
			t.Fatal("the query node sees no raw segment it has not read")
		}
		return slices.MaxFunc(segs, func(a, b segment.SegmentMeta) int { return cmp.Compare(a.Bytes, b.Bytes) })
	}
	// Everything the query node serves now has been read (a query ran).
	readAll := func() {
		for _, s := range q.Manifest().Segments {
			read[s.Path] = true
		}
	}
	// replace is what the writer does meanwhile: merge the window, tier
	// the output, and delete the replaced objects (grace 0).
	replace := func(key string) func() {
		return func() {
			if err := w1.Compact(ctx); err != nil {
				t.Error(err)
				return
			}
			// Run from the query's read (maybe off the test's goroutine):
			// errors, not Fatal.
			for range 2 {
				if _, err := w1.TierNow(ctx); err != nil {
					t.Error(err)
					return
				}
			}
			if _, err := qt.S3.Stat(ctx, key); !errors.Is(err, tiering.ErrNotFound) {
				t.Errorf("the writer's pass left %s in the bucket (%v)", key, err)
			}
		}
	}
	if err := q.ReloadBucketManifest(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name  string
		query string
		want  func() []string
		nth   int // the GET of the segment before which it goes
	}{
		{"raw rows, object gone at the open", rawQ, wantRows, 1},
		{"aggregates, object gone between two reads", aggQ, wantAgg, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			if i > 0 {
				newWindow() // two overlapping segments again
				if err := q.ReloadBucketManifest(ctx); err != nil {
					t.Fatal(err)
				}
			}
			victim := largest()
			rs.arm(victim.Path, c.nth, replace(victim.Path))
			before := retries()
			got, err := run(ctx, c.query)
			readAll()
			if !rs.didFire() {
				t.Fatalf("the query never made GET number %d of %s: the race was not run", c.nth, victim.Path)
			}
			if err != nil {
				t.Fatalf("query failed after its object was replaced: %v", err)
			}
			same(c.name, got, c.want())
			if d := retries() - before; d != 1 {
				t.Fatalf("silt_query_object_gone_retries_total grew by %v, want 1", d)
			}
		})
	}

	// An object the manifests still name, deleted under them (a damaged
	// bucket): no reload helps. The query fails, after 1 + GoneRetries runs,
	// saying what was tried — never a short answer.
	newWindow()
	if err := q.ReloadBucketManifest(ctx); err != nil {
		t.Fatal(err)
	}
	victim := largest()
	if err := qt.S3.Delete(ctx, victim.Path); err != nil {
		t.Fatal(err)
	}
	before, failed := retries(), failures()
	got, err := run(ctx, rawQ)
	if err == nil {
		t.Fatalf("query answered %d rows with %s deleted under a manifest that names it", len(got), victim.Path)
	}
	if !errors.Is(err, engine.ErrObjectGone) || !engine.IsColdUnavailable(err) || !strings.Contains(err.Error(), victim.Path) ||
		!strings.Contains(err.Error(), fmt.Sprintf("ran the query %d times", engine.GoneRetries+1)) {
		t.Fatalf("error does not say what was tried: %v", err)
	}
	if d := retries() - before; d != engine.GoneRetries {
		t.Fatalf("retries grew by %v, want %d", d, engine.GoneRetries)
	}
	if d := failures() - failed; d != 1 {
		t.Fatalf("failures grew by %v, want 1", d)
	}
	t.Logf("the error: %v", err)

	// A streamed answer that already sent part of itself is not run again.
	runs := 0
	err = q.RetryGone(ctx, func() bool { return true }, func(ctx context.Context) error {
		runs++
		_, err := run(ctx, aggQ)
		return err
	})
	if runs != 1 || !errors.Is(err, engine.ErrObjectGone) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("after part of the answer was sent: %d runs, %v", runs, err)
	}
}

// counter reads a counter of the engine's registry.
func counter(t *testing.T, e *engine.Engine, name string) float64 {
	t.Helper()
	mfs, err := e.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
