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

// Loaders whose batches overtake each other (bench load's workers, several
// Telegrafs) leave rows that arrived after a series' newest point but are
// older than it, in the sealed blocks and in the unsealed tail. LatestRows
// must not hand those out next to the newest row: a lastpoint over a head
// of complete rows is then one row per series, which a scan sends as it
// stands (OneCompleteRowEach) instead of folding a summary. Rows at the
// newest point's own time that arrived after it still count (the later
// write wins there), and the values are a fold of every row's.
func TestHeadLatestRowsOvertakenBatches(t *testing.T) {
	const hosts, perBatch = 16, 40 // a batch: 40 intervals of every host
	type point struct {
		host        int
		tm          int64
		usage, idle float64
		hasIdle     bool
	}
	batch := func(k int) []point {
		var out []point
		for j := range perBatch {
			for host := range hosts {
				tm := int64(k*perBatch+j) * 10e9
				out = append(out, point{host, tm, float64(k*1000 + j), float64(host), true})
			}
		}
		return out
	}
	nb := 2*blockRows/(hosts*perBatch) + 5 // two sealed blocks and a tail
	order := make([]int, nb)
	for k := range order {
		order[k] = k
	}
	// Overtaken: the batches on each side of the first block's edge, and
	// the last two (in the tail).
	edge := blockRows / (hosts * perBatch)
	order[edge], order[edge+1] = order[edge+1], order[edge]
	order[nb-2], order[nb-1] = order[nb-1], order[nb-2]
	newest := int64((nb*perBatch)-1) * 10e9

	for _, tail := range []string{"none", "equal-time rows", "older complete row"} {
		t.Run(tail, func(t *testing.T) {
			var pts []point
			for _, k := range order {
				pts = append(pts, batch(k)...)
			}
			switch tail {
			case "equal-time rows":
				// h03: a second write of its newest point with usage only
				// (its usage wins, its idle stays); h04: a second complete
				// write of its newest point (wins whole).
				pts = append(pts, point{3, newest, -3, 0, false}, point{4, newest, -4, -4, true})
			case "older complete row":
				pts = append(pts, point{5, newest - 10e9, -5, -5, true})
			}
			s := columnar.NewTableSchema()
			h := NewHead(s)
			var b columnar.Batch
			for i, p := range pts {
				b.StartRow([]byte("cpu"), i+1)
				b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", p.host))
				b.AddFloat([]byte("usage"), p.usage)
				if p.hasIdle {
					b.AddFloat([]byte("idle"), p.idle)
				}
				b.EndRow(p.tm)
			}
			admitAll(t, s, h, &b)
			if len(h.blocks) < 2 || h.sealed == h.Len() {
				t.Fatalf("%d blocks, %d of %d rows sealed: want two blocks and a tail", len(h.blocks), h.sealed, h.Len())
			}
			fieldCols := h.FieldCols([]string{"usage", "idle"})
			all := make([]int32, 0, h.Len())
			for i := range h.Len() {
				all = append(all, int32(i))
			}
			for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {0, newest}, {newest / 3, newest / 2}} {
				rows := h.LatestRows(nil, r[0], r[1], fieldCols)
				want := foldLast(h, all, nil, r[0], r[1])
				if got := foldLast(h, rows, nil, r[0], r[1]); !reflect.DeepEqual(got, want) {
					t.Errorf("range %v: latest values differ:\n got %v\nwant %v", r, got, want)
				}
				wantRows := hosts
				if tail == "equal-time rows" && r[1] > newest {
					wantRows++ // h03's usage-only write after its newest point
				}
				if len(rows) != wantRows {
					t.Errorf("range %v: %d rows, want %d (one per series, and h03's later partial write)", r, len(rows), wantRows)
				}
				if complete := h.OneCompleteRowEach(rows, fieldCols); complete != (wantRows == hosts) {
					t.Errorf("range %v: OneCompleteRowEach = %v with %d rows of %d series", r, complete, len(rows), hosts)
				}
			}
		})
	}
}
