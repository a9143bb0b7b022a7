package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine/wal"
	"github.com/siltdb/silt/segment"
)

// segmentStamps returns, per point (host@time) of db.cpu, the greatest
// write stamp any of e's raw segments holds for it (a newer copy of a
// point has a larger stamp), and whether every segment had the column.
func segmentStamps(t *testing.T, e *Engine, dir string) (map[string]int64, bool) {
	t.Helper()
	out := map[string]int64{}
	all := true
	for _, s := range rawSegments(e) {
		seg, err := segment.OpenSegment(filepath.Join(dir, filepath.FromSlash(s.Path)))
		if err != nil {
			t.Fatal(err)
		}
		all = all && seg.Info.WriteStamps
		rr, err := seg.Rows(128)
		if err != nil {
			t.Fatal(err)
		}
		var p columnar.Point
		for {
			ok, err := rr.Next(&p)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			k := fmt.Sprintf("%s@%d", p.Tags[0].Value, p.Time)
			out[k] = max(out[k], rr.Stamp())
		}
		rr.Close()
		if err := seg.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out, all
}

// Every acknowledged batch's stamp reaches its points' segments: written,
// flushed, crashed with some batches in the WAL only, replayed (the WAL
// keeps their stamps), flushed and compacted. The model is the stamp the
// engine's clock held after each write (the batch's), per point its
// newest write's. A record in the format before stamps (type 1) replays
// with a stamp taken at recovery: after every stamp before it.
func TestPointStampsSurviveCrashAndCompaction(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Compaction = CompactionConfig{Interval: time.Hour}
	e := open(t, cfg)
	rng := rand.New(rand.NewPCG(21, 1))
	model := map[string]int64{}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	batch := func() {
		var pts []point
		for range 1 + rng.IntN(30) {
			pts = append(pts, point{"cpu", fmt.Sprint("h", rng.IntN(5)), base + int64(rng.IntN(40))*1e9, float64(rng.IntN(100))})
		}
		write(t, e, "db", pts...)
		st := e.WriteClock() // this batch's stamp: no other writer
		for _, p := range pts {
			model[fmt.Sprintf("%s@%d", p.host, p.t)] = st
		}
	}
	for range 20 {
		batch()
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		batch() // rewrites many flushed points: larger stamps
	}
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	newest := e.WriteClock()

	appendUnstampedRecord(t, dir, base)

	e = open(t, cfg)
	defer func() { _ = e.Close() }()
	if e.WriteClock() <= newest {
		t.Fatalf("after replay the clock is %d, not past the replayed stamps (%d)", e.WriteClock(), newest)
	}
	recovered := e.WriteClock()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		got, all := segmentStamps(t, e, dir)
		if !all {
			t.Fatalf("%s: a segment without the stamp column", stage)
		}
		old := got["old@"+fmt.Sprint(base)]
		if old <= newest || old > recovered {
			t.Fatalf("%s: the unstamped record's point has stamp %d, want in (%d, %d]", stage, old, newest, recovered)
		}
		delete(got, "old@"+fmt.Sprint(base))
		if fmt.Sprint(got) != fmt.Sprint(model) {
			for k, v := range model {
				if got[k] != v {
					t.Errorf("%s: %s stamp %d, model %d", stage, k, got[k], v)
				}
			}
			t.Fatalf("%s: %d points, model %d", stage, len(got), len(model))
		}
	}
	check("flushed after replay")
	if err := e.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(rawSegments(e)); n != 1 {
		t.Fatalf("%d segments after compaction", n)
	}
	check("compacted")
}

// Rows of a record logged before stamps take a stamp at the replay that
// first finds them, and keep it: a second crash, after this node stamped
// newer writes, must not replay them again with a stamp later than those
// writes' (another writer's copy of a point written in between would then
// lose to the older value on a query node). Recover flushes them, with
// the stamps they took, before it accepts writes.
func TestUnstampedRecordsStampedOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Compaction = CompactionConfig{Interval: time.Hour}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	e := open(t, cfg)
	write(t, e, "db", point{"cpu", "a", base, 1})
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	appendUnstampedRecord(t, dir, base)

	e = open(t, cfg) // first start of the new build: replays the record
	stamps := func() map[string]int64 {
		t.Helper()
		ts, err := e.OpenScan("db", "cpu")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		err = ts.RunStamped(func(p *columnar.Point, st int64) error {
			got[p.Tags[0].Value] = st
			return nil
		})
		if err = errors.Join(err, ts.Close()); err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := stamps()["old"]
	write(t, e, "db", point{"cpu", "new", base, 2}) // a newer write, stamped
	newer := e.WriteClock()
	if first <= 0 || first >= newer {
		t.Fatalf("the replayed row's stamp %d, the newer write's %d", first, newer)
	}
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, cfg) // a second crash: the WAL holds the newer write
	defer func() { _ = e.Close() }()
	got := stamps()
	if got["old"] != first {
		t.Fatalf("after a second crash the row logged before stamps has stamp %d, %d before (the newer write's: %d)", got["old"], first, got["new"])
	}
	if got["new"] != newer {
		t.Fatalf("the newer write's stamp %d after the crash, %d before", got["new"], newer)
	}
}

// appendUnstampedRecord logs in dir's WAL, as a build before write stamps
// did, a type 1 record of one point: cpu,host=old v=1 at t.
func appendUnstampedRecord(t *testing.T, dir string, at int64) {
	t.Helper()
	w, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte("old"))
	b.AddFloat([]byte("v"), 1)
	b.EndRow(at)
	pos, err := w.Append(appendRecord(nil, "db", &b))
	if err == nil {
		err = w.Sync(pos)
	}
	if err = errors.Join(err, w.Close()); err != nil {
		t.Fatal(err)
	}
}
