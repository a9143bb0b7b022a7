package segment

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// TestScanRangeOldFormatSegments reads the segments of the format fixture
// (cmd/silt/testdata: written by an earlier version, whatever page index
// it had) over random ranges and checks each bounded read against the
// unbounded read with the rows outside the range dropped by the test:
// narrowRuns must leave a row group it cannot cut as it is, and cut one it
// can to exactly the range's rows.
func TestScanRangeOldFormatSegments(t *testing.T) {
	paths, err := filepath.Glob("../cmd/silt/testdata/format-*/data/segments/*/*/*/*.parquet")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixture segments found (%v)", err)
	}
	rng := rand.New(rand.NewPCG(21, 3))
	for _, p := range paths {
		seg, err := OpenSegment(p)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		cols := []string{columnar.TimeColumn}
		cols = append(cols, seg.Info.Tags...)
		for _, f := range seg.Info.Fields {
			cols = append(cols, f.Name)
		}
		read := func(minT, maxT int64) (rows []string, times []int64) {
			if err := seg.ScanRowGroupsFiltered(cols, nil, minT, maxT, 0, seg.NumRowGroups(), nil, nil, func(b *columnar.ColumnBatch) error {
				for i := range b.Len {
					rows = append(rows, rowText(b, i))
					times = append(times, b.Time[i])
				}
				return nil
			}); err != nil {
				t.Fatalf("read %s [%d, %d): %v", p, minT, maxT, err)
			}
			return rows, times
		}
		t.Logf("%s: %d row groups, page bounds %v", p, seg.NumRowGroups(), seg.rowGroupPages(0).minT != nil)
		all, allT := read(math.MinInt64, math.MaxInt64)
		if len(all) == 0 {
			t.Fatalf("%s: no rows", p)
		}
		for range 30 {
			minT, maxT := allT[rng.IntN(len(allT))]+rng.Int64N(3)-1, allT[rng.IntN(len(allT))]+rng.Int64N(3)-1
			if minT > maxT {
				minT, maxT = maxT, minT
			}
			var want []string
			for i, tm := range allT {
				if tm >= minT && tm < maxT {
					want = append(want, all[i])
				}
			}
			got, gotT := read(minT, maxT)
			// A row group the reader cannot cut may pass rows outside the
			// range (its callers filter them); every row inside must come.
			var in []string
			for i, tm := range gotT {
				if tm >= minT && tm < maxT {
					in = append(in, got[i])
				}
			}
			if !slices.Equal(in, want) {
				t.Fatalf("%s [%d, %d): %d rows in range, want %d", p, minT, maxT, len(in), len(want))
			}
		}
		seg.Close()
	}
}
