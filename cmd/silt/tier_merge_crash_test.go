package main

import (
	"testing"
	"time"
)

// TestCrashKill9TierMerge is TestCrashKill9Tier with writers whose
// successive points are scattered over their window instead of following
// one another: every flush into a tiered window then overlaps its
// segments in time and series, so compaction downloads and merges the
// window again and again while passes upload the merged segments and
// delete the objects they replaced, and the SIGKILLs land in those steps
// too. Each point is still written once, so the checks are the same: no
// acknowledged row lost or doubled, and no object left in the bucket
// that no segment names once the first passes after a restart have run.
func TestCrashKill9TierMerge(t *testing.T) {
	skipShort(t)
	tierCrashRounds(t, scatteredKey)
}

// scatteredKey is newKey with the n-th point of a window at a slot that
// an odd multiplier scatters over blocks of 65536 (a bijection, so every
// point stays distinct).
func scatteredKey(n int64) pointKey {
	k := newKey(n)
	w := n % 3
	p := n / 3
	slot := (p>>16)<<16 | (p*40503)&0xffff
	k.Time = t0 + w*int64(24*time.Hour) + slot*1000
	return k
}
