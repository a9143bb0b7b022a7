package segment

import (
	"cmp"
	"slices"
)

// A cluster's writers each hold their own segments; where two hold the
// same point (series and time), a query node keeps the later write
// (docs/scaling.md, "Last write wins across nodes"), and the writer whose
// copy loses rewrites its segment without it, so that the shared Iceberg
// table lists the point once (docs/iceberg.md). These are the rules both
// sides apply.

// Peer is a segment of another writer: Meta.Path is its key under the
// cluster's root (nodes/<node>/segments/…).
type Peer struct {
	Node string
	Meta SegmentMeta
}

// WriteOrder compares two sources that may hold the same point by the
// write stamps of their rows (WriteMin, WriteMax): negative when a's copy
// is older than b's, so b's is kept. A source whose writes all come after
// the other's is newer; where the ranges interleave, the one whose newest
// write is later, then whose oldest write is later. A source without
// stamps (0, 0) is older than every stamped one. 0: no order.
func WriteOrder(aMin, aMax, bMin, bMax int64) int {
	return cmp.Or(cmp.Compare(aMax, bMax), cmp.Compare(aMin, bMin))
}

// MayShare reports whether a and b may hold the same point: their times
// overlap and so do their series ranges (unknown ranges overlap).
func MayShare(a, b SegmentMeta, tagOrder []string) bool {
	if a.MaxTime < b.MinTime || b.MaxTime < a.MinTime {
		return false
	}
	if !a.SeriesKnown() || !b.SeriesKnown() {
		return true
	}
	return CompareSeries(a.LastSeries, b.FirstSeries, tagOrder) >= 0 &&
		CompareSeries(b.LastSeries, a.FirstSeries, tagOrder) >= 0
}

// NewerPeers returns the raw segments of peers that may hold a point of
// s (writer self's raw segment) with a newer copy, which s's copy loses
// to, leaving out those s records as done (Deduped: s was rewritten
// without their points, or found to share none). Newer is WriteOrder,
// ties going to the writer whose node id sorts later.
//
// A segment without stamps (written before them) is older than every
// stamped one, as a query node orders them. Two without stamps have no
// write order: the later node id's copy is kept, so that every writer
// picks the same one and the older copy is rewritten away; once it is, a
// query node holds a single copy and answers it too.
func NewerPeers(s SegmentMeta, self string, peers []Peer, tagOrder []string) []Peer {
	if s.IsRollup() {
		return nil
	}
	var out []Peer
	for _, p := range peers {
		t := p.Meta
		if p.Node == self || t.IsRollup() || t.DB != s.DB || t.Table != s.Table ||
			!MayShare(s, t, tagOrder) || slices.Contains(s.Deduped, t.Path) {
			continue
		}
		c := WriteOrder(s.WriteMin, s.WriteMax, t.WriteMin, t.WriteMax)
		if c < 0 || (c == 0 && p.Node > self) {
			out = append(out, p)
		}
	}
	return out
}
