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

// PointStamp returns the write stamp a query node orders a segment's copy
// of a point by: col, the point's stamp column, or where that is 0 (a
// format version 1 segment, or a point a compaction carried over from
// one) the segment's WriteMax (0 before stamps were recorded). The peer
// dedupe takes the same stamps, so that the copy it keeps is the one a
// query node answers.
func PointStamp(col int64, m SegmentMeta) int64 {
	if col != 0 {
		return col
	}
	return m.WriteMax
}

// TieToPeer reports whether, of two copies of a point with equal stamps
// (PointStamp), the copy of peer p is kept over the one of s (writer
// self's segment). Equal stamps come from segments without a stamp column
// (their points take WriteMax; two segments written before stamps both
// take 0), as good as never from two writers' clocks. The rule: the
// segments' WriteOrder, then the writer whose node id sorts later. A
// query node orders equal stamps by its union's order of segments, which
// is the same WriteOrder and then the writers' slots (node-id order as
// first seen); where that differs, it answers the copy the rewrite leaves
// once the other is gone, as the Iceberg table lists.
func TieToPeer(s SegmentMeta, self string, p Peer) bool {
	c := WriteOrder(s.WriteMin, s.WriteMax, p.Meta.WriteMin, p.Meta.WriteMax)
	return c < 0 || (c == 0 && p.Node > self)
}

// PeerCopyWins reports whether a peer's copy of a point, with stamp
// theirs, is kept over this writer's, with stamp own (both PointStamp):
// the greater stamp, as a query node's merge keeps it; equal stamps go by
// tie (TieToPeer). Exactly one of two writers' copies wins: each writer
// applies this rule to the other's copy, and tie is antisymmetric.
func PeerCopyWins(own, theirs int64, tie bool) bool {
	return theirs > own || (theirs == own && tie)
}

// NewerPeers returns the raw segments of peers that may hold a copy of a
// point of s (writer self's raw segment) that wins over s's
// (PeerCopyWins), leaving out those s records as done (Deduped: s was
// rewritten without the points their copies win, or found to share none).
//
// The decision is per point, by the points' stamps (the dedupe reads
// them); this is the filter on the manifests' ranges that tells which
// segments can hold a winning copy at all. A segment's point stamps lie
// within its [WriteMin, WriteMax] (PointStamp's fallback is WriteMax), so
// a peer can win a point only if its newest write is newer than s's
// oldest, or, where the two ranges just touch, by the tie rule. Where the
// ranges interleave (writers rewriting the same points in turns, then each
// merging its window), both writers' segments are returned to each other:
// each holds some of the points a query node answers.
//
// A segment without stamps (0, 0, written before them) is older than every
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
		if t.WriteMax > s.WriteMin || (t.WriteMax == s.WriteMin && TieToPeer(s, self, p)) {
			out = append(out, p)
		}
	}
	return out
}
