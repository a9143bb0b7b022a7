package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// TestScanRangeNarrowRandom reads random segments over random ranges and
// checks each bounded read (whose runs narrowRuns cuts to the range)
// against the same segment read unbounded — a read narrowRuns never sees
// — with the rows outside the range dropped by the test. The segments mix
// series of one row to hundreds, so a page holds a few long ascending
// stretches (the binary searches) or hundreds of short ones (too many to
// keep: the row-by-row test); times repeat within a series (late writes
// of one instant), sit at the ends of int64, and reach across row
// groups. The ranges end on a row's instant, a nanosecond either side,
// at math.MinInt64 / math.MaxInt64 and between rows, with and without a
// page cache (one small enough to evict between pages), with tag filters.
func TestScanRangeNarrowRandom(t *testing.T) {
	groups := 0
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { groups = max(groups, testScanRangeNarrowRandom(t, seed)) })
	}
	if groups < 2 {
		t.Errorf("no segment of several row groups: series spanning them are not tested")
	}
}

// testScanRangeNarrowRandom returns the row groups of its segment.
func testScanRangeNarrowRandom(t *testing.T, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 2121))
	s := columnar.NewTableSchema()
	h := NewHead(s)
	b := &columnar.Batch{}
	nSeries := 60 + rng.IntN(100)
	var times []int64 // every time written, for the ranges' ends
	for k := range nSeries {
		rows := 1 + rng.IntN(12)
		if rng.IntN(3) == 0 {
			rows = 1000 + rng.IntN(4000)
		}
		tm := rng.Int64N(1e6) - 5e5
		step := 1 + rng.Int64N(20)
		for i := range rows {
			t0 := tm
			switch {
			case k == 0 && i == 0:
				t0 = math.MinInt64
			case k == 1 && i == rows-1:
				t0 = math.MaxInt64
			case k == 2 && i == rows-1:
				t0 = math.MaxInt64 - 1
			}
			b.StartRow([]byte("cpu"), 1)
			b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%03d", k)))
			if k%5 == 0 {
				b.AddTag([]byte("region"), []byte(fmt.Sprintf("r%d", k%3)))
			}
			if rng.IntN(4) != 0 { // nulls
				b.AddFloat([]byte("v"), float64(rng.IntN(1000)))
			}
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(i)))
			b.EndRow(t0)
			times = append(times, t0)
			if rng.IntN(10) == 0 {
				// The same instant again, out of order (a late write).
				b.StartRow([]byte("cpu"), 1)
				b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%03d", k)))
				b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(-i)))
				b.EndRow(tm - step*int64(rng.IntN(3)))
			}
			tm += step * int64(rng.IntN(3)) // equal times too
		}
	}
	admitAll(t, s, h, b)
	dir := t.TempDir()
	ms, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	seg, err := OpenSegment(filepath.Join(dir, ms[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if p := seg.rowGroupPages(0); p.minT == nil {
		t.Fatal("no page bounds: narrowRuns is not exercised")
	}
	cols := []string{"host", "region", "v", "n"}
	read := func(tags map[string][]string, minT, maxT int64, cache *PageCache) ([]string, []int64) {
		seg.SetPageCache(cache)
		defer seg.SetPageCache(nil)
		var got []string
		var ts []int64
		if err := seg.ScanRowGroupsFiltered(cols, tags, minT, maxT, 0, seg.NumRowGroups(), nil, nil, func(b *columnar.ColumnBatch) error {
			for i := range b.Len {
				got = append(got, rowText(b, i))
				ts = append(ts, b.Time[i])
			}
			return nil
		}); err != nil {
			t.Fatalf("read [%d, %d) %v: %v", minT, maxT, tags, err)
		}
		return got, ts
	}
	tagSets := []map[string][]string{nil, {"host": {"h000", "h001", "h002", fmt.Sprintf("h%03d", nSeries/2)}}, {"region": {"r0", "r2"}}}
	var all [][]string
	var allT [][]int64
	for _, tags := range tagSets {
		rows, ts := read(tags, math.MinInt64, math.MaxInt64, nil)
		all, allT = append(all, rows), append(allT, ts)
	}
	if len(all[0]) < 2*PageRows {
		t.Fatalf("%d rows: the test needs several pages", len(all[0]))
	}
	end := func() int64 {
		switch rng.IntN(8) {
		case 0:
			return math.MinInt64
		case 1:
			return math.MaxInt64
		case 2:
			return rng.Int64N(2e6) - 1e6
		}
		return times[rng.IntN(len(times))] + rng.Int64N(3) - 1 // on a row or a nanosecond either side
	}
	caches := []*PageCache{nil, NewPageCache(1 << 30), NewPageCache(64 << 10)}
	for q := range 40 {
		minT, maxT := end(), end()
		if minT > maxT {
			minT, maxT = maxT, minT
		}
		for k, tags := range tagSets {
			var want []string
			for i, tm := range allT[k] {
				if tm >= minT && (tm < maxT || maxT == math.MaxInt64) {
					want = append(want, all[k][i])
				}
			}
			for c, cache := range caches {
				for pass := range 2 {
					got, _ := read(tags, minT, maxT, cache)
					if !slices.Equal(got, want) {
						t.Fatalf("query %d [%d, %d) %v, cache %d, pass %d: %d rows, want %d (first %s, want %s)",
							q, minT, maxT, tags, c, pass, len(got), len(want), first(got), first(want))
					}
				}
			}
		}
	}
	return seg.NumRowGroups()
}
