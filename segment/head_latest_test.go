package segment

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// LatestRows passes over the blocks older than every series' complete
// row, but not a block that holds a series' point newer than that row:
// here the newest block completes all series, yet one series' latest
// point arrived two blocks earlier (a clock ahead of the others).
func TestHeadLatestRowsSkipsOnlyOlderBlocks(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	row := 0
	add := func(host string, tm int64, usage float64) {
		row++
		b.StartRow([]byte("cpu"), row)
		b.AddTag([]byte("host"), []byte(host))
		b.AddFloat([]byte("usage"), usage)
		b.EndRow(tm)
	}
	for blk := range 4 {
		for i := range blockRows {
			host := fmt.Sprintf("h%02d", i%8)
			tm := int64(blk*blockRows+i) * 1e6
			if blk == 1 && i == 5 {
				tm = 1e15 // far ahead: h05's latest point, in block 1
			}
			add(host, tm, float64(row))
		}
	}
	admitAll(t, s, h, &b)
	if len(h.blocks) != 4 {
		t.Fatalf("%d blocks, want 4", len(h.blocks))
	}
	fieldCols := h.FieldCols([]string{"usage"})
	all := make([]int32, 0, h.Len())
	for i := range h.Len() {
		all = append(all, int32(i))
	}
	for _, keep := range [][]bool{nil, h.MatchSeries(map[string][]string{"host": {"h05"}}), h.MatchSeries(map[string][]string{"host": {"h03"}})} {
		want := foldLast(h, all, keep, math.MinInt64, math.MaxInt64)
		got := foldLast(h, h.LatestRows(keep, math.MinInt64, math.MaxInt64, fieldCols), keep, math.MinInt64, math.MaxInt64)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("keep=%v: latest values differ:\n got %v\nwant %v", keep, got, want)
		}
	}
}
