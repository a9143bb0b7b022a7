package segment

// Where the parts of sealed blocks' rollups are folded, for
// SetBlockParts.
const (
	PartsAtSeal     = iota // by the writer, at the seal (lazyBlockParts off)
	PartsByReader          // by their first reader (partsSink nil)
	PartsQueued            // handed with a View to a sink that keeps them for FoldPendingParts
	PartsBackground        // by the background folder, or their first reader (the default)
)

// SetBlockParts sets where the package folds rollup parts, for its tests
// and benchmarks, and returns its undo.
func SetBlockParts(mode int) (undo func()) {
	lazy, sink := lazyBlockParts, partsSink
	lazyBlockParts, partsSink = mode != PartsAtSeal, nil
	switch mode {
	case PartsQueued:
		partsSink = func(v *Head, blk, sp *headBlock) { queued = append(queued, partsJob{v, blk, sp}) }
	case PartsBackground:
		partsSink = foldInBackground
	}
	return func() { lazyBlockParts, partsSink, queued = lazy, sink, nil }
}

// queued are the jobs of PartsQueued.
var queued []partsJob

// SetLazyBlockParts is SetBlockParts(PartsByReader) or (PartsAtSeal).
func SetLazyBlockParts(lazy bool) (undo func()) {
	if lazy {
		return SetBlockParts(PartsByReader)
	}
	return SetBlockParts(PartsAtSeal)
}

// FoldPendingParts folds the parts of every rollup of h's blocks and spans
// no one has folded yet, as the first readers of them would (or, for
// PartsQueued, the background folder from the Views queued), and returns
// how many rollups it found.
func FoldPendingParts(h *Head) int {
	for _, j := range queued {
		j.v.partsOf(j.blk)
		if j.sp != nil && j.sp.roll != nil {
			j.v.partsOf(j.sp)
		}
	}
	queued = nil
	n := 0
	for _, blk := range h.blocks {
		if blk.roll != nil {
			h.partsOf(blk)
			n++
		}
	}
	for _, sp := range h.spans {
		if sp != nil {
			h.partsOf(sp)
			n++
		}
	}
	return n
}
