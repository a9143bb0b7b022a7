package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
)

// ackState is what one writer of TestHeadsViewAckedRowsExactlyOnce had
// acknowledged: batches [0, acked) of its rows in "cpu", and in its own
// table "d<w>" the batches [dropped, acked) (the batches before dropped
// went with a drop acknowledged after them); started counts the batches
// it began to write (acknowledged or not), and dropping is dropped for a
// drop begun (its rows before may be there or not until it is
// acknowledged).
type ackState struct {
	acked, dropped, started, dropping int
}

// TestHeadsViewAckedRowsExactlyOnce: writers append to a shared table and
// to a table each that they drop now and then, while flushes (the flush
// loop's and a goroutine's) and compactions turn heads into segments and
// merge them, and readers scan without the engine's lock (heads_pub.go).
// Against a model of what was acknowledged when each scan began and what
// was begun when it ended: every acknowledged row is there, no row of a
// batch not yet begun and none before an acknowledged drop; and the
// scan's sources hold each row once (a flushed frozen set and its
// segments never both, which the merge alone would hide). TimeBounds and
// headOverlaps are checked against the same model. Run with -race: views,
// frozen heads and published maps are read while written.
func TestHeadsViewAckedRowsExactlyOnce(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.FlushBytes = 48 << 10 // a flush every few batches
	cfg.Compaction.Interval = 5 * time.Millisecond
	cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 1 << 20, TargetRows: 100_000, L0Max: 2, MaxTail: 2}
	e := open(t, cfg)
	defer e.Close()
	const writers, batches, rows, dropEvery = 3, 40, 40, 5

	// Every view published, whether a scan loads it or not, holds the
	// rows of "cpu" (never dropped, no point written twice) once: their
	// count goes up with writes and stays through freezes, flushes and
	// merges. A view with a flushed set and its segments both, or
	// neither, would raise it or lower it for one publication.
	var published []string // violations
	lastRows := int64(-1)
	afterHeadsPublished = func(pe *Engine, v *headsView) {
		if pe != e {
			return
		}
		n := viewRows(v, "db", "cpu")
		if n < lastRows {
			published = append(published, fmt.Sprintf("a view holds %d rows of cpu after one with %d", n, lastRows))
		}
		lastRows = n
	}
	t.Cleanup(func() { afterHeadsPublished = nil })

	var states [writers]atomic.Pointer[ackState]
	for w := range writers {
		states[w].Store(&ackState{})
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := ackState{}
			publish := func() { c := st; states[w].Store(&c) } // a copy: st goes on changing
			for i := range batches {
				st.started = i + 1
				publish()
				var b columnar.Batch
				for r := range rows {
					ts := int64(i*rows + r)
					for _, table := range []string{"cpu", "d" + strconv.Itoa(w)} {
						b.StartRow([]byte(table), r+1)
						b.AddTag([]byte("w"), []byte(strconv.Itoa(w)))
						b.AddFloat([]byte("v"), float64(ts))
						b.EndRow(ts)
					}
				}
				if res, err := e.Write("db", &b); err != nil || len(res.Rejected) > 0 {
					t.Errorf("writer %d batch %d: %v %v", w, i, res.Rejected, err)
					return
				}
				st.acked = i + 1
				publish()
				if i%dropEvery == dropEvery-1 {
					st.dropping = i + 1
					publish()
					if err := e.DropTable("db", "d"+strconv.Itoa(w)); err != nil {
						t.Errorf("writer %d drop: %v", w, err)
						return
					}
					st.dropped = i + 1
					publish()
				}
			}
		}()
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	loop := func(f func() bool) {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !f() {
					return
				}
			}
		}()
	}
	loop(func() bool {
		_ = e.Flush()
		time.Sleep(time.Millisecond)
		return true
	})
	loop(func() bool {
		// A drop takes a merge's inputs away now and then: the merge
		// is retried, which is no concern here.
		_ = e.Compact(context.Background())
		return true
	})
	var scans atomic.Int64
	for range 2 {
		loop(func() bool {
			ok := checkAckedOnce(t, e, "cpu", -1, &states)
			for w := range writers {
				ok = ok && checkAckedOnce(t, e, "d"+strconv.Itoa(w), w, &states)
			}
			scans.Add(1)
			return ok
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	e.mu.Lock()
	for _, p := range published[:min(len(published), 5)] {
		t.Error(p)
	}
	e.mu.Unlock()
	// Once everything is flushed, the view is the engine's state: no
	// frozen set kept past its flush, the manifest that names its
	// segments (which scans check their references against).
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	checkViewCurrent(t, e, "after the final flush")
	if !t.Failed() {
		checkAckedOnce(t, e, "cpu", -1, &states)
	}
	// The test means nothing unless scans met flushes and merges.
	flushes, merges := testutil.ToFloat64(e.metrics.SegmentsFlushed), testutil.ToFloat64(e.comp.m.Runs)
	t.Logf("%d scan rounds, %v segments flushed, %v merges", scans.Load(), flushes, merges)
	if flushes == 0 || merges == 0 {
		t.Errorf("%v segments flushed and %v merges: the scans met no flush or no merge", flushes, merges)
	}
}

// viewRows counts the rows of db.table in v's sources: segments (not
// their rollups), frozen heads and the active head's latest snap.
func viewRows(v *headsView, db, table string) int64 {
	var n int64
	for _, s := range v.manifest.Segments {
		if s.DB == db && s.Table == table && !s.IsRollup() {
			n += s.Rows
		}
	}
	for _, fs := range v.frozen {
		if h := fs.heads[db][table]; h != nil {
			n += int64(h.Len())
		}
	}
	if s := v.activeSnap(db, table); s != nil {
		n += int64(s.view.Len())
	}
	return n
}

// checkAckedOnce scans db.table once and checks it against the writers'
// states (see TestHeadsViewAckedRowsExactlyOnce). only >= 0: the table of
// writer only, whose drops count; -1: the shared table, of every writer.
func checkAckedOnce(t *testing.T, e *Engine, table string, only int, states *[3]atomic.Pointer[ackState]) bool {
	t.Helper()
	var before, after [3]ackState
	for w := range states {
		before[w] = *states[w].Load()
	}
	// Asked before the scan: the heads then hold rows in any range
	// holding an acknowledged row that no segment has yet.
	overlaps := e.headOverlaps("db", table, timeSpan{0, math.MaxInt64})
	lo, hi, bounded := e.TimeBounds("db", table)
	ts, err := e.OpenScan("db", table)
	if err != nil {
		t.Errorf("open scan of %s: %v", table, err)
		return false
	}
	var sourceRows, segRows int64
	for _, m := range ts.metas {
		segRows += m.Rows
	}
	sourceRows = segRows
	for _, h := range ts.heads[:ts.ownHeads] {
		sourceRows += int64(h.Len())
	}
	seen := map[string]bool{}
	err = ts.Run(func(p *columnar.Point) error {
		k := fmt.Sprintf("%s@%d", p.Tags[0].Value, p.Time)
		if seen[k] {
			return fmt.Errorf("point %s twice", k)
		}
		seen[k] = true
		if v := math.Float64frombits(p.Fields[0].Num); v != float64(p.Time) {
			return fmt.Errorf("point %s: value %v", k, v)
		}
		return nil
	})
	err = errors.Join(err, ts.Close())
	if err != nil {
		t.Errorf("scan of %s: %v", table, err)
		return false
	}
	for w := range states {
		after[w] = *states[w].Load()
	}
	ok := true
	fail := func(format string, args ...any) {
		t.Errorf("%s: "+format, append([]any{table}, args...)...)
		ok = false
	}
	if int64(len(seen)) != sourceRows {
		fail("the scan's sources hold %d rows for %d points: a row twice (a flushed set and its segments both?) or rows lost", sourceRows, len(seen))
	}
	const rows = 40
	for w := range states {
		if only >= 0 && w != only {
			continue
		}
		from := 0
		if only >= 0 {
			from = before[w].dropping
		}
		for i := from; i < before[w].acked; i++ {
			for r := range rows {
				k := fmt.Sprintf("%d@%d", w, i*rows+r)
				if !seen[k] {
					fail("acknowledged point %s (batch %d, %+v at the scan's start) missing", k, i, before[w])
					return false
				}
				delete(seen, k)
			}
		}
		if before[w].acked > from {
			if !bounded || lo > int64(from*rows) || hi < int64(before[w].acked*rows-1) {
				fail("TimeBounds %d, %d, %v miss acknowledged times [%d, %d]", lo, hi, bounded, from*rows, before[w].acked*rows-1)
			}
		}
	}
	if only < 0 && !overlaps {
		// No head held rows when asked: every row acknowledged before
		// was in segments then, and segments do not go back to heads.
		var want int64
		for w := range states {
			want += int64(before[w].acked * rows)
		}
		if segRows < want {
			fail("headOverlaps said no head holds rows, yet the segments hold %d of the %d acknowledged", segRows, want)
		}
	}
	// What is left: rows of batches begun by the scan's end, after the
	// last drop acknowledged before its start.
	for k := range seen {
		var w, tm int
		if _, err := fmt.Sscanf(k, "%d@%d", &w, &tm); err != nil || (only >= 0 && w != only) {
			fail("unexpected point %s", k)
			continue
		}
		b := tm / rows
		if b >= after[w].started {
			fail("point %s of batch %d not begun when the scan ended (%+v)", k, b, after[w])
		}
		if only >= 0 && b < before[w].dropped {
			fail("point %s of batch %d, dropped before the scan began (%+v)", k, b, before[w])
		}
	}
	return ok
}

// TestScanAcquiresBeforeRetire: a merge commits and retires its inputs
// between a scan's load of the published view and its references to the
// view's segments (heads_pub.go). The scan must notice the manifest moved
// and take the merged segment instead of opening deleted inputs, and read
// every row once.
func TestScanAcquiresBeforeRetire(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Compaction.Interval = time.Hour // merges run when the test says
	cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 1 << 20, TargetRows: 100_000, L0Max: 2, MaxTail: 2}
	e := open(t, cfg)
	defer e.Close()
	pts := gen("cpu", 300, 0)
	for _, part := range [][]point{pts[:150], pts[150:]} {
		write(t, e, "db", part...)
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		checkViewCurrent(t, e, "after a flush")
	}
	before := e.Manifest()
	merged := false
	beforeSegmentsAcquired = func() {
		if merged {
			return
		}
		merged = true
		if err := e.Compact(context.Background()); err != nil {
			t.Errorf("compact: %v", err)
		}
	}
	defer func() { beforeSegmentsAcquired = nil }()
	got := dump(t, e, "db")
	if !merged || e.Manifest() == before {
		t.Fatal("no merge ran while the scan opened")
	}
	if want := expect(pts...); !reflect.DeepEqual(got, want) {
		t.Errorf("scan across a merge: %d points, want %d", len(got["cpu"]), len(want["cpu"]))
	}
	if n := e.refs.pending(); n != 0 {
		t.Errorf("%d retired segments still wait for readers after the scan closed", n)
	}
}

// checkViewCurrent checks that the published view is the engine's state:
// its manifest (which scans check their segment references against), no
// frozen set kept past its flush, the active heads.
func checkViewCurrent(t *testing.T, e *Engine, when string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.snapHeads()
	if v.manifest != e.manifest.Load() {
		t.Errorf("%s: the published view has another manifest than the engine", when)
	}
	if len(v.frozen) != len(e.frozen) {
		t.Errorf("%s: the published view has %d frozen sets, the engine %d", when, len(v.frozen), len(e.frozen))
	}
	for db, tables := range e.heads {
		for name, h := range tables {
			if lh := v.active[db][name]; lh == nil || lh.h != h || lh.snap.Load().view.Len() != h.Len() {
				t.Errorf("%s: active head %s.%s not published as it is", when, db, name)
			}
		}
	}
}
