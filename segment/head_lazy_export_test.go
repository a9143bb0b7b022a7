package segment

// SetLazyBlockParts sets lazyBlockParts for the package's external tests
// and benchmarks, returning its undo.
func SetLazyBlockParts(lazy bool) (undo func()) {
	was := lazyBlockParts
	lazyBlockParts = lazy
	return func() { lazyBlockParts = was }
}

// FoldPendingParts folds the parts of every rollup of h's blocks and spans
// no reader has folded yet, as the first readers of them would, and
// returns how many rollups it found.
func FoldPendingParts(h *Head) int {
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
