package engine

// What an opened scan holds, for EXPLAIN: counts taken from the snapshot
// OpenScanRollups made, not from reading any data.

// Heads is how many heads (the active one and frozen ones waiting for
// their flush) the scan reads: those whose time range meets the scan's.
func (ts *TableScan) Heads() int { return len(ts.heads) }

// RowGroups is how many Parquet row groups the scan's segments hold.
func (ts *TableScan) RowGroups() int {
	n := 0
	for _, s := range ts.segs {
		n += s.NumRowGroups()
	}
	return n
}

// RollupSegments is how many rollup segments the scan opened (rollups of
// its segments at the widths asked for).
func (ts *TableScan) RollupSegments() int {
	n := 0
	for _, byWidth := range ts.rollups {
		n += len(byWidth)
	}
	return n
}

// HeadBlocks returns how many sealed blocks the scan's heads hold and how
// many of them meet the scan's time range: a read skips the others. (The
// unsealed tail of each head is always read.)
func (ts *TableScan) HeadBlocks() (blocks, meeting int) {
	for _, h := range ts.heads {
		b, m := h.BlocksIn(ts.minT, ts.maxT)
		blocks += b
		meeting += m
	}
	return blocks, meeting
}
