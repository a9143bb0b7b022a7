package exec

import "context"

// Typed aggregation loops over bigint columns without NULLs or with a
// NULL vector: no interface call, no per-row closure.

// maxInt64s returns the largest of xs (not empty). One running maximum is
// a chain of compare-and-moves, each waiting for the one before (about
// two cycles a value); eight independent maxima, joined at the end, keep
// the core busy with loads instead.
func maxInt64s(xs []int64) int64 {
	m0, m1, m2, m3, m4, m5, m6, m7 := xs[0], xs[0], xs[0], xs[0], xs[0], xs[0], xs[0], xs[0]
	for len(xs) >= 8 {
		m0 = max(m0, xs[0])
		m1 = max(m1, xs[1])
		m2 = max(m2, xs[2])
		m3 = max(m3, xs[3])
		m4 = max(m4, xs[4])
		m5 = max(m5, xs[5])
		m6 = max(m6, xs[6])
		m7 = max(m7, xs[7])
		xs = xs[8:]
	}
	for _, v := range xs {
		m0 = max(m0, v)
	}
	return max(m0, m1, m2, m3, m4, m5, m6, m7)
}

// minInt64s is maxInt64s for the smallest.
func minInt64s(xs []int64) int64 {
	m0, m1, m2, m3, m4, m5, m6, m7 := xs[0], xs[0], xs[0], xs[0], xs[0], xs[0], xs[0], xs[0]
	for len(xs) >= 8 {
		m0 = min(m0, xs[0])
		m1 = min(m1, xs[1])
		m2 = min(m2, xs[2])
		m3 = min(m3, xs[3])
		m4 = min(m4, xs[4])
		m5 = min(m5, xs[5])
		m6 = min(m6, xs[6])
		m7 = min(m7, xs[7])
		xs = xs[8:]
	}
	for _, v := range xs {
		m0 = min(m0, v)
	}
	return min(m0, m1, m2, m3, m4, m5, m6, m7)
}

// bestInt64Rows sets best[g] (-1: no row yet) to the row of the largest
// (isMax) or smallest value of xs among the rows of group g (gids) that
// null does not rule out; of equal values the first row is kept. The
// group's best value is kept beside its row, so a comparison reads no
// row the loop has passed. It runs in blocks of ctxCheckRows rows and
// returns ctx's error if it finds it ended before a block.
func bestInt64Rows(ctx context.Context, best []int, xs []int64, null []bool, gids []int32, isMax bool) error {
	vals := make([]int64, len(best))
	for g, b := range best {
		if b >= 0 {
			vals[g] = xs[b]
		}
	}
	n := len(gids)
	var err error
	for lo, hi := 0, 0; lo < n; lo = hi {
		if hi, err = blockEnd(ctx, lo, n); err != nil {
			return err
		}
		bestInt64Block(best, vals, xs, null, gids[lo:hi], lo, isMax)
	}
	return nil
}

// bestInt64Block is bestInt64Rows' loop over the block of rows from lo
// (gids[j] is row lo+j's group). A function of its own, not inlined:
// inline, the context check's call between blocks clobbers every
// register, and the loop reloaded its slices from the stack on each row
// (max-by-tag over bigints measured 14% slower); called, its arguments
// arrive in registers and the loop compiles as it did before the checks.
//
//go:noinline
func bestInt64Block(best []int, vals, xs []int64, null []bool, gids []int32, lo int, isMax bool) {
	xs = xs[lo : lo+len(gids)]
	if null != nil {
		null = null[lo : lo+len(gids)]
	}
	for j, g := range gids {
		if null != nil && null[j] {
			continue
		}
		v := xs[j]
		switch b := best[g]; {
		case b < 0:
			best[g], vals[g] = lo+j, v
		case isMax && v > vals[g], !isMax && v < vals[g]:
			best[g], vals[g] = lo+j, v
		}
	}
}
