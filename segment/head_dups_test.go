package segment

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// interleavedHead loads rounds of 50 hosts × 10 s the way several loaders
// do: each round's batch of rows, in time order within it, but every other
// pair of batches swapped, so half the rows come before rows of their host
// that are earlier. No point is written twice.
func interleavedHead(t *testing.T) (*Head, *columnar.TableSchema) {
	t.Helper()
	s := columnar.NewTableSchema()
	h := NewHead(s)
	const hosts, perBatch = 50, 20 // a batch: 20 intervals of every host
	batches := (5*blockRows + 700) / (hosts * perBatch)
	order := make([]int, batches)
	for i := range order {
		order[i] = i
		if i%2 == 1 {
			order[i-1], order[i] = i, i-1
		}
	}
	for _, k := range order {
		var b columnar.Batch
		for i := range hosts * perBatch {
			step := k*perBatch + i/hosts
			b.StartRow([]byte("cpu"), i+1)
			b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", i%hosts))
			b.AddFloat([]byte("usage"), float64((step*7+i)%991)/3)
			b.EndRow(int64(step) * 10e9)
		}
		admitAll(t, s, h, &b)
	}
	if len(h.blocks) < 5 {
		t.Fatalf("%d blocks, want at least 5", len(h.blocks))
	}
	return h, s
}

// Rows that come late without repeating a point (loaders whose batches
// overtake each other) leave sealed blocks free of duplicates: only the
// unsealed tail's late rows count as possible duplicates, and reads of
// partials are exact everywhere.
func TestHeadInterleavedWritersNoDuplicates(t *testing.T) {
	h, _ := interleavedHead(t)
	for i, blk := range h.blocks {
		if blk.dupLo <= blk.dupHi {
			t.Errorf("block %d: duplicates reported at %d..%d, none written", i, blk.dupLo, blk.dupHi)
		}
	}
	got := h.DupRanges(math.MinInt64, math.MaxInt64)
	if h.late.any {
		if want := [][2]int64{{h.late.lo, h.late.hi}}; !slices.Equal(got, want) {
			t.Errorf("DupRanges %v, want the tail's late span %v", got, want)
		}
	} else if len(got) != 0 {
		t.Errorf("DupRanges %v, want none", got)
	}
	if first := h.blocks[len(h.blocks)-1].minT; !h.NoDuplicatesIn(math.MinInt64, first) {
		t.Errorf("sealed range before %d: duplicates reported", first)
	}
	if !h.View().NoDuplicatesIn(math.MinInt64, h.blocks[0].maxT) {
		t.Error("a View reports duplicates its head has not")
	}
	for _, width := range []int64{60e9, 600e9, 3600e9} {
		for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {width, 3 * width}, {0, width}, {2 * width, math.MaxInt64}} {
			for _, tags := range []map[string][]string{nil, {"host": {"h01", "h17"}}} {
				for _, perSeries := range []bool{true, false} {
					name := fmt.Sprintf("width=%d range=%v tags=%v perSeries=%v", width, r, tags, perSeries)
					checkRollup(t, name, h, tags, perSeries, r[0], r[1], width)
				}
			}
		}
	}
}

// A point written again is found when its block is sealed, whether its
// first write is in the same block or an earlier one: the head reports
// exactly its time as a duplicate range, merges only the windows around
// it, and its reads stay exact.
func TestHeadDupRanges(t *testing.T) {
	for _, where := range []string{"earlier block", "same block"} {
		t.Run(where, func(t *testing.T) {
			h, s := interleavedHead(t)
			// The repeated point's first write: in the first block, or in
			// the tail, which the rows below seal into the same block.
			var at int64
			var host string
			if where == "earlier block" {
				blk := h.blocks[0]
				r := blk.rows[blk.start[3]+2]
				at, host = h.times[r], fmt.Sprintf("h%02d", 3)
			} else {
				r := h.sealed + 10
				at, host = h.times[r], h.dicts[0].vals[h.seriesTags[h.series[r]][0]]
			}
			var dup columnar.Batch
			dup.StartRow([]byte("cpu"), 1)
			dup.AddTag([]byte("host"), []byte(host))
			dup.AddFloat([]byte("usage"), 1e6)
			dup.EndRow(at)
			admitAll(t, s, h, &dup)
			// Later rows of other series, in order, to seal the tail.
			var more columnar.Batch
			last := h.maxTime
			for i := range blockRows {
				more.StartRow([]byte("cpu"), i+1)
				more.AddTag([]byte("host"), fmt.Appendf(nil, "x%02d", i%40))
				more.AddFloat([]byte("usage"), float64(i))
				more.EndRow(last + int64(1+i/40)*10e9)
			}
			admitAll(t, s, h, &more)
			if h.late.any {
				t.Fatalf("late rows left in the tail: %+v", h.late)
			}
			if got, want := h.DupRanges(math.MinInt64, math.MaxInt64), [][2]int64{{at, at}}; !slices.Equal(got, want) {
				t.Fatalf("DupRanges %v, want %v", got, want)
			}
			if !h.NoDuplicatesIn(at+1, math.MaxInt64) || h.NoDuplicatesIn(at, at+1) {
				t.Error("NoDuplicatesIn disagrees with the duplicate's time")
			}
			if got, want := h.dirtyWindows(0, math.MaxInt64, 60e9), [][2]int64{{WindowStart(at, 60e9), WindowStart(at, 60e9) + 60e9}}; !slices.Equal(got, want) {
				t.Errorf("dirty windows %v, want %v", got, want)
			}
			for _, width := range []int64{60e9, 3600e9} {
				for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {0, width}, {width, math.MaxInt64}} {
					for _, perSeries := range []bool{true, false} {
						name := fmt.Sprintf("width=%d range=%v perSeries=%v", width, r, perSeries)
						checkRollup(t, name, h, nil, perSeries, r[0], r[1], width)
					}
				}
			}
		})
	}
}

// A late row whose time more than maxDupProbes sealed blocks span (a
// backfill far behind the live rows) counts as a duplicate without being
// looked up everywhere: reads merge its window, and stay exact.
func TestHeadDupProbesBounded(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	// Blocks that each span the whole hour: rows of 2 hosts, each host's
	// cycling through the hour once per block, a nanosecond later in
	// every block so that no point repeats.
	var b columnar.Batch
	n := (maxDupProbes + 2) * blockRows
	for i := range n {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i%2))
		b.AddFloat([]byte("usage"), float64(i%100))
		b.EndRow(hourStep(i%blockRows) + int64(i/blockRows))
	}
	admitAll(t, s, h, &b)
	// The same loop again, shifted: late for every series, never equal.
	var late columnar.Batch
	for i := range blockRows {
		late.StartRow([]byte("cpu"), i+1)
		late.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i%2))
		late.AddFloat([]byte("usage"), 1)
		late.EndRow(hourStep(i) + 500)
	}
	admitAll(t, s, h, &late)
	if h.late.any || len(h.blocks) != maxDupProbes+3 {
		t.Fatalf("%d blocks and late rows in the tail %v: want every row sealed", len(h.blocks), h.late.any)
	}
	if h.NoDuplicates() {
		t.Fatal("a row past the probe bound was not counted as a possible duplicate")
	}
	checkRollup(t, "probe-bounded", h, nil, true, math.MinInt64, math.MaxInt64, 60e9)
}

// hourStep is the time of a block's j-th row in TestHeadDupProbesBounded:
// each of its two hosts steps through the hour.
func hourStep(j int) int64 { return int64(j/2) * (3600e9 / (blockRows / 2)) }
