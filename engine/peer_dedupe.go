package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"path/filepath"
	"slices"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/merge"
	"github.com/siltdb/silt/segment"
)

// Peers gives a cluster writer the other writers' segments
// (Config.Peers): a point two writers hold (the poll a new partition owner
// consumed again, a point rewritten after a hand-over) is kept by a query
// node from the copy with the greater write stamp (scan_stamps.go), and
// the writer whose copy loses rewrites its cold segment without it
// (dedupePeers), so that the shared Iceberg table, which lists every
// writer's files, lists it once, from the copy a query node answers.
type Peers interface {
	// Self is this writer's node id.
	Self() string
	// Segments returns the other writers' segments as their bucket
	// manifests name them (keys under the cluster's root).
	Segments(ctx context.Context) ([]segment.Peer, error)
	// Open opens a peer's segment for reading from the object store
	// (ranged reads: its footer and tag index, then the pages read).
	Open(ctx context.Context, m segment.SegmentMeta) (*segment.Segment, error)
}

// dedupePeers rewrites, in every window whose raw segments are all in the
// object store and hold no point twice (the windows the Iceberg table
// publishes), each segment another writer may hold a winning copy of one
// of its points in (segment.NewerPeers) without the points whose copy
// there wins (segment.PeerCopyWins, by the points' stamps). A segment that
// turns out to share none only records the peers it was checked against
// (Deduped). The next tiering pass uploads the output and deletes the
// replaced object, as after a merge. Windows still merging (local
// segments, or own segments sharing points) wait for the merge first.
func (e *Engine) dedupePeers(ctx context.Context) error {
	p := e.cfg.Peers
	if p == nil || e.tier == nil || e.tier.cfg.ReadOnly || e.tier.cfg.Tier == nil || e.tier.cfg.Tier.Uploader == nil {
		return nil
	}
	peers, err := p.Segments(ctx)
	if err != nil {
		return fmt.Errorf("dedupe against other writers: read their segments: %w", err)
	}
	if len(peers) == 0 {
		return nil
	}
	m := e.manifest.Load()
	last := &e.comp.peersDone // under e.comp.mu, as Compact holds it
	if m.Generation == last.gen && len(peers) == len(last.peers) && &peers[0] == &last.peers[0] {
		return nil // the same peers (Peers answered its cached list) and manifest
	}
	theirs := map[windowKey][]segment.Peer{}
	for _, p := range peers {
		if !p.Meta.IsRollup() {
			k := windowKey{p.Meta.DB, p.Meta.Table, p.Meta.Window}
			theirs[k] = append(theirs[k], p)
		}
	}
	byWin := map[windowKey][]segment.SegmentMeta{}
	var keys []windowKey
	for _, s := range m.Segments {
		if s.IsRollup() {
			continue
		}
		k := windowKey{s.DB, s.Table, s.Window}
		if byWin[k] == nil {
			keys = append(keys, k)
		}
		byWin[k] = append(byWin[k], s)
	}
	var errs []error
	for _, k := range keys {
		segs := byWin[k]
		if len(theirs[k]) == 0 {
			continue
		}
		var tagOrder []string
		if ts := m.Schemas[k.db][k.table]; ts != nil {
			tagOrder = ts.Tags
		}
		if !settled(segs, tagOrder) {
			continue
		}
		for _, s := range segs {
			newer := segment.NewerPeers(s, p.Self(), theirs[k], tagOrder)
			if len(newer) == 0 {
				continue
			}
			if err := e.dedupeSegment(ctx, k, s, newer, theirs[k], tagOrder); err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				// One window's failure does not stop the others'; it
				// stays withheld from the Iceberg table and is retried.
				e.comp.m.Errors.WithLabelValues("retry").Inc()
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 {
		last.peers, last.gen = peers, e.manifest.Load().Generation
	}
	return errors.Join(errs...)
}

// settled reports whether a window's raw segments are all cold and pairwise
// share no point.
func settled(segs []segment.SegmentMeta, tagOrder []string) bool {
	for i, a := range segs {
		if !a.Cold() {
			return false
		}
		for _, b := range segs[i+1:] {
			if segment.MayShare(a, b, tagOrder) {
				return false
			}
		}
	}
	return true
}

// dedupeSegment rewrites s without the points whose copies in the peer
// segments newer (segment.NewerPeers) win over its own, point by point by
// write stamp as a query node's merge decides (segment.PointStamp,
// segment.PeerCopyWins),
// or records that it holds none of them. Which series two segments
// may share is first told by the values of the table's first tag in their
// tag indexes (writers of a Kafka group split partitions by key: their
// hosts differ), read from the footers alone; only the shared series of a
// peer are read, and s is downloaded and rewritten only if some remain.
func (e *Engine) dedupeSegment(ctx context.Context, k windowKey, s segment.SegmentMeta, newer, all []segment.Peer, tagOrder []string) (err error) {
	fail := func(err error) error {
		return fmt.Errorf("dedupe %s.%s window %s segment %s against other writers: %w", k.db, k.table, k.window, s.Path, err)
	}
	e.flushMu.Lock()
	if !slices.ContainsFunc(e.manifest.Load().Segments, func(x segment.SegmentMeta) bool { return x.ID == s.ID }) {
		e.flushMu.Unlock()
		return nil // replaced meanwhile
	}
	base := e.nextID.Add(1) - 1
	e.refs.acquire([]segment.SegmentMeta{s})
	e.flushMu.Unlock()
	defer e.refs.release([]segment.SegmentMeta{s})

	// The series s and each peer may share, by their first tag's values
	// (nil: unknown, every series). Two segments hold the same series only
	// if they share a value of the first tag, or both hold series without
	// it: those cannot be picked out by the tag index, so then every
	// series of the peer is read.
	var first string
	if len(tagOrder) > 0 {
		first = tagOrder[0]
	}
	var ownVals []string
	ownKnown, ownAll := false, false
	if first != "" {
		seg, err := e.refs.segment(s)
		if err != nil {
			return fail(err)
		}
		ownVals, ownAll, ownKnown = seg.KeyValues(first)
		slices.Sort(ownVals)
	}
	type shared struct {
		peer segment.Peer
		seg  *segment.Segment
		vals []string // nil: all
	}
	var cands []shared
	defer func() {
		for _, c := range cands {
			_ = c.seg.Close()
		}
	}()
	for _, p := range newer {
		sg, err := e.cfg.Peers.Open(ctx, p.Meta)
		if err != nil {
			return fail(fmt.Errorf("open %s: %w", p.Meta.Path, err))
		}
		var vals []string
		if ownKnown {
			if theirs, theirAll, ok := sg.KeyValues(first); ok && (ownAll || theirAll) {
				// One side's series all have the tag: only common values
				// can name a common series.
				slices.Sort(theirs)
				vals = intersectSorted(ownVals, theirs)
				if len(vals) == 0 {
					_ = sg.Close()
					continue // no common series
				}
			}
		}
		cands = append(cands, shared{p, sg, vals})
	}
	// Deduped: the peers checked now, and those recorded before that
	// still exist (a replaced peer segment's key is gone for good).
	done := make([]string, 0, len(newer)+len(s.Deduped))
	for _, p := range newer {
		done = append(done, p.Meta.Path)
	}
	for _, key := range s.Deduped {
		if slices.ContainsFunc(all, func(p segment.Peer) bool { return p.Meta.Path == key }) && !slices.Contains(done, key) {
			done = append(done, key)
		}
	}
	if len(cands) == 0 {
		return e.amendSegment(s.ID, func(m *segment.SegmentMeta) { m.Deduped = done })
	}

	paths, cleanup, err := e.mergeInputs(ctx, k, base, []segment.SegmentMeta{s})
	if err != nil {
		return err
	}
	defer cleanup()
	own, err := segment.OpenSegment(paths[0])
	if err != nil {
		return fail(err)
	}
	defer own.Close()
	schema := columnar.NewTableSchema()
	for _, t := range own.Info.Tags {
		schema.AddTag(t)
	}
	for _, f := range own.Info.Fields {
		schema.AddField(f.Name, f.Type)
	}

	// Each peer's shared series in merge order, one cursor each, with
	// each point's stamp as a query node reads it (the stamp column, or
	// the peer's write_max): a point of s is dropped when a cursor stops
	// on its series and time and the peer's copy wins. The cursors stream
	// (a page at a time), as does s: nothing holds a window's points.
	type cursor struct {
		next  func() (*columnar.Point, error, bool)
		cur   *columnar.Point
		stamp int64 // of cur, set by the producer
		tie   bool  // equal stamps: the peer's copy wins (segment.TieToPeer)
	}
	cursors := make([]*cursor, len(cands))
	for i, c := range cands {
		var tags map[string][]string
		if c.vals != nil {
			tags = map[string][]string{first: c.vals}
		}
		cur := &cursor{tie: segment.TieToPeer(s, e.cfg.Peers.Self(), c.peer)}
		next, stop := iter.Pull2(stampedSegment(c.seg, c.peer.Meta, slices.Clone(c.seg.Info.Tags), tags, math.MinInt64, math.MaxInt64, &cur.stamp))
		defer stop()
		cur.next = next
		cursors[i] = cur
	}
	advance := func(c *cursor) error {
		p, err, ok := c.next()
		if !ok {
			c.cur = nil
			return nil
		}
		c.cur = p
		return err
	}
	for _, c := range cursors {
		if err := advance(c); err != nil {
			return fail(err)
		}
	}
	rel := segment.SegmentPath(k.db, k.table, k.window, base)
	out := filepath.Join(e.cfg.DataDir, filepath.FromSlash(rel))
	// The rewrite keeps each point's write stamp (a query node's merge of
	// writers' copies goes by them); a segment written before stamps
	// stays without.
	w, err := segment.NewStampedSegmentWriter(out, k.db, k.table, schema, compaction.BatchRows, own.Info.WriteStamps)
	if err != nil {
		return fail(err)
	}
	rows, err := own.Rows(compaction.BatchRows)
	if err != nil {
		return fail(errors.Join(err, w.Abort()))
	}
	defer rows.Close()
	dropped := 0
	err = scanStamped(rows, func(p *columnar.Point, stamp int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		drop := false
		mine := segment.PointStamp(stamp, s)
		for _, c := range cursors {
			for c.cur != nil {
				cmp := merge.Compare(tagOrder, c.cur, p)
				if cmp > 0 {
					break
				}
				if cmp == 0 {
					// Only the copy a query node keeps stays: the
					// peer's, where its stamp is greater (or equal and
					// the tie rule gives it to the peer); else this
					// one, and the peer's writer drops its copy.
					drop = drop || segment.PeerCopyWins(mine, c.stamp, c.tie)
					break
				}
				if err := advance(c); err != nil {
					return err
				}
			}
		}
		if drop {
			dropped++
			return nil
		}
		return w.AppendStamped(p, stamp)
	})
	if err != nil {
		return fail(errors.Join(err, w.Abort()))
	}
	if dropped == 0 {
		if err := w.Abort(); err != nil {
			return fail(err)
		}
		return e.amendSegment(s.ID, func(m *segment.SegmentMeta) { m.Deduped = done })
	}
	var news []segment.SegmentMeta
	if w.Rows() == 0 {
		if err := w.Abort(); err != nil { // every point is held newer elsewhere
			return fail(err)
		}
	} else {
		mt, err := w.Close()
		if err != nil {
			return fail(err)
		}
		mt.ID, mt.Path, mt.Window = base, rel, k.window
		mt.Seq, mt.SeqMin, mt.Fresh = s.DataSeq(), s.DataSeqMin(), s.Fresh
		mt.WriteMin, mt.WriteMax, mt.Deduped = s.WriteMin, s.WriteMax, done
		news = append(news, mt)
		news = append(news, e.buildRollups(news, func() uint64 { return e.nextID.Add(1) - 1 }, "compaction", nil)...)
		for i := range news {
			news[i].WriteMin, news[i].WriteMax = s.WriteMin, s.WriteMax
		}
	}
	if err := e.swapSegments([]segment.SegmentMeta{s}, news); err != nil {
		e.removeSegmentFiles(news)
		return fail(err)
	}
	e.log.Info("rewrote a segment without the points whose copies other writers hold are newer",
		"db", k.db, "table", k.table, "window", k.window, "segment", s.Path, "dropped", dropped, "peers", len(cands))
	return nil
}

// scanStamped passes fn every point of rows in order, with its write
// stamp (0: none).
func scanStamped(rows *segment.RowReader, fn func(p *columnar.Point, stamp int64) error) error {
	var p columnar.Point
	for {
		ok, err := rows.Next(&p)
		if err != nil || !ok {
			return err
		}
		if err := fn(&p, rows.Stamp()); err != nil {
			return err
		}
	}
}

// intersectSorted returns the values in both sorted lists.
func intersectSorted(a, b []string) []string {
	out := []string{}
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// amendSegment commits a manifest in which segment id's metadata is
// changed by fn (its file stays).
func (e *Engine) amendSegment(id uint64, fn func(*segment.SegmentMeta)) error {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	m := e.manifest.Load().Clone()
	i := slices.IndexFunc(m.Segments, func(s segment.SegmentMeta) bool { return s.ID == id })
	if i < 0 {
		return nil // replaced meanwhile
	}
	fn(&m.Segments[i])
	if err := m.Commit(e.cfg.DataDir); err != nil {
		return fmt.Errorf("commit manifest: %w", err)
	}
	e.mu.Lock()
	e.setManifestLocked(m)
	e.mu.Unlock()
	return nil
}
