package segment

import (
	"cmp"
	"math"
	"slices"
)

// Span rollups. A block's partials cover its own rows, so a series has at
// least one per block: a read of an hour of a day-long head of sparse
// series (a block every quarter hour) or of ten seconds of a dense live
// stream (a block every few tens of milliseconds) still combines a
// partial per series and block. Every spanBlocks sealed blocks whose
// partials all exist, the writer also combines them into partials of the
// span's own width (the finest of blockRollupWidths at which the span's
// series are dense, so at least the blocks' width): a span of a live
// stream folds its blocks' one-second partials into one per series and
// second, a span of TSBS rows two hours of blocks into one or two hourly
// partials per series. A read takes a span's partials where its width
// nests in them, and its blocks' otherwise. Spans are immutable once
// built, as blocks are, so Views share them.

// spanBlocks is how many consecutive sealed blocks a span combines.
const spanBlocks = 8

// rollSpan builds the span of the last spanBlocks sealed blocks when they
// complete one: h.spans[k] covers h.blocks[k*spanBlocks:(k+1)*spanBlocks],
// nil when some block has no partials or the span would not be coarser
// than they are.
func (h *Head) rollSpan() {
	if len(h.blocks)%spanBlocks != 0 {
		return
	}
	blocks := h.blocks[len(h.blocks)-spanBlocks:]
	h.spans = append(h.spans, h.spanOf(blocks))
	if sp := h.spans[len(h.spans)-1]; sp != nil {
		h.bytes += blockRollupBytes(sp.roll) + int64(4*len(sp.sids)) + 64
	}
}

// spanOf combines the partials of blocks, or returns nil.
func (h *Head) spanOf(blocks []*headBlock) *headBlock {
	sp := &headBlock{lo: blocks[0].lo, hi: blocks[len(blocks)-1].hi, minT: math.MaxInt64, maxT: math.MinInt64}
	widest := int64(0)
	rows := int64(0)
	for _, blk := range blocks {
		if blk.roll == nil {
			return nil
		}
		widest = max(widest, blk.roll.width)
		sp.minT, sp.maxT = min(sp.minT, blk.minT), max(sp.maxT, blk.maxT)
		rows += int64(blk.hi - blk.lo)
	}
	// The span's series: the union of its blocks', ascending.
	for _, blk := range blocks {
		sp.sids = append(sp.sids, blk.sids...)
	}
	slices.Sort(sp.sids)
	sp.sids = slices.Compact(sp.sids)
	span := sp.maxT - sp.minT + 1
	perSeries := float64(rows) / float64(len(sp.sids))
	width := int64(0)
	for _, w := range blockRollupWidths {
		if w < widest {
			continue
		}
		if perSeries/math.Max(float64(span)/float64(w), 1) >= minBlockRollupRows {
			width = w
			break
		}
	}
	if width == 0 {
		return nil
	}
	for _, blk := range blocks {
		if width%blk.roll.width != 0 {
			return nil
		}
	}
	// Each block partial's slot in the span: its series and window there,
	// sorted, equal keys combined.
	type ref struct {
		series int32 // index into sp.sids
		window int64
		blk    int32
		i      int32 // the partial's index in its block's rollup
	}
	var refs []ref
	for b, blk := range blocks {
		r := blk.roll
		for i, w := range r.windows {
			k, _ := slices.BinarySearch(sp.sids, blk.sids[r.series[i]])
			refs = append(refs, ref{int32(k), WindowStart(w, width), int32(b), int32(i)})
		}
	}
	slices.SortFunc(refs, func(a, b ref) int {
		if c := cmp.Compare(a.series, b.series); c != 0 {
			return c
		}
		if c := cmp.Compare(a.window, b.window); c != 0 {
			return c
		}
		return cmp.Compare(a.blk, b.blk) // older blocks first, as a fold of the rows
	})
	out := &blockRollup{width: width, parts: make([][]partial, len(h.fields))}
	for c, col := range h.fields {
		if Rollable(col.typ) && slices.ContainsFunc(blocks, func(blk *headBlock) bool { return c < len(blk.roll.parts) && blk.roll.parts[c] != nil }) {
			out.parts[c] = []partial{}
		}
	}
	for j, rf := range refs {
		src := blocks[rf.blk].roll
		if j == 0 || rf.series != refs[j-1].series || rf.window != refs[j-1].window {
			out.series = append(out.series, rf.series)
			out.windows = append(out.windows, rf.window)
			out.rows = append(out.rows, 0)
			for c := range out.parts {
				if out.parts[c] != nil {
					out.parts[c] = append(out.parts[c], partial{})
				}
			}
		}
		last := len(out.windows) - 1
		out.rows[last] += src.rows[rf.i]
		for c, ps := range out.parts {
			if ps == nil || c >= len(src.parts) || src.parts[c] == nil {
				continue // a field added after this block was sealed: no values there
			}
			if mergePartial(&ps[last], &src.parts[c][rf.i], h.fields[c].typ) {
				ps[last].overflow = true // a read of it reads the rows instead
			}
		}
	}
	sp.roll = out
	return sp
}
