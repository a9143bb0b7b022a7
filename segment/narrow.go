package segment

import (
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/siltdb/silt/columnar"
)

// Cutting a read's rows to its time range. The time column's page bounds
// leave out pages wholly outside a query's range, but a page reaching past
// the range was read whole: a series' day at 10 s is two 4096-row pages,
// so a range ending 27 minutes into an hour (TSBS's random windows, whose
// ragged ends no hourly rollup answers) read a page of every series and
// column, and the reader then dropped all but a few hundred of its rows —
// 1.3 million rows copied, their tags rebuilt and their times tested to
// keep 36,000. narrowRuns reads the time column of the pages that
// straddle the range's edges first and cuts the runs to the rows inside,
// so the other columns are copied (or decoded) for those rows only.
//
// Rows are sorted by series, then time, so within a page the times are a
// few ascending stretches (a series each, or more where series abut in
// order): a cached time page keeps where its stretches start, and the
// rows in range are found by two binary searches per stretch rather than
// a test per row.

// maxStretchShare bounds the stretches a cached time page keeps, as a
// share of its rows (1/16): a page of unsorted times (a segment not
// written by Silt) would keep a start per few rows and gain nothing over
// testing each row, which is what such a page does instead.
const maxStretchShare = 16

// ascendingStretches returns the starts of the maximal non-decreasing
// stretches of t (0 first), or nil when there are more than
// len(t)/maxStretchShare+1 of them.
func ascendingStretches(t []int64) []int32 {
	if len(t) == 0 {
		return nil
	}
	limit := len(t)/maxStretchShare + 1
	out := []int32{0}
	for i := 1; i < len(t); i++ {
		if t[i] < t[i-1] {
			if len(out) == limit {
				return nil
			}
			out = append(out, int32(i))
		}
	}
	return slices.Clip(out)
}

// inRange reports whether t is in [minT, maxT) (maxT == math.MaxInt64:
// unbounded, the instant MaxInt64 included).
func inRange(t, minT, maxT int64) bool {
	return t >= minT && (t < maxT || maxT == math.MaxInt64)
}

// narrowRuns returns, in dst, runs (rows of row group g, rows long, in
// ascending order) cut to the rows whose time is in [minT, maxT). Pages
// the time column's index shows wholly inside the range are kept whole
// without reading them; the others' times are taken from the page cache
// (decoded and cached on a miss) or, without a cache, decoded into
// scratch. A row group without page bounds (segments written before the
// page index) is left as it is: its one page would be read whole twice.
func (s *Segment) narrowRuns(dst, runs []rowRun, rgr *file.RowGroupReader, g int, rows int64, tp *rgPages, tcol batchColumn, minT, maxT int64, sc *pageScratch) ([]rowRun, error) {
	dst = dst[:0]
	first := tp.first[tp.timeCol]
	if tp.minT == nil || len(first) == 0 {
		return append(dst, runs...), nil
	}
	add := func(start, n int64) {
		if n <= 0 {
			return
		}
		if k := len(dst); k > 0 && dst[k-1].start+dst[k-1].n == start {
			dst[k-1].n += n
			return
		}
		dst = append(dst, rowRun{start, n})
	}
	var cr file.ColumnChunkReader
	var pos int64 // next row cr returns
	for _, run := range runs {
		row, end := run.start, run.start+run.n
		for row < end {
			p, lo, hi := pageOf(first, rows, row)
			to := min(end, hi)
			if tp.minT[p] >= minT && (maxT == math.MaxInt64 || tp.maxT[p] < maxT) {
				add(row, to-row) // the whole page is in range
				row = to
				continue
			}
			var times []int64
			var stretches []int32
			if s.cache != nil {
				k := pageKey{gen: s.gen, rowGroup: int32(g), col: int32(tcol.col), page: int32(p)}
				pg := s.cache.get(k)
				if pg == nil {
					var err error
					if cr, pos, err = s.seekColumn(cr, pos, rgr, tcol, lo); err != nil {
						return nil, err
					}
					if pg, err = decodePage(cr, tcol, int(hi-lo), sc); err != nil {
						return nil, err
					}
					pos = hi
					s.cache.put(k, pg)
				}
				times, stretches = pg.i64, pg.stretches
			} else {
				var err error
				if cr, pos, err = s.seekColumn(cr, pos, rgr, tcol, lo); err != nil {
					return nil, err
				}
				if times, err = decodeTimes(cr, tcol, int(hi-lo), sc); err != nil {
					return nil, err
				}
				pos = hi
			}
			a, b := int(row-lo), int(to-lo)
			if stretches == nil {
				for i := a; i < b; i++ {
					if inRange(times[i], minT, maxT) {
						add(lo+int64(i), 1)
					}
				}
			} else {
				for k, sa := range stretches {
					sb := len(times)
					if k+1 < len(stretches) {
						sb = int(stretches[k+1])
					}
					x, y := max(int(sa), a), min(sb, b)
					if x >= y {
						continue
					}
					// times[x:y] ascend: the rows in range are one run.
					i, _ := slices.BinarySearch(times[x:y], minT)
					j := y - x
					if maxT != math.MaxInt64 {
						j, _ = slices.BinarySearch(times[x:y], maxT)
					}
					add(lo+int64(x+i), int64(j-i))
				}
			}
			row = to
		}
	}
	return dst, nil
}

// seekColumn returns column tcol's chunk reader of rgr (opened when cr is
// nil) positioned at row lo, cr's position having been pos.
func (s *Segment) seekColumn(cr file.ColumnChunkReader, pos int64, rgr *file.RowGroupReader, tcol batchColumn, lo int64) (file.ColumnChunkReader, int64, error) {
	if cr == nil {
		var err error
		if cr, err = rgr.Column(tcol.col); err != nil {
			return nil, 0, fmt.Errorf("read segment column %s: %w", tcol.name, err)
		}
		pos = 0
	}
	if pos != lo {
		if err := cr.SeekToRow(lo); err != nil {
			return nil, 0, fmt.Errorf("seek to row %d: %w", lo, err)
		}
	}
	return cr, lo, nil
}

// decodeTimes decodes the next n rows of the time column cr (one page)
// into scratch that stays valid until the next call.
func decodeTimes(cr file.ColumnChunkReader, tcol batchColumn, n int, sc *pageScratch) ([]int64, error) {
	if sc.times == nil {
		sc.times = &columnar.ColumnBatch{}
	}
	tb := sc.times
	tb.Time = slices.Grow(tb.Time[:0], n)[:n]
	maxDef := cr.Descriptor().MaxDefinitionLevel()
	for done := 0; done < n; {
		k, err := readRows(cr, tcol, tb, done, n-done, maxDef, sc)
		if err != nil {
			return nil, err
		}
		if k == 0 {
			return nil, fmt.Errorf("column chunk ended %d rows short of a page's end", n-done)
		}
		done += k
	}
	return tb.Time, nil
}
