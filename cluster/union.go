package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// slotBits: a union segment id is the writer's slot above its own segment
// id, so ids stay unique across writers, keep each writer's order (the
// engine resolves duplicates by segment order) and never change for a
// segment while the process runs (open segments are cached by id).
const slotBits = 40

// Union builds one manifest from every writer's bucket manifest
// (nodes/<node-id>/manifest.json) for a query node's engine: the segments
// of all writers, with their keys under the writer's prefix, and the union
// of their databases and schemas.
//
// Where two writers hold the same point (series and time) the engine's
// merge keeps one, as it does for two segments of one writer: the copy
// of the segment the union orders last (Order). Within a writer that is
// its own order (ids); across writers, the segment with the later writes
// (WriteOrder). Slots go to writers in the order of their node ids as
// first seen (later writers after) and break ties, and decide alone
// between segments written before stamps were recorded.
type Union struct {
	store Store
	log   *slog.Logger
	// Live, if set, returns schemas of tables and columns that exist so
	// far only outside the bucket (the live writers' catalogs, Overlay):
	// merged into the union's catalog after the bucket's.
	Live func(context.Context) (map[string]map[string]*columnar.TableSchema, error)
	live []byte // the last Live answer, encoded

	mu    sync.Mutex
	nodes map[string]*unionNode
	next  uint64 // next slot
	gen   uint64
	last  *manifest.Manifest
	// stamp is the newest write stamp of any segment of the last build.
	stamp int64
}

type unionNode struct {
	slot uint64
	etag string
	m    *manifest.Manifest
}

// NewUnion reads through store, whose prefix is the cluster's root.
func NewUnion(store Store, log *slog.Logger) *Union {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Union{store: store, log: log, nodes: map[string]*unionNode{}, next: 1}
}

// WriterManifest describes one writer's manifest as last loaded.
type WriterManifest struct {
	NodeID     string
	Generation uint64
	Segments   int
}

// Writers returns the writers whose manifests the last Load read.
func (u *Union) Writers() []WriterManifest {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []WriterManifest
	for id, n := range u.nodes {
		out = append(out, WriterManifest{NodeID: id, Generation: n.m.Generation, Segments: len(n.m.Segments)})
	}
	slices.SortFunc(out, func(a, b WriterManifest) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out
}

// Load lists the writers' prefixes, fetches the manifests that changed
// since the last Load (one GET each; unchanged ones cost one listing) and
// returns their union. Its Generation grows whenever any writer's
// manifest changed, so the engine swaps it in only then.
func (u *Union) Load(ctx context.Context) (*manifest.Manifest, error) {
	_, dirs, err := u.store.ListDir(ctx, NodesDir)
	if err != nil {
		return nil, fmt.Errorf("list writers: %w", err)
	}
	// Read before the lock: Live orders writers by slot.
	var live map[string]map[string]*columnar.TableSchema
	if u.Live != nil {
		if live, err = u.Live(ctx); err != nil {
			u.log.Warn("could not read the live writers' catalogs", "err", err)
			live = nil
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	changed := false
	seen := map[string]bool{}
	var fresh []string
	for _, d := range dirs {
		id := strings.TrimSuffix(strings.TrimPrefix(d, NodesDir), "/")
		if ValidNodeID(id) != nil {
			continue
		}
		key := NodesDir + id + "/" + manifest.ManifestFile
		n := u.nodes[id]
		if n != nil {
			// A HEAD, not a GET, while the manifest is unchanged: query
			// nodes reload before every scan.
			info, err := u.store.Stat(ctx, key)
			if err == nil && strings.Trim(info.ETag, `"`) == n.etag {
				seen[id] = true
				continue
			}
		}
		raw, etag, err := u.store.GetWithETag(ctx, key)
		if errors.Is(err, tiering.ErrNotFound) {
			continue // a writer that has not published yet
		}
		if err != nil {
			return nil, fmt.Errorf("writer %s: %w", id, err)
		}
		seen[id] = true
		if n != nil && n.etag == etag {
			continue
		}
		m, err := parseBucketManifest(raw)
		if err != nil {
			return nil, fmt.Errorf("writer %s: %s: %w", id, key, err)
		}
		changed = true
		if n == nil {
			n = &unionNode{}
			u.nodes[id] = n
			fresh = append(fresh, id)
		}
		n.etag, n.m = etag, m
	}
	// Slots in node id order among those first seen together.
	slices.Sort(fresh)
	for _, id := range fresh {
		u.nodes[id].slot = u.next
		u.next++
	}
	for id := range u.nodes {
		if !seen[id] {
			// Its manifest is gone (the prefix was deleted): its segments
			// go too. The slot is not reused.
			delete(u.nodes, id)
			changed = true
		}
	}
	if u.Live != nil {
		raw, _ := json.Marshal(live)
		if string(raw) != string(u.live) {
			changed, u.live = true, raw
		}
	}
	if !changed && u.last != nil {
		return u.last, nil
	}
	m, err := u.build()
	if err != nil {
		return nil, err
	}
	for db, tables := range live {
		if m.Schemas[db] == nil {
			m.Schemas[db] = map[string]*columnar.TableSchema{}
		}
		if m.Databases[db] == nil {
			m.Databases[db] = &manifest.DatabaseMeta{}
		}
		for name, s := range tables {
			if cur := m.Schemas[db][name]; cur != nil {
				mergeSchema(cur, s)
			} else {
				m.Schemas[db][name] = s.Clone()
			}
		}
	}
	u.gen++
	m.Generation = u.gen
	u.last = m
	return m, nil
}

// slot returns the writer's slot, or one past the last for a writer
// whose manifest has not been read yet (its copy of a point wins last).
func (u *Union) slot(id string) uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n := u.nodes[id]; n != nil {
		return n.slot
	}
	return u.next
}

// build composes the union of the nodes' manifests (u.mu held).
func (u *Union) build() (*manifest.Manifest, error) {
	out := manifest.NewManifest()
	ids := make([]string, 0, len(u.nodes))
	for id := range u.nodes {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmpUint(u.nodes[a].slot, u.nodes[b].slot) })
	maxID := uint64(0)
	for _, id := range ids {
		n := u.nodes[id]
		for db, d := range n.m.Databases {
			if out.Databases[db] == nil {
				c := *d
				out.Databases[db] = &c
			}
		}
		for db, tables := range n.m.Schemas {
			if out.Schemas[db] == nil {
				out.Schemas[db] = map[string]*columnar.TableSchema{}
			}
			for name, s := range tables {
				cur := out.Schemas[db][name]
				if cur == nil {
					out.Schemas[db][name] = s.Clone()
					continue
				}
				if msg := mergeSchema(cur, s); msg != "" {
					u.log.Warn("writers disagree on a table's schema", "writer", id, "db", db, "table", name, "conflict", msg)
				}
			}
		}
		for _, s := range n.m.Segments {
			if s.ID >= 1<<slotBits || (s.IsRollup() && s.Of >= 1<<slotBits) {
				return nil, fmt.Errorf("writer %s: segment id %d does not fit the union's id space", id, s.ID)
			}
			s.ID |= n.slot << slotBits
			s.Slot = n.slot
			if s.IsRollup() {
				s.Of |= n.slot << slotBits
			}
			s.Path = NodesDir + id + "/" + s.Path
			// Fresh holds against the writer's own older data only:
			// another writer may hold the same point.
			s.Fresh = false
			maxID = max(maxID, s.ID)
			out.Segments = append(out.Segments, s)
		}
	}
	slices.SortFunc(out.Segments, func(a, b segment.SegmentMeta) int { return cmpUint(a.ID, b.ID) })
	out.NextSegmentID = maxID + 1
	u.stamp = 0
	for _, s := range out.Segments {
		u.stamp = max(u.stamp, s.WriteMax)
	}
	orderByWriteTime(out.Segments, slotBits)
	return out, nil
}

// NewestWrite returns the newest write stamp of the segments the last
// Load read: a writer moves its write clock past it, so that what it
// writes next is ordered after everything in the bucket.
func (u *Union) NewestWrite() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stamp
}

// WriteOrder is segment.WriteOrder: how the union orders the copies of
// a point two writers hold.
func WriteOrder(aMin, aMax, bMin, bMax int64) int { return segment.WriteOrder(aMin, aMax, bMin, bMax) }

// orderByWriteTime sets the Order of segs (union ids: the writer's slot
// above bit slot): each window's raw segments are placed, oldest first,
// by merging the writers' own sequences (a writer's segments keep their
// id order, which is its order of writes within the window) and taking,
// at each step, the writer's next segment whose writes are oldest
// (WriteOrder; ties by slot). Segments of different windows hold no
// common point, so their relative order does not matter. Rollups get
// their raw segment's place.
func orderByWriteTime(segs []segment.SegmentMeta, slot uint) {
	// Raw segments grouped by window, each group in id order (segs is):
	// a writer's segments of a window are then one run, its chain.
	idx := make([]int, 0, len(segs))
	for i := range segs {
		if !segs[i].IsRollup() {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		x, y := &segs[a], &segs[b]
		return cmp.Or(strings.Compare(x.DB, y.DB), strings.Compare(x.Table, y.Table), strings.Compare(x.Window, y.Window))
	})
	next := uint64(1)
	var pos, end []int // each chain's next and end in idx
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && segs[idx[hi]].DB == segs[idx[lo]].DB && segs[idx[hi]].Table == segs[idx[lo]].Table &&
			segs[idx[hi]].Window == segs[idx[lo]].Window {
			hi++
		}
		pos, end = pos[:0], end[:0]
		for k := lo; k < hi; k++ {
			if k == lo || segs[idx[k]].ID>>slot != segs[idx[k-1]].ID>>slot {
				if k > lo {
					end = append(end, k)
				}
				pos = append(pos, k)
			}
		}
		end = append(end, hi)
		for {
			best := -1
			for c := range pos {
				if pos[c] == end[c] {
					continue
				}
				if best < 0 {
					best = c
					continue
				}
				a, b := &segs[idx[pos[c]]], &segs[idx[pos[best]]]
				if WriteOrder(a.WriteMin, a.WriteMax, b.WriteMin, b.WriteMax) < 0 {
					best = c // chains are in slot order: ties keep the earlier slot first
				}
			}
			if best < 0 {
				break
			}
			segs[idx[pos[best]]].Order = next
			pos[best]++
			next++
		}
		lo = hi
	}
	// A rollup takes its raw segment's place (segs is in id order).
	for i := range segs {
		if segs[i].IsRollup() {
			if j, ok := slices.BinarySearchFunc(segs, segs[i].Of, func(s segment.SegmentMeta, id uint64) int { return cmpUint(s.ID, id) }); ok {
				segs[i].Order = segs[j].Order
			}
		}
	}
}

// mergeSchema adds to cur the tags and fields of s it lacks. A field
// whose type differs keeps cur's type (the first writer's), as one node
// keeps the first type it saw; a tag order that is not an extension of
// cur's is reported: segments sort series by tag order, and scans merge
// overlapping segments in the query node's order.
func mergeSchema(cur, s *columnar.TableSchema) string {
	var conflicts []string
	for i, t := range s.Tags {
		if i < len(cur.Tags) && cur.Tags[i] != t {
			conflicts = append(conflicts, fmt.Sprintf("tag order: %q where another writer has %q", t, cur.Tags[i]))
		}
		cur.AddTag(t)
	}
	for _, f := range s.Fields {
		if i, ok := cur.FieldCol(f.Name); ok {
			if cur.Fields[i].Type != f.Type {
				conflicts = append(conflicts, fmt.Sprintf("field %q has two types", f.Name))
			}
			continue
		}
		cur.AddField(f.Name, f.Type)
	}
	return strings.Join(conflicts, "; ")
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseBucketManifest decodes and checks a writer's bucket manifest.
func parseBucketManifest(raw []byte) (*manifest.Manifest, error) {
	m := manifest.NewManifest()
	if err := json.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("version %d, this build reads 1", m.Version)
	}
	for _, s := range m.Segments {
		if !s.Cold() {
			return nil, fmt.Errorf("names segment %d that is not in the bucket", s.ID)
		}
	}
	for _, tables := range m.Schemas {
		for _, s := range tables {
			s.Reindex()
		}
	}
	return m, nil
}
