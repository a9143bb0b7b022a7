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
	refs := spanRefs(sp.sids, blocks, width)
	out := &blockRollup{width: width, nfields: len(h.fields), from: blocks}
	for j, rf := range refs {
		if j == 0 || rf.series != refs[j-1].series || rf.window != refs[j-1].window {
			out.series = append(out.series, rf.series)
			out.windows = append(out.windows, rf.window)
			out.rows = append(out.rows, 0)
		}
		out.rows[len(out.rows)-1] += blocks[rf.blk].roll.rows[rf.i]
	}
	sp.roll = out
	if !lazyBlockParts {
		h.partsOf(sp)
	}
	return sp
}

// spanRef is a block partial's slot in a span: its series (an index
// into the span's sids) and window there, its block (an index into the
// span's) and its index in its block's rollup.
type spanRef struct {
	series int32
	window int64
	blk    int32
	i      int32
}

// spanRefs returns the slots in a span of width (series sids) of its
// blocks' partials, sorted, oldest block first among a window's: the
// order their parts combine in, as a fold of the rows would.
func spanRefs(sids []uint32, blocks []*headBlock, width int64) []spanRef {
	var refs []spanRef
	for b, blk := range blocks {
		r := blk.roll
		for i, w := range r.windows {
			k, _ := slices.BinarySearch(sids, blk.sids[r.series[i]])
			refs = append(refs, spanRef{int32(k), WindowStart(w, width), int32(b), int32(i)})
		}
	}
	slices.SortFunc(refs, func(a, b spanRef) int {
		if c := cmp.Compare(a.series, b.series); c != 0 {
			return c
		}
		if c := cmp.Compare(a.window, b.window); c != 0 {
			return c
		}
		return cmp.Compare(a.blk, b.blk) // older blocks first, as a fold of the rows
	})
	return refs
}

// mergeSpanParts combines the parts of span sp's blocks (folding theirs
// first where no reader has) into the parts of sp.roll's windows, in the
// order spanRefs gives, which made its skeleton.
func (h *Head) mergeSpanParts(sp *headBlock) [][]partial {
	out := sp.roll
	blocks := out.from
	src := make([][][]partial, len(blocks))
	for b, blk := range blocks {
		src[b] = h.partsOf(blk)
	}
	parts := make([][]partial, out.nfields)
	for c, col := range h.fields[:out.nfields] {
		if Rollable(col.typ) && slices.ContainsFunc(src, func(ps [][]partial) bool { return c < len(ps) && ps[c] != nil }) {
			parts[c] = make([]partial, len(out.windows))
		}
	}
	last := -1
	for j, rf := range spanRefs(sp.sids, blocks, out.width) {
		if j == 0 || rf.series != out.series[last] || rf.window != out.windows[last] {
			last++
		}
		sps := src[rf.blk]
		for c, ps := range parts {
			if ps == nil || c >= len(sps) || sps[c] == nil {
				continue // a field added after this block was sealed: no values there
			}
			if mergePartial(&ps[last], &sps[c][rf.i], h.fields[c].typ) {
				ps[last].overflow = true // a read of it reads the rows instead
			}
		}
	}
	return parts
}
