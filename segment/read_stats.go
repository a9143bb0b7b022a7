package segment

import (
	"sync/atomic"

	"github.com/siltdb/silt/columnar"
)

// ReadStats counts what reads of segments did, for EXPLAIN ANALYZE: a
// few atomic adds per row group, none per row. One ReadStats may be
// shared by reads running in parallel (a scan's row groups are).
type ReadStats struct {
	// RowGroupsRead counts the row groups rows were decoded from;
	// RowGroupsSkipped those of the ranges asked for that the tag index
	// or the time bounds of their pages ruled out whole.
	RowGroupsRead, RowGroupsSkipped atomic.Int64
	// RowsRead counts the rows decoded; RowsSkipped the other rows of
	// the row groups asked for (left out by the tag index or by pages
	// outside the time range, unread).
	RowsRead, RowsSkipped atomic.Int64
	// RowsFiltered counts the rows read that a field filter dropped
	// before their other columns were read (late materialization), and
	// ValuesRead the column values decoded or copied from cached pages
	// (tags rebuilt from the index are not counted).
	RowsFiltered, ValuesRead atomic.Int64
	// Tasks counts the reading tasks of a scan (a part of a segment, a
	// head, a merged stretch; they run in parallel) and TaskNanos their
	// running time summed, without the time they waited for the consumer
	// to take a batch: counted by the engine's scan, heads included.
	Tasks, TaskNanos atomic.Int64
}

func (rs *ReadStats) filtered(rows int64) {
	if rs != nil && rows > 0 {
		rs.RowsFiltered.Add(rows)
	}
}

func (rs *ReadStats) values(n int64) {
	if rs != nil {
		rs.ValuesRead.Add(n)
	}
}

func (rs *ReadStats) skipped(rows int64) {
	if rs != nil {
		rs.RowGroupsSkipped.Add(1)
		rs.RowsSkipped.Add(rows)
	}
}

func (rs *ReadStats) read(rows, of int64) {
	if rs != nil {
		rs.RowGroupsRead.Add(1)
		rs.RowsRead.Add(rows)
		rs.RowsSkipped.Add(of - rows)
	}
}

// ScanRowGroupsCounted is ScanRowGroupsRange counting into rs (nil:
// nowhere) the row groups and rows it read and skipped.
func (s *Segment) ScanRowGroupsCounted(cols []string, tags map[string][]string, minT, maxT int64, first, end int, rs *ReadStats, fn func(*columnar.ColumnBatch) error) error {
	return s.scanRowGroups(cols, tags, minT, maxT, first, end, rs, nil, fn)
}

// BlocksIn returns how many sealed blocks the head's read index holds and
// how many of them meet [minT, maxT): a scan of that range reads those
// and skips the others (maxT == math.MaxInt64: unbounded).
func (h *Head) BlocksIn(minT, maxT int64) (blocks, meeting int) {
	for _, blk := range h.blocks {
		if overlapsSpan(blk.minT, blk.maxT, minT, maxT) {
			meeting++
		}
	}
	return len(h.blocks), meeting
}
