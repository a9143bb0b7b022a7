package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/tiering"
)

// lwwPoint is one write of the test's stream: host, time and value.
type lwwPoint struct {
	host string
	t    int64
	v    float64
}

type lwwKey struct {
	host string
	t    int64
}

// lwwModel is last write wins computed in the test: the value of each
// point's last write, in the order the test made the writes.
type lwwModel map[lwwKey]float64

func (m lwwModel) add(ps []lwwPoint) {
	for _, p := range ps {
		m[lwwKey{p.host, p.t}] = p.v
	}
}

func writeLWW(t testing.TB, e *engine.Engine, ps []lwwPoint) {
	t.Helper()
	var body []byte
	for _, p := range ps {
		body = fmt.Appendf(body, "cpu,host=%s usage=%v %d\n", p.host, p.v, p.t)
	}
	var b columnar.Batch
	var lerr []columnar.LineError
	lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { lerr = append(lerr, e) })
	if len(lerr) > 0 {
		t.Fatalf("line protocol: %v", lerr[0])
	}
	res, err := e.Write("db", &b)
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("write: %v %v", err, res.Rejected)
	}
}

// answer reads every point the engine serves for db.cpu.
func answer(t *testing.T, e *engine.Engine) lwwModel {
	t.Helper()
	ts, err := e.OpenScanContext(context.Background(), "db", "cpu", math.MinInt64, math.MaxInt64, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	got := lwwModel{}
	err = ts.Run(func(p *columnar.Point) error {
		host := ""
		for _, tg := range p.Tags {
			if tg.Key == "host" {
				host = tg.Value
			}
		}
		k := lwwKey{host, p.Time}
		if _, dup := got[k]; dup {
			return fmt.Errorf("point %v delivered twice", k)
		}
		for _, f := range p.Fields {
			if f.Key == "usage" {
				got[k] = math.Float64frombits(f.Num)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameAnswer(t *testing.T, what string, got, want lwwModel) {
	t.Helper()
	bad := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			if bad < 5 {
				t.Errorf("%s: %s at %d: query node %v (present %v), model %v", what, k.host, k.t, g, ok, v)
			}
			bad++
		}
	}
	if len(got) != len(want) || bad > 0 {
		t.Fatalf("%s: %d points differ; query node has %d points, model %d", what, bad, len(got), len(want))
	}
}

// A partition moves from w2 to w1, whose slot is earlier (node ids in
// order): w1 consumes again the last poll w2 made durable (the same
// values) and then rewrites points w2 holds with new values. Both tier
// to a real MinIO; a query node over the union must answer, for every
// point, its last write — the model's — and not the later slot's copy.
// Then w1 merges its window (its compaction output spans writes from
// before and after w2's), and w2 gets the partition back and rewrites
// some points again: each time the newest write wins. With the union
// ordering writers by slot, as before, the rewrites read their old values.
func TestLastWriteWinsAcrossWritersMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	const root = "lww"
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
	// flushTier makes everything the writer holds a cold segment.
	flushTier := func(e *engine.Engine) {
		t.Helper()
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.TierNow(ctx); err != nil {
			t.Fatal(err)
		}
		for _, s := range e.Manifest().Segments {
			if !s.Cold() {
				t.Fatalf("segment %s is still local", s.Path)
			}
		}
	}
	w1, w2 := openWriter("w1"), openWriter("w2")

	// A past day, tiered at once: partition p holds hosts h%2 == p, 30
	// points each every minute.
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixNano()
	stream := func(p, round int) []lwwPoint {
		var out []lwwPoint
		for h := p; h < 8; h += 2 {
			for k := range 30 {
				out = append(out, lwwPoint{fmt.Sprintf("h%d", h), day + int64(k)*int64(time.Minute), float64(round*1000 + h*100 + k)})
			}
		}
		return out
	}
	model := lwwModel{}
	write := func(e *engine.Engine, ps []lwwPoint) {
		writeLWW(t, e, ps)
		model.add(ps)
	}
	write(w1, stream(1, 1)) // partition 1 on w1
	write(w2, stream(0, 1)) // partition 0 on w2
	flushTier(w1)
	flushTier(w2)

	qt := openTier(root)
	union := NewUnion(qt.S3, quiet)
	q, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet,
		Compaction: engine.CompactionConfig{Interval: time.Hour},
		Tiering:    engine.TierConfig{Tier: qt, Interval: time.Hour, ReadOnly: true, Manifests: union.Load}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	reload := func() {
		t.Helper()
		if err := q.ReloadBucketManifest(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if u1, u2 := union.slot("w1"), union.slot("w2"); !(u1 < u2) {
		t.Fatalf("slots w1 %d, w2 %d: the test needs w1 first", u1, u2)
	}
	sameAnswer(t, "before the hand-over", answer(t, q), model)

	// Hand-over of partition 0 to w1: the last poll again (same values),
	// then every third point of it rewritten with new values.
	p0 := stream(0, 1)
	write(w1, p0[len(p0)-20:])
	var rewrite []lwwPoint
	for i, p := range stream(0, 2) {
		if i%3 == 0 {
			rewrite = append(rewrite, p)
		}
	}
	write(w1, rewrite)
	flushTier(w1)
	reload()
	sameAnswer(t, "after w1 rewrote w2's points", answer(t, q), model)

	// w1 merges its window: the output's writes span w2's.
	if err := w1.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w1.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	reload()
	sameAnswer(t, "after w1 merged its window", answer(t, q), model)

	// The partition goes back to w2, which rewrites some points again.
	var again []lwwPoint
	for i, p := range stream(0, 3) {
		if i%5 == 0 {
			again = append(again, p)
		}
	}
	write(w2, again)
	flushTier(w2)
	reload()
	sameAnswer(t, "after w2 rewrote them again", answer(t, q), model)
}
