package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
)

// agedLayout writes what a server holds after history was written twice
// (silt bench dashboard run twice on one server): history at aligned
// times, flushes of live rows stamped with a clock, the history written
// again over them — repeating the first history's points and, late, one
// live point, and none of the other live ones — and more live flushes.
// It returns the model of what was written (host@time → last value) and
// a live time range the rewrite repeats nothing in.
func agedLayout(t *testing.T, e *Engine) (model map[string]float64, quietLo, quietHi int64) {
	model = map[string]float64{}
	put := func(pts []point) {
		t.Helper()
		write(t, e, "db", pts...)
		for _, p := range pts {
			model[fmt.Sprintf("%s@%d", p.host, p.t)] = p.v
		}
	}
	const hosts = 6
	sec := int64(time.Second)
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Hour).UnixNano()
	history := func(from, to int64, v float64) []point {
		var pts []point
		for ts := from; ts < to; ts += 10 * sec {
			for h := range hosts {
				pts = append(pts, point{"m", fmt.Sprintf("h%d", h), ts, v + float64(h)})
			}
		}
		return pts
	}
	put(history(base-time.Hour.Nanoseconds(), base, 1))
	flush(t, e)
	// Live rows: every host every 1.3 s, off the 10 s grid (a clock's
	// stamps), four flushes.
	clock := base + 7
	live := func(n int, v float64) {
		var pts []point
		for range n {
			for h := range hosts {
				pts = append(pts, point{"m", fmt.Sprintf("h%d", h), clock, v})
			}
			clock += 1300 * int64(time.Millisecond)
		}
		put(pts)
		flush(t, e)
	}
	for i := range 4 {
		live(40, float64(100+i))
		if i == 0 {
			quietLo = clock // after the flush rewritten late
		}
	}
	quietHi = clock
	// The history again: it repeats every point of the first, and its
	// grid runs through the live rows' minutes, sharing none of them —
	// but for one live point of h2 written again late.
	pts := history(base-time.Hour.Nanoseconds()/2, clock, 2)
	late := base + 7 + 3*1300*int64(time.Millisecond)
	pts = append(pts, point{"m", "h2", late, -5})
	put(pts)
	flush(t, e)
	if raw := e.Manifest().Raw(); raw[len(raw)-1].Fresh {
		t.Fatal("the rewrite's segment is fresh: the case is not tested")
	}
	for i := range 2 {
		live(30, float64(200+i))
	}
	return model, quietLo, quietHi
}

// On an aged layout, the segments the rewrite of history shares no point
// with are read alone once checked, and every answer still equals the
// model: the rewrite's values win where it repeats a point, the late
// rewrite of a live point included.
func TestScanAgedLayoutReadsPointDisjointSegmentsAlone(t *testing.T) {
	e := open(t, noCompactConfig(t.TempDir()))
	defer e.Close()
	model, _, _ := agedLayout(t, e)
	got, mergedBefore := scanBatchesMerged(t, e, "db")
	checkModel(t, "before the check", got, model)
	if err := e.checkApart(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, merged := scanBatchesMerged(t, e, "db")
	checkModel(t, "after the check", got, model)
	if merged >= mergedBefore {
		t.Errorf("%d stretches merged after the check, %d before: the segments sharing no point are still merged", merged, mergedBefore)
	}
	// Each segment sharing no point with any other, by reading them all
	// (a reference), is a group of its own; the others are grouped.
	ts, err := e.OpenScan("db", "m")
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	owner := map[string]int{}
	shares := make([]bool, len(ts.segs))
	for i, seg := range ts.segs {
		if err := seg.Scan(func(p *columnar.Point) error {
			k := fmt.Sprintf("%s@%d", p.Tags[0].Value, p.Time)
			if o, ok := owner[k]; ok {
				shares[o], shares[i] = true, true
			}
			owner[k] = i
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	groups := ts.overlapGroups()
	for _, g := range groups {
		for _, i := range g {
			if (len(g) == 1) == shares[i] {
				t.Errorf("groups %v: segment %d (id %d) shares a point: %v", groups, i, ts.metas[i].ID, shares[i])
			}
		}
	}
	if len(groups) < len(ts.segs)-4 {
		t.Fatalf("groups %v: the layout has too few segments sharing no point", groups)
	}
	// Checking again reads nothing new and finds the same.
	before := *e.comp.apart.Load()
	if err := e.checkApart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := *e.comp.apart.Load(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a second check found %v, the first %v", after, before)
	}
}

// A dashboard's panel over the live minutes the rewrite repeats nothing
// in is answered from rollups and partials, with nothing merged point by
// point, once the pairs are checked; before, the rewrite's segment was
// merged with every live flush.
func TestScanAgedLayoutPanelTakesRollups(t *testing.T) {
	cfg := noCompactConfig(t.TempDir())
	e := open(t, cfg)
	defer e.Close()
	model, lo, hi := agedLayout(t, e)
	width := int64(10 * time.Second)
	lo = (lo/width + 1) * width // whole windows
	panel := func() (merged int, rollupRows int) {
		t.Helper()
		ts, err := e.OpenScanRollups("db", "m", lo, hi, []int64{width})
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		ts.Columns = []string{"host", "v"}
		err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
			if b.Rollup != 0 {
				rollupRows += b.Len
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ts.SlicesMerged, rollupRows
	}
	if merged, _ := panel(); merged == 0 {
		t.Fatal("nothing merged before the check: the case is not tested")
	}
	if err := e.checkApart(context.Background()); err != nil {
		t.Fatal(err)
	}
	merged, rollupRows := panel()
	if merged != 0 {
		t.Errorf("%d stretches merged over live minutes the rewrite repeats nothing in", merged)
	}
	if rollupRows == 0 {
		t.Error("no rollup rows: the panel read raw rows")
	}
	got, _ := scanBatchesMerged(t, e, "db")
	checkModel(t, "the table", got, model)
}

// The compactor's loop checks the pairs on its own: with compaction on,
// the rewrite's segment ends up apart from the live flushes it repeats
// nothing of, and the answers still equal the model.
func TestCompactorChecksPairs(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Compaction.Interval = 10 * time.Millisecond
	// Segments stay as flushed (all under FloorRows, never L0Max of
	// them): a merge of everything leaves no pair to check.
	cfg.Compaction.Policy = compaction.Policy{Ratio: 4, FloorRows: 1 << 40, TargetRows: 1 << 41, L0Max: 100, MaxTail: 100}
	cfg.Compaction.ColdAfter = 1000 * time.Hour // nor a quiet window's merge
	e := open(t, cfg)
	defer e.Close()
	model, _, _ := agedLayout(t, e)
	deadline := time.Now().Add(30 * time.Second)
	for {
		found := false
		if s := e.comp.apart.Load(); s != nil {
			for _, apart := range *s {
				found = found || apart
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			for _, m := range e.Manifest().Raw() {
				t.Logf("id %d fresh %v seq %d..%d [%d, %d] rows %d", m.ID, m.Fresh, m.DataSeqMin(), m.DataSeq(), m.MinTime, m.MaxTime, m.Rows)
			}
			t.Fatal("no pair of segments found apart after 30s of compaction passes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, _ := scanBatchesMerged(t, e, "db")
	checkModel(t, "the table", got, model)
}
