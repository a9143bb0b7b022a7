package iceberg

import (
	"cmp"
	"slices"

	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// Tables returns every table of m with the data files of its published
// windows: the day windows whose raw segments are all in the object store,
// pairwise hold no common point (disjoint times or disjoint series
// ranges, as compaction leaves a window it has merged) and hold no point
// another writer of a cluster has a newer copy of (Shadowed: see
// WithholdShadowed). A window that
// still has a local segment, or two segments that may hold the same point,
// waits: its rows would differ from what Silt answers (last write wins
// across segments), so outside engines do not see it until tiering and
// compaction are done with it. Tables are sorted by database and name.
func Tables(m *manifest.Manifest) []Table {
	type win struct{ db, table, window string }
	byWin := map[win][]segment.SegmentMeta{}
	for _, s := range m.Segments {
		if s.IsRollup() {
			continue
		}
		k := win{s.DB, s.Table, s.Window}
		byWin[k] = append(byWin[k], s)
	}
	byTable := map[[2]string]*Table{}
	var out []*Table
	for db, tables := range m.Schemas {
		for name, sch := range tables {
			t := &Table{DB: db, Name: name, Schema: sch}
			byTable[[2]string{db, name}] = t
			out = append(out, t)
		}
	}
	for k, segs := range byWin {
		t := byTable[[2]string{k.db, k.table}]
		if t == nil {
			continue
		}
		if !Publishable(segs, t.Schema.Tags) {
			if slices.ContainsFunc(segs, segment.SegmentMeta.Cold) {
				t.Withheld = append(t.Withheld, k.window)
			}
			continue
		}
		for _, s := range segs {
			t.Files = append(t.Files, DataFile{Key: s.Path, Window: s.Window, Rows: s.Rows, Bytes: s.Bytes,
				MinTime: s.MinTime, MaxTime: s.MaxTime})
		}
	}
	slices.SortFunc(out, func(a, b *Table) int {
		return cmp.Or(cmp.Compare(a.DB, b.DB), cmp.Compare(a.Name, b.Name))
	})
	res := make([]Table, len(out))
	for i, t := range out {
		slices.SortFunc(t.Files, func(a, b DataFile) int { return cmp.Compare(a.Key, b.Key) })
		slices.Sort(t.Withheld)
		res[i] = *t
	}
	return res
}

// Publishable reports whether one window's raw segments may be published:
// all cold, with no point in two of them.
func Publishable(segs []segment.SegmentMeta, tagOrder []string) bool {
	for i, a := range segs {
		// The partition value is the window: a segment whose rows are
		// not in it would be pruned wrongly.
		if !a.Cold() || a.Shadowed || segment.WindowName(segment.WindowOf(a.MinTime)) != a.Window ||
			segment.WindowOf(a.MaxTime) != segment.WindowOf(a.MinTime) {
			return false
		}
		for _, b := range segs[i+1:] {
			if mayShare(a, b, tagOrder) {
				return false
			}
		}
	}
	return len(segs) > 0
}

// mayShare reports whether a and b may hold the same point: their times
// overlap and so do their series ranges (unknown ranges overlap). The same
// rule compaction uses to decide a cold window needs a full merge.
func mayShare(a, b segment.SegmentMeta, tagOrder []string) bool {
	return segment.MayShare(a, b, tagOrder)
}

// WithholdShadowed returns m for a cluster writer (node self) to publish
// from, given the other writers' segments (peers, keys under the cluster
// root): a copy in which every raw segment that another writer's segment
// may hold a winning copy of one of its points in (segment.NewerPeers:
// a copy with a greater write stamp, which a query node keeps,
// docs/scaling.md) is Shadowed, so Tables withholds its window. This one
// is rewritten without the points whose other copy wins (the engine's
// peer dedupe, point by point by stamp, which records the peer in
// Deduped) and then published. So the shared table lists a point two
// writers hold once, from the writer whose copy wins. Segments without
// write stamps are older than stamped ones, and of two without, the later
// node id's is kept (segment.TieToPeer).
func WithholdShadowed(m *manifest.Manifest, self string, peers []segment.Peer) *manifest.Manifest {
	if len(peers) == 0 {
		return m
	}
	c := m.Clone()
	for i, s := range c.Segments {
		if s.IsRollup() || !s.Cold() {
			continue
		}
		var tagOrder []string
		if ts := c.Schemas[s.DB][s.Table]; ts != nil {
			tagOrder = ts.Tags
		}
		if len(segment.NewerPeers(s, self, peers, tagOrder)) > 0 {
			c.Segments[i].Shadowed = true
		}
	}
	return c
}
