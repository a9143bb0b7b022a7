package cluster

import (
	"slices"
	"testing"

	"github.com/siltdb/silt/segment"
)

// The union's order of one window's segments: each writer's own order
// kept, writers' segments interleaved by write stamps, the later slot
// last on ties and among segments without stamps.
func TestOrderByWriteTime(t *testing.T) {
	mk := func(slot, id uint64, lo, hi int64) segment.SegmentMeta {
		return segment.SegmentMeta{ID: slot<<slotBits | id, DB: "db", Table: "cpu", Window: "20260302", WriteMin: lo, WriteMax: hi}
	}
	order := func(segs ...segment.SegmentMeta) []uint64 {
		slices.SortFunc(segs, func(a, b segment.SegmentMeta) int { return cmpUint(a.ID, b.ID) })
		orderByWriteTime(segs, slotBits)
		slices.SortFunc(segs, func(a, b segment.SegmentMeta) int { return cmpUint(a.Order, b.Order) })
		var ids []uint64
		for _, s := range segs {
			ids = append(ids, s.ID>>slotBits*100+s.ID&(1<<slotBits-1))
		}
		return ids
	}
	cases := []struct {
		name string
		segs []segment.SegmentMeta
		want []uint64 // slot*100 + id, oldest first
	}{
		{"disjoint writes: by time, not slot",
			[]segment.SegmentMeta{mk(1, 1, 10, 20), mk(1, 2, 50, 60), mk(2, 1, 30, 40)}, []uint64{101, 201, 102}},
		{"the later slot's older copy goes first",
			[]segment.SegmentMeta{mk(1, 1, 50, 60), mk(2, 1, 10, 20)}, []uint64{201, 101}},
		{"interleaved: the newest write decides",
			[]segment.SegmentMeta{mk(1, 1, 10, 90), mk(2, 1, 30, 40)}, []uint64{201, 101}},
		{"a writer's own order holds",
			[]segment.SegmentMeta{mk(1, 1, 70, 80), mk(1, 2, 10, 20), mk(2, 1, 30, 40)}, []uint64{201, 101, 102}},
		{"no stamps: slot order",
			[]segment.SegmentMeta{mk(2, 1, 0, 0), mk(1, 1, 0, 0), mk(1, 2, 0, 0)}, []uint64{101, 102, 201}},
		{"unstamped before stamped",
			[]segment.SegmentMeta{mk(1, 1, 5, 6), mk(2, 1, 0, 0)}, []uint64{201, 101}},
		{"equal stamps: later slot last",
			[]segment.SegmentMeta{mk(2, 1, 5, 6), mk(1, 1, 5, 6)}, []uint64{101, 201}},
	}
	for _, c := range cases {
		if got := order(c.segs...); !slices.Equal(got, c.want) {
			t.Errorf("%s: order %v, want %v", c.name, got, c.want)
		}
	}
}
