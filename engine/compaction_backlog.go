package engine

import (
	"cmp"
	"slices"

	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/segment"
)

// CompactionBacklog counts the table windows whose segments compaction's
// size policy would merge now, and the segments those merges would take
// in, from the in-memory manifest (the server's Status gauges read it at
// each scrape). Tiered windows are left out, as compaction leaves them;
// with compaction disabled it counts what piles up.
func (e *Engine) CompactionBacklog() (windows, segments int) {
	byWin := map[windowKey][]segment.SegmentMeta{}
	for _, s := range e.Manifest().Segments {
		if !s.IsRollup() {
			k := windowKey{s.DB, s.Table, s.Window}
			byWin[k] = append(byWin[k], s)
		}
	}
	var plan []compaction.Seg
	for _, segs := range byWin {
		if slices.ContainsFunc(segs, segment.SegmentMeta.Cold) {
			continue
		}
		slices.SortFunc(segs, func(a, b segment.SegmentMeta) int { return cmp.Compare(a.ID, b.ID) })
		plan = plan[:0]
		for _, s := range segs {
			plan = append(plan, compaction.Seg{Rows: s.Rows, MinTime: s.MinTime, MaxTime: s.MaxTime})
		}
		if from := e.cfg.Compaction.Policy.Plan(plan); from < len(segs) {
			windows++
			segments += len(segs) - from
		}
	}
	return windows, segments
}
