package segment

import (
	"fmt"
	"testing"
)

// queryNodeKeepsB is a model of a query node's choice between two writers'
// copies of one point, written out from docs/scaling.md rather than from
// the functions under test: the greater stamp (a point without one takes
// its segment's write_max), and between equal stamps the copy of the
// source the union orders later — the later newest write, then the later
// oldest write, then the later writer (node id; slots follow node ids
// here).
func queryNodeKeepsB(a, b int64, sa, sb SegmentMeta, na, nb string) bool {
	if a != b {
		return b > a
	}
	if sa.WriteMax != sb.WriteMax {
		return sb.WriteMax > sa.WriteMax
	}
	if sa.WriteMin != sb.WriteMin {
		return sb.WriteMin > sa.WriteMin
	}
	return nb > na
}

// stampsOf lists the stamps a segment's points can carry: every value in
// its range, as PointStamp gives them (the column's, or write_max), and 0
// for a segment written before stamps.
func stampsOf(m SegmentMeta) []int64 {
	if m.WriteMax == 0 {
		return []int64{0}
	}
	var out []int64
	for v := m.WriteMin; v <= m.WriteMax; v++ {
		out = append(out, v)
	}
	return out
}

// Every pair of write ranges (unstamped, stamped, a compaction's mixed
// range starting at 1; disjoint, touching, interleaved, equal) and every
// pair of point stamps within them: of the two writers' copies exactly one
// is kept by the dedupe (each writer applies PeerCopyWins to the other's),
// it is the copy the model of the query node keeps, and NewerPeers names
// the peer segment whenever some point of it can win (so its writer's
// segment is checked), and never when none can (so nothing is withheld or
// read for nothing).
func TestPeerCopyWinsAgreesWithQueryNode(t *testing.T) {
	var ranges [][2]int64
	ranges = append(ranges, [2]int64{0, 0})
	for lo := int64(1); lo <= 5; lo++ {
		for hi := lo; hi <= 5; hi++ {
			ranges = append(ranges, [2]int64{lo, hi})
		}
	}
	checked, named := 0, 0
	for _, ra := range ranges {
		for _, rb := range ranges {
			sa := SegmentMeta{DB: "db", Table: "cpu", Path: "nodes/w1/a", MaxTime: 10, WriteMin: ra[0], WriteMax: ra[1]}
			sb := SegmentMeta{DB: "db", Table: "cpu", Path: "nodes/w2/b", MaxTime: 10, WriteMin: rb[0], WriteMax: rb[1]}
			pa, pb := Peer{Node: "w1", Meta: sa}, Peer{Node: "w2", Meta: sb}
			bCanWin, aCanWin := false, false
			for _, a := range stampsOf(sa) {
				for _, b := range stampsOf(sb) {
					checked++
					want := queryNodeKeepsB(PointStamp(a, sa), PointStamp(b, sb), sa, sb, "w1", "w2")
					bWins := PeerCopyWins(PointStamp(a, sa), PointStamp(b, sb), TieToPeer(sa, "w1", pb)) // w1 drops its copy
					aWins := PeerCopyWins(PointStamp(b, sb), PointStamp(a, sa), TieToPeer(sb, "w2", pa)) // w2 drops its copy
					if bWins == aWins {
						t.Fatalf("ranges %v %v, stamps %d %d: w1 drops its copy %v, w2 drops its copy %v: want exactly one", ra, rb, a, b, bWins, aWins)
					}
					if bWins != want {
						t.Fatalf("ranges %v %v, stamps %d %d: the dedupe keeps w2's copy %v, a query node %v", ra, rb, a, b, bWins, want)
					}
					bCanWin = bCanWin || bWins
					aCanWin = aCanWin || aWins
				}
			}
			for _, c := range []struct {
				s, self string
				m       SegmentMeta
				p       Peer
				can     bool
			}{{"w1", "w1", sa, pb, bCanWin}, {"w2", "w2", sb, pa, aCanWin}} {
				got := len(NewerPeers(c.m, c.self, []Peer{c.p}, nil)) == 1
				if got != c.can {
					t.Fatalf("ranges %v %v: NewerPeers of %s's segment names the other's: %v; some copy of it wins: %v", ra, rb, c.s, got, c.can)
				}
				if got {
					named++
				}
			}
			// Done peers, other tables and times that do not overlap are
			// never named.
			done := sa
			done.Deduped = []string{sb.Path}
			other := sb
			other.MinTime = 11
			other.MaxTime = 20
			if len(NewerPeers(done, "w1", []Peer{pb}, nil)) != 0 || len(NewerPeers(sa, "w1", []Peer{{Node: "w2", Meta: other}}, nil)) != 0 {
				t.Fatalf("ranges %v %v: a peer already checked or sharing no time is named", ra, rb)
			}
		}
	}
	t.Logf("%d pairs of ranges, %d pairs of stamps, %d peer segments named", len(ranges)*len(ranges), checked, named)
	if named == 0 || checked == 0 {
		t.Fatal("nothing checked")
	}
}

func ExamplePeerCopyWins() {
	// Writer w1's segment spans writes 10..40, w2's 20..30 (they rewrote
	// the same points in turns, then each merged its window): by ranges
	// w1's is newer, but a point w1 wrote at 10 and w2 rewrote at 20
	// answers w2's copy, so w1 drops its own.
	s := SegmentMeta{WriteMin: 10, WriteMax: 40}
	p := Peer{Node: "w2", Meta: SegmentMeta{WriteMin: 20, WriteMax: 30}}
	fmt.Println(PeerCopyWins(PointStamp(10, s), PointStamp(20, p.Meta), TieToPeer(s, "w1", p)))
	fmt.Println(PeerCopyWins(PointStamp(40, s), PointStamp(30, p.Meta), TieToPeer(s, "w1", p)))
	// Output:
	// true
	// false
}
