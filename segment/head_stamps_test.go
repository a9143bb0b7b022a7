package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// A head written in batches, each with its stamp, some points written
// again by later batches, across two windows: the flushed segments'
// stamp column holds, for every point, the stamp of its newest write, as
// a model of the writes computes it; a compaction-style rewrite through
// the SegmentWriter keeps them; and a head without stamps writes a
// version 1 segment whose rows read stamp 0.
func TestHeadStampsFlushAndRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 5))
	s := columnar.NewTableSchema()
	h := NewHead(s)
	model := map[string]int64{} // point → stamp of its newest write
	stamp := int64(1_700_000_000_000_000_000)
	bytesBefore := h.Bytes()
	batches := 0
	for range 60 {
		stamp += int64(1 + rng.IntN(1000))
		batches++
		var b columnar.Batch
		n := 1 + rng.IntN(200)
		for i := range n {
			b.StartRow([]byte("m"), i+1)
			host := fmt.Sprint("h", rng.IntN(20))
			b.AddTag([]byte("host"), []byte(host))
			b.AddFloat([]byte("v"), float64(stamp))
			ts := int64(rng.IntN(2))*int64(WindowDuration) + int64(rng.IntN(50))
			b.EndRow(ts)
			model[fmt.Sprint(host, "/", ts)] = stamp
		}
		h.StampNext(stamp - 7) // retargeted before any row took it
		h.StampNext(stamp)
		for i := range b.Rows {
			if err := s.Admit(&b, &b.Rows[i]); err != nil {
				t.Fatal(err)
			}
			h.Append(&b, &b.Rows[i], false)
		}
	}
	if got := len(h.stamps); got != batches {
		t.Fatalf("%d stamp runs for %d batches", got, batches)
	}
	if h.Bytes()-bytesBefore < int64(batches*stampRunBytes) {
		t.Fatalf("head bytes do not count the stamp runs")
	}
	v := h.View()
	for i := range h.Len() {
		if v.StampOf(i) != h.StampOf(i) || h.StampOf(i) == 0 {
			t.Fatalf("row %d: view stamp %d, head %d", i, v.StampOf(i), h.StampOf(i))
		}
	}
	dir := t.TempDir()
	id := uint64(0)
	metas, err := WriteSegments(dir, "db", "m", h, func() uint64 { id++; return id })
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 2 {
		t.Fatalf("%d segments, want one per window", len(metas))
	}
	got := map[string]int64{}
	readStamps := func(path string, into map[string]int64) SegmentInfo {
		t.Helper()
		seg, err := OpenSegment(path)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		rr, err := seg.Rows(100)
		if err != nil {
			t.Fatal(err)
		}
		defer rr.Close()
		var p columnar.Point
		for {
			ok, err := rr.Next(&p)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			// The value is the stamp of the batch that wrote it: the
			// newest copy's, read from the field, agrees with the column.
			if float64(rr.Stamp()) != math.Float64frombits(p.Fields[0].Num) {
				t.Fatalf("point %v: stamp %d, value %v", p, rr.Stamp(), math.Float64frombits(p.Fields[0].Num))
			}
			into[fmt.Sprint(p.Tags[0].Value, "/", p.Time)] = rr.Stamp()
		}
		return seg.Info
	}
	for _, m := range metas {
		info := readStamps(filepath.Join(dir, m.Path), got)
		if !info.WriteStamps || info.Version != 2 {
			t.Fatalf("segment info %+v: want a version 2 segment with stamps", info)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(model) {
		t.Fatalf("stamps read back differ from the model:\n got %v\nwant %v", got, model)
	}

	// Rewritten through the streaming writer (compaction's), stamps kept.
	seg, err := OpenSegment(filepath.Join(dir, metas[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	rr, err := seg.Rows(64)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rewritten.parquet")
	sw, err := NewStampedSegmentWriter(out, "db", "m", s, 33, true)
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
		if err := sw.AppendStamped(&p, rr.Stamp()); err != nil {
			t.Fatal(err)
		}
	}
	rr.Close()
	seg.Close()
	if _, err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	again := map[string]int64{}
	readStamps(out, again)
	first := map[string]int64{}
	readStamps(filepath.Join(dir, metas[0].Path), first)
	if fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatalf("the rewrite changed stamps")
	}

	// A head without stamps: a version 1 segment, stamp 0.
	h2 := NewHead(s)
	var b columnar.Batch
	b.StartRow([]byte("m"), 1)
	b.AddTag([]byte("host"), []byte("x"))
	b.AddFloat([]byte("v"), 0)
	b.EndRow(5)
	h2.Append(&b, &b.Rows[0], false)
	d2 := t.TempDir()
	metas2, err := WriteSegments(d2, "db", "m", h2, func() uint64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	zero := map[string]int64{}
	if info := readStamps(filepath.Join(d2, metas2[0].Path), zero); info.WriteStamps || info.Version != 1 {
		t.Fatalf("unstamped head wrote %+v", info)
	}
	if zero["x/5"] != 0 {
		t.Fatalf("unstamped row read stamp %d", zero["x/5"])
	}
	_ = os.Remove(out)
}

// stampCursor answers as a binary search for rows asked in any order.
func TestStampCursor(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	h := NewHead(columnar.NewTableSchema())
	row := int32(0)
	for k := range 50 {
		h.stamps = append(h.stamps, stampRun{row: row, stamp: int64(100 + k)})
		row += int32(1 + rng.IntN(20))
	}
	h.times = make([]int64, row)
	c := stampCursor{runs: h.stamps}
	for i := range 5000 {
		r := int32(rng.IntN(int(row)))
		if i%3 != 0 { // mostly ascending, as a flush asks
			r = min(row-1, int32(i/5))
		}
		if c.of(r) != h.StampOf(int(r)) {
			t.Fatalf("row %d: cursor %d, search %d", r, c.of(r), h.StampOf(int(r)))
		}
	}
}
