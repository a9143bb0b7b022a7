package compaction

import "math"

// Policy decides which segments of one window to merge. Segments of a
// window are ordered by write order (segment id): for one series and time
// the newest segment's value wins. A merge must therefore take a suffix of
// that order — the newest segments — so that its output, which gets an id
// reserved before any later flush, sits exactly where its inputs sat.
//
// Within the window the policy keeps a size-tiered chain, newest last:
//
//   - "Full" segments (at least TargetRows/2 rows) are never merged again,
//     except to trim expired rows. A merge writes outputs of at most
//     TargetRows rows, so a window holds at most 2·rows/TargetRows + 1
//     full segments.
//   - After the last full segment comes the tail. A tail segment of at
//     least FloorRows rows must hold Ratio times the rows of the next one
//     when that one also has FloorRows rows; otherwise they merge.
//   - Segments under FloorRows (a flush of a trickle) pile up to L0Max and
//     then merge; if the result reaches FloorRows, older neighbours smaller
//     than Ratio times it join the merge.
//   - A tail longer than MaxTail merges its newest segments regardless.
//
// So the tail holds at most log_Ratio(TargetRows/2/FloorRows)+1 segments of
// FloorRows or more plus L0Max-1 small ones; with the defaults
// (Ratio 4, FloorRows 8192, TargetRows 4Mi, L0Max 4) that is 5+3 = 8, and
// MaxTail (8) caps it whatever the sizes. Every row is rewritten about
// log_Ratio(TargetRows/FloorRows) times before it lands in a full segment.
type Policy struct {
	Ratio      int64 // size ratio between neighbours in the tail
	FloorRows  int64 // segments smaller than this count as level 0
	TargetRows int64 // rows per output segment; half of it is "full"
	L0Max      int   // level-0 segments tolerated at the end of the tail
	MaxTail    int   // hard cap on the tail's length
}

// DefaultPolicy is the policy documented in docs/compaction.md.
var DefaultPolicy = Policy{Ratio: 4, FloorRows: 8192, TargetRows: 4 << 20, L0Max: 4, MaxTail: 8}

// WindowBound returns the most segments the policy leaves in a window of
// rows rows once compaction has caught up.
func (p Policy) WindowBound(rows int64) int {
	return int(2*rows/p.TargetRows) + 1 + p.MaxTail
}

// Seg is what the planner needs of a segment.
type Seg struct {
	Rows    int64
	MinTime int64
	MaxTime int64
}

// Plan returns the index from which segs (one window, in write order) should
// be merged: segs[from:] is the merge, from == len(segs) means nothing to do.
func (p Policy) Plan(segs []Seg) int {
	n := len(segs)
	j := 0 // start of the tail
	for i, s := range segs {
		if p.full(s) {
			j = i + 1
		}
	}
	from := n
	// The earliest broken link of the chain.
	for i := j; i+1 < n; i++ {
		a, b := segs[i].Rows, segs[i+1].Rows
		if a >= p.FloorRows && b >= p.FloorRows && a < p.Ratio*b {
			from = i
			break
		}
	}
	// Trailing level-0 run.
	l0 := 0
	for i := n - 1; i >= j && segs[i].Rows < p.FloorRows; i-- {
		l0++
	}
	if l0 >= p.L0Max && n-l0 < from {
		from = n - l0
	}
	if from == n && n-j > p.MaxTail {
		from = n - 2
	}
	if from >= n-1 {
		return n // a single segment: nothing to merge
	}
	// Extend backwards over neighbours the result would break the chain
	// with. A result still under FloorRows joins the level-0 pile instead:
	// rewriting a large neighbour for a few rows is what makes trickles
	// expensive.
	var m int64
	for _, s := range segs[from:] {
		m += s.Rows
	}
	for from > j && m >= p.FloorRows && segs[from-1].Rows < p.Ratio*m {
		from--
		m += segs[from].Rows
	}
	return from
}

func (p Policy) full(s Seg) bool { return s.Rows >= p.TargetRows/2 }

// TrimDue reports whether a window whose segments are segs should be
// rewritten whole to drop rows before cutoff: when at least a quarter of the
// window's time span has expired. Rows before cutoff are invisible to queries
// anyway; the trim only gives back disk, so it waits until that pays.
func TrimDue(segs []Seg, windowStart, windowLen, cutoff int64) bool {
	if cutoff == math.MinInt64 || cutoff <= windowStart || len(segs) == 0 {
		return false
	}
	lo := int64(math.MaxInt64)
	for _, s := range segs {
		lo = min(lo, s.MinTime)
	}
	return lo < cutoff && cutoff-max(lo, windowStart) >= windowLen/4
}
