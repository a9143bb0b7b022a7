package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// PeerSegments gives a writer the other writers' segments, as their
// bucket manifests name them (engine.Config.Peers: a cold segment holding
// older copies of points another writer holds is rewritten without them,
// and withheld from the Iceberg table until then).
type PeerSegments struct {
	Node  string                // this writer's node id
	Union *Union                // every writer's bucket manifest, under the cluster root
	Store tiering.ObjectStore   // the cluster root, read with ranged GETs
	Opts  tiering.RemoteOptions // caches for those reads (optional)
	// Every, if set, is how long Segments answers from the last load:
	// compaction asks every second, and the manifests change once a
	// tiering pass at most.
	Every time.Duration

	mu     sync.Mutex
	at     time.Time
	cached []segment.Peer
}

// Self returns the writer's node id.
func (p *PeerSegments) Self() string { return p.Node }

// Segments reloads the writers' manifests (a LIST and a HEAD each when
// nothing changed) and returns every segment of the others, its Path the
// key under the cluster root.
func (p *PeerSegments) Segments(ctx context.Context) ([]segment.Peer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Every > 0 && p.cached != nil && time.Since(p.at) < p.Every {
		return p.cached, nil
	}
	m, err := p.Union.Load(ctx)
	if err != nil {
		return nil, err
	}
	var out []segment.Peer
	for _, s := range m.Segments {
		node, _, ok := strings.Cut(strings.TrimPrefix(s.Path, NodesDir), "/")
		if !ok || node == p.Node {
			continue
		}
		out = append(out, segment.Peer{Node: node, Meta: s})
	}
	if out == nil {
		out = []segment.Peer{}
	}
	p.cached, p.at = out, time.Now()
	return out, nil
}

// Open opens a peer's segment in the bucket: its footer and tag index are
// read at once, its pages as they are scanned.
func (p *PeerSegments) Open(ctx context.Context, m segment.SegmentMeta) (*segment.Segment, error) {
	opts := p.Opts
	opts.Info = &tiering.ObjectInfo{Size: m.Bytes, Checksum: m.Checksum}
	rf, err := tiering.OpenRemote(ctx, p.Store, m.Path, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", m.Path, err)
	}
	seg, err := segment.OpenSegmentReader(rf, m.Path, rf)
	if err != nil {
		_ = rf.Close()
		return nil, fmt.Errorf("open %s: %w", m.Path, err)
	}
	return seg, nil
}
