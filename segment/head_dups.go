package segment

import (
	"cmp"
	"math"
	"slices"
)

// Where the head may hold a point twice. Rows that merge (the same series
// at the same time) make every fast read wrong: block partials would count
// the point twice, a raw scan would return it twice. Merging on every read
// is what makes reads slow, so the head tracks where duplicates are and
// merges only there.
//
// Only a late row — one at or before its series' latest time when it came
// — can repeat a point: the second of two equal points is always late.
// Several writers whose batches interleave make many rows late (a host's
// next minute arrives before its previous one) without repeating any
// point, so lateness alone would condemn the whole head. Instead:
//
//   - While a late row is in the unsealed tail, its time counts as a
//     possible duplicate (late.lo..late.hi): the tail is small and the
//     next seal settles it.
//   - Sealing a block checks its late rows exactly: against the block's
//     own rows (its series' runs are sorted by time, so equal points are
//     neighbours) and, where a row is no later than its series' latest
//     sealed time, against the earlier blocks' runs of that series by
//     binary search. The block keeps the span of the duplicates it found
//     (dupLo..dupHi), immutable as the rest of it.
//
// A read then merges only the windows that overlap a duplicate span
// (DupRanges) and takes partials or plain rows everywhere else.

// lateRows are the unsealed tail's late rows: their row numbers (for the
// exact check when the block is sealed) and the span of their times (any:
// there is at least one).
type lateRows struct {
	rows   []int32
	any    bool
	lo, hi int64
}

func (l *lateRows) add(row int32, t int64) {
	if !l.any {
		l.any, l.lo, l.hi = true, t, t
	}
	l.rows = append(l.rows, row)
	l.lo, l.hi = min(l.lo, t), max(l.hi, t)
}

// view is what a View needs: the span, not the rows, which the writer
// goes on rewriting.
func (l lateRows) view() lateRows { return lateRows{any: l.any, lo: l.lo, hi: l.hi} }

// maxDupProbes bounds the earlier blocks a late row is looked up in when
// its block is sealed. A row past it (a backfill far behind live data,
// whose time many blocks span) counts as a duplicate: a read then merges
// its window, which is always right.
const maxDupProbes = 16

// sealDups finds blk's duplicates (the rows it seals are the tail's, so
// the tail's late rows are exactly its late rows), sets blk.dupLo/dupHi,
// and records the block's latest time per series for the next seal.
// Called by sealBlock after the block's runs are sorted and before it is
// appended to h.blocks.
func (h *Head) sealDups(blk *headBlock) {
	blk.dupLo, blk.dupHi = math.MaxInt64, math.MinInt64
	for len(h.sealedLast) < len(h.seriesTags) {
		h.sealedLast = append(h.sealedLast, math.MinInt64)
	}
	if h.late.any {
		dup := func(t int64) { blk.dupLo, blk.dupHi = min(blk.dupLo, t), max(blk.dupHi, t) }
		// Within the block: equal neighbours in a series' sorted run.
		for k := range blk.sids {
			g := blk.rows[blk.start[k]:blk.start[k+1]]
			for i := 1; i < len(g); i++ {
				if t := h.times[g[i]]; t == h.times[g[i-1]] {
					dup(t)
				}
			}
		}
		// Against earlier blocks.
		for _, r := range h.late.rows {
			sid, t := h.series[r], h.times[r]
			if t <= h.sealedLast[sid] && h.sealedHas(sid, t) {
				dup(t)
			}
		}
	}
	h.late = lateRows{rows: h.late.rows[:0]}
	for k, sid := range blk.sids {
		last := h.times[blk.rows[blk.start[k+1]-1]]
		h.sealedLast[sid] = max(h.sealedLast[sid], last)
	}
}

// sealedHas reports whether a sealed block holds a row of series sid at
// time t (or it would take more than maxDupProbes blocks to say).
func (h *Head) sealedHas(sid uint32, t int64) bool {
	probes := 0
	for i := len(h.blocks) - 1; i >= 0; i-- {
		b := h.blocks[i]
		if t < b.minT || t > b.maxT {
			continue
		}
		if probes++; probes > maxDupProbes {
			return true
		}
		k, ok := slices.BinarySearch(b.sids, sid)
		if !ok {
			continue
		}
		g := b.rows[b.start[k]:b.start[k+1]]
		if _, ok := slices.BinarySearchFunc(g, t, func(r int32, t int64) int { return cmp.Compare(h.times[r], t) }); ok {
			return true
		}
	}
	return false
}

// DupRanges returns, ascending and disjoint, the closed time ranges within
// [minT, maxT) where the head may hold a point twice: outside them, no two
// of its rows are the same point.
func (h *Head) DupRanges(minT, maxT int64) [][2]int64 {
	var out [][2]int64
	add := func(lo, hi int64) {
		if lo > hi || !overlapsSpan(lo, hi, minT, maxT) {
			return
		}
		out = append(out, [2]int64{lo, hi})
	}
	for _, b := range h.blocks {
		add(b.dupLo, b.dupHi)
	}
	if h.late.any {
		add(h.late.lo, h.late.hi)
	}
	if len(out) < 2 {
		return out
	}
	slices.SortFunc(out, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	merged := out[:1]
	for _, r := range out[1:] {
		if last := &merged[len(merged)-1]; r[0] <= last[1] {
			last[1] = max(last[1], r[1])
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// NoDuplicatesIn reports whether no two of the head's rows with time in
// [minT, maxT) are the same point.
func (h *Head) NoDuplicatesIn(minT, maxT int64) bool { return len(h.DupRanges(minT, maxT)) == 0 }

// dirtyWindows returns the ranges [lo, hi) of the windows of width (aligned
// on it, as the range [minT, maxT) is) that overlap a duplicate range,
// joined where adjacent and clipped to [minT, maxT): the windows a read of
// partials must merge rows for.
func (h *Head) dirtyWindows(minT, maxT, width int64) [][2]int64 {
	var out [][2]int64
	for _, d := range h.DupRanges(minT, maxT) {
		lo := max(WindowStart(d[0], width), minT)
		hi := int64(math.MaxInt64)
		if end := WindowStart(d[1], width); end <= math.MaxInt64-width {
			hi = end + width
		}
		if maxT != math.MaxInt64 {
			hi = min(hi, maxT)
		}
		if n := len(out); n > 0 && out[n-1][1] >= lo {
			out[n-1][1] = max(out[n-1][1], hi)
			continue
		}
		out = append(out, [2]int64{lo, hi})
	}
	return out
}
