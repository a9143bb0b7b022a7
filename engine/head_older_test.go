package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/segment"
)

// A head whose rows repeat no flushed point is read alone where its time
// range overlaps the flushed segments' (the writes in flight at a flush's
// cut), and merged with them where it may repeat one; either way every
// point is answered once, with its newest value.
func TestScanReadsAHeadAloneWhereItRepeatsNothing(t *testing.T) {
	cfg := noCompactConfig(t.TempDir()) // compacted below, when the test asks
	cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 10, TargetRows: 100_000, L0Max: 2, MaxTail: 2}
	e := open(t, cfg)
	defer e.Close()
	model := map[string]float64{}
	put := func(pts ...point) {
		t.Helper()
		write(t, e, "db", pts...)
		for _, p := range pts {
			model[fmt.Sprintf("%s@%d", p.host, p.t)] = p.v
		}
	}
	read := func() (map[string]float64, int) { t.Helper(); return scanBatchesMerged(t, e, "db") }
	base := time.Now().Add(-72 * time.Hour).Truncate(time.Minute).UnixNano() // a window compaction takes
	sec := int64(time.Second)
	// h0's rows end at +90 s, h1's at +99 s: the flushed segment spans both.
	var pts []point
	for i := range 91 {
		pts = append(pts, point{"m", "h0", base + int64(i)*sec, float64(i)})
	}
	for i := range 100 {
		pts = append(pts, point{"m", "h1", base + int64(i)*sec, float64(1000 + i)})
	}
	put(pts...)
	// Writes in flight at the cut land in the next head while the flush
	// runs: h0 goes on after its own last row, at a time inside the
	// segment's range.
	beforeFlushCommit = func() {
		put(point{"m", "h0", base + 95*sec, 95}, point{"m", "h1", base + 100*sec, 1100})
	}
	flush(t, e)
	beforeFlushCommit = nil
	got, merged := read()
	checkModel(t, "head after the cut", got, model)
	if merged != 0 {
		t.Errorf("%d stretches merged point by point; the head repeats no flushed point", merged)
	}

	// Flushed, the head's segment overlaps the first in time and is read
	// alone too: it is marked fresh.
	flush(t, e)
	raw := e.Manifest().Raw()
	if len(raw) != 2 || !raw[1].Fresh {
		t.Fatalf("segments %+v: want two, the second fresh", raw)
	}
	if raw[1].MinTime > raw[0].MaxTime {
		t.Fatal("the segments do not overlap in time: the case is not tested")
	}
	got, merged = read()
	checkModel(t, "two segments overlapping at the cut", got, model)
	if merged != 0 {
		t.Errorf("%d stretches merged point by point; the second segment repeats no point of the first", merged)
	}
	// Merged by compaction, fresh segments make a fresh output holding the
	// age of their rows.
	compact(t, e)
	raw = e.Manifest().Raw()
	if len(raw) != 1 || !raw[0].Fresh || raw[0].DataSeqMin() >= raw[0].DataSeq() {
		t.Fatalf("after compaction %+v: want one fresh output spanning its inputs' flushes", raw)
	}
	got, _ = read()
	checkModel(t, "the compacted segment", got, model)

	// A rewrite of a flushed point: that stretch is merged, the new value
	// wins, in the head and once flushed.
	put(point{"m", "h1", base + 50*sec, -1})
	got, merged = read()
	checkModel(t, "head rewriting a flushed point", got, model)
	if merged == 0 {
		t.Error("a head rewriting a flushed point was read without merging")
	}
	flush(t, e)
	if raw := e.Manifest().Raw(); raw[len(raw)-1].Fresh {
		t.Error("the segment of a head rewriting a flushed point is marked fresh")
	}
	got, merged = read()
	checkModel(t, "segment rewriting a flushed point", got, model)
	if merged == 0 {
		t.Error("a segment rewriting a flushed point was read without merging")
	}
}

// A compaction output comes after the segments flushed since its inputs
// in the manifest, but holds older rows: a fresh segment flushed after its
// inputs repeats none of its points and is not grouped with it, while one
// flushed before them, or one not fresh, is.
func TestOverlapGroupsFreshAgainstCompactionOutputs(t *testing.T) {
	seg := func(lo, hi int64) *segment.Segment {
		return &segment.Segment{Info: segment.SegmentInfo{MinTime: lo, MaxTime: hi}}
	}
	for _, c := range []struct {
		name       string
		fresh      segment.SegmentMeta // the later-flushed segment
		outputSeq  uint64
		wantGroups int
	}{
		{"fresh, flushed after the output's inputs", segment.SegmentMeta{ID: 7, Fresh: true}, 5, 2},
		{"not fresh", segment.SegmentMeta{ID: 7}, 5, 1},
		{"fresh, but the output holds newer rows", segment.SegmentMeta{ID: 7, Fresh: true}, 8, 1},
	} {
		// The output (id 9, rows up to 100) overlaps the later segment's
		// first rows (from 95): it sits after it in the manifest.
		output := segment.SegmentMeta{ID: 9, Seq: c.outputSeq}
		ts := &TableScan{segs: []*segment.Segment{seg(95, 200), seg(0, 100)}, metas: []segment.SegmentMeta{c.fresh, output}}
		if got := ts.overlapGroups(); len(got) != c.wantGroups {
			t.Errorf("%s: groups %v, want %d", c.name, got, c.wantGroups)
		}
	}
	// Two compaction outputs overlapping at a flush cut: one merged only
	// fresh segments, all flushed after the other's rows, is read alone.
	for _, c := range []struct {
		name       string
		newer      segment.SegmentMeta
		wantGroups int
	}{
		{"fresh output of flushes after the other's", segment.SegmentMeta{ID: 12, Seq: 8, SeqMin: 5, Fresh: true}, 2},
		{"fresh output reaching back past the other's rows", segment.SegmentMeta{ID: 12, Seq: 8, SeqMin: 3, Fresh: true}, 1},
		{"output of a segment not fresh", segment.SegmentMeta{ID: 12, Seq: 8, SeqMin: 5}, 1},
	} {
		older := segment.SegmentMeta{ID: 11, Seq: 4, SeqMin: 1}
		ts := &TableScan{segs: []*segment.Segment{seg(0, 100), seg(95, 200)}, metas: []segment.SegmentMeta{older, c.newer}}
		if got := ts.overlapGroups(); len(got) != c.wantGroups {
			t.Errorf("%s: groups %v, want %d", c.name, got, c.wantGroups)
		}
	}
}
