package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/siltdb/silt/tiering"
)

// Roles a node runs in (--role).
const (
	RoleWriter = "writer" // ingests, owns nodes/<node-id>/ in the bucket
	RoleQuery  = "query"  // no ingest and no WAL: answers over every writer's data
)

// Store is what membership needs of the bucket: single-object
// compare-and-swap writes and one-level listing. tiering.S3Store has it.
type Store interface {
	PutIfAbsent(ctx context.Context, key string, data []byte) (string, error)
	PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error)
	GetWithETag(ctx context.Context, key string) ([]byte, string, error)
	ListDir(ctx context.Context, prefix string) ([]tiering.ObjectInfo, []string, error)
	Stat(ctx context.Context, key string) (tiering.ObjectInfo, error)
}

var _ Store = (*tiering.S3Store)(nil)

// Record is a node's registration, nodes/<node-id>.json in the bucket.
type Record struct {
	NodeID string `json:"node_id"`
	Role   string `json:"role"`
	// Address is the node's HTTP API address as other nodes reach it.
	Address string `json:"address,omitempty"`
	// InternalAddress serves a writer's internal API (RowsPath,
	// SchemasPath) to query nodes.
	InternalAddress string `json:"internal_address,omitempty"`
	// ManifestGeneration is the generation of the writer's local manifest
	// at the last heartbeat (0 for a query node).
	ManifestGeneration uint64    `json:"manifest_generation"`
	Heartbeat          time.Time `json:"heartbeat"`
	Started            time.Time `json:"started"`
	// LeaseMillis is how long the holder may go without renewing before
	// another process may take the node id over.
	LeaseMillis int64 `json:"lease_ms"`
	// Stopped is set by a clean shutdown: the id is free at once.
	Stopped bool `json:"stopped,omitempty"`
	// Instance is random per process: it tells this process's own record
	// from a successor's, when an answer to a write was lost and the
	// write is retried.
	Instance string `json:"instance"`
	Host     string `json:"host,omitempty"`
	PID      int    `json:"pid,omitempty"`
}

// Lease returns the lease duration the record announces.
func (r *Record) Lease() time.Duration { return time.Duration(r.LeaseMillis) * time.Millisecond }

// Live reports whether the record's holder counts as running at now: not
// stopped, and heard from within its lease (by now's clock: membership
// views tolerate clock skew up to the lease, fencing does not rely on it).
func (r *Record) Live(now time.Time) bool {
	return !r.Stopped && now.Sub(r.Heartbeat) < r.Lease()
}

// RecordKey is the key of a node's registration.
func RecordKey(nodeID string) string { return NodesDir + nodeID + ".json" }

// NodesDir holds the registrations and, for writers, their prefixes
// (nodes/<node-id>/segments/…, nodes/<node-id>/manifest.json).
const NodesDir = "nodes/"

// WriterPrefix is the bucket prefix a writer tiers into, under the
// cluster's root prefix.
func WriterPrefix(root, nodeID string) string {
	if root == "" {
		return NodesDir + nodeID
	}
	return root + "/" + NodesDir + nodeID
}

// ValidNodeID checks a node id: it becomes a key element, so letters,
// digits, '-', '_' and '.', not starting with '.'.
func ValidNodeID(id string) error {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return fmt.Errorf("node id %q: 1 to 128 characters, not starting with '.'", id)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("node id %q: only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// Errors of membership.
var (
	// ErrInUse: the node id is held by another live process.
	ErrInUse = errors.New("node id in use by another live process")
	// ErrFenced: another process took this node id over; this one must
	// not write to the bucket again.
	ErrFenced = errors.New("fenced: another process took this node id over")
	// ErrLeaseLapsed: the lease was not renewed in time (bucket
	// unreachable, process stalled): bucket writes wait for a renewal.
	ErrLeaseLapsed = errors.New("node id lease not renewed in time")
)

// LeaseConfig configures Acquire.
type LeaseConfig struct {
	NodeID          string
	Role            string
	Address         string
	InternalAddress string
	// TTL is the lease (--cluster.lease): renewed every TTL/3; a holder
	// stops writing to the bucket 2/3 of TTL after its last renewal was
	// sent, and another process takes an id over only after it has seen
	// the record unchanged for a whole TTL. 0 means 15s.
	TTL time.Duration
	// Generation reports the manifest generation for heartbeats (nil: 0).
	Generation func() uint64
	Logger     *slog.Logger
}

// Lease is a held node id: its record in the bucket, renewed in the
// background until Release.
type Lease struct {
	cfg   LeaseConfig
	store Store
	key   string
	rec   Record

	mu         sync.Mutex
	etag       string
	validUntil time.Time
	fenced     chan struct{}
	fenceErr   error
	stop       chan struct{}
	done       chan struct{}
}

// Acquire claims cfg.NodeID in the bucket:
//
//   - no record: create it (If-None-Match: *);
//   - a record of a clean shutdown, or one whose heartbeat is more than
//     two leases old: replace it (If-Match its ETag);
//   - otherwise watch it for a whole lease: if it changes, its holder is
//     alive and Acquire fails with ErrInUse; if not, replace it.
//
// Every replacement is conditional on the ETag read, so of two processes
// racing for one id exactly one wins. The lease is then renewed every
// TTL/3 until Release; Fenced is closed if another process takes it over.
func Acquire(ctx context.Context, store Store, cfg LeaseConfig) (*Lease, error) {
	if err := ValidNodeID(cfg.NodeID); err != nil {
		return nil, err
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var inst [8]byte
	_, _ = rand.Read(inst[:])
	host, _ := os.Hostname()
	now := time.Now()
	l := &Lease{cfg: cfg, store: store, key: RecordKey(cfg.NodeID),
		rec: Record{NodeID: cfg.NodeID, Role: cfg.Role, Address: cfg.Address, InternalAddress: cfg.InternalAddress, Started: now.UTC(),
			LeaseMillis: cfg.TTL.Milliseconds(), Instance: hex.EncodeToString(inst[:]), Host: host, PID: os.Getpid()},
		fenced: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.claim(ctx); err != nil {
		return nil, err
	}
	go l.renewLoop()
	return l, nil
}

// claim runs the acquisition rules until the id is held or refused.
func (l *Lease) claim(ctx context.Context) error {
	for attempt := 0; attempt < 5; attempt++ {
		sent := time.Now()
		raw := l.encode(sent)
		etag, err := l.store.PutIfAbsent(ctx, l.key, raw)
		if err == nil {
			l.held(etag, sent)
			return nil
		}
		if !errors.Is(err, tiering.ErrPrecondition) {
			return fmt.Errorf("register node %s: %w", l.cfg.NodeID, err)
		}
		cur, etag, err := l.read(ctx)
		if errors.Is(err, tiering.ErrNotFound) {
			continue // deleted meanwhile: create again
		}
		if err != nil {
			return err
		}
		if cur.Instance == l.rec.Instance { // our create landed, its answer was lost
			l.held(etag, sent)
			return nil
		}
		if !cur.Stopped && time.Since(cur.Heartbeat) < 2*max(cur.Lease(), l.cfg.TTL) {
			if err := l.watch(ctx, cur, etag); err != nil {
				return err
			}
		}
		sent = time.Now()
		newTag, err := l.store.PutIfMatch(ctx, l.key, l.encode(sent), etag)
		if errors.Is(err, tiering.ErrPrecondition) {
			continue // it changed under us: judge the new record
		}
		if err != nil {
			return fmt.Errorf("take over node id %s: %w", l.cfg.NodeID, err)
		}
		l.cfg.Logger.Info("took over a node id whose previous holder stopped or stopped renewing",
			"node_id", l.cfg.NodeID, "previous_host", cur.Host, "previous_pid", cur.PID,
			"previous_heartbeat", cur.Heartbeat, "previous_stopped", cur.Stopped)
		l.held(newTag, sent)
		return nil
	}
	return fmt.Errorf("register node %s: the record kept changing under five attempts: %w", l.cfg.NodeID, ErrInUse)
}

// watch waits one whole lease (the longer of the holder's and ours)
// looking for a renewal of cur: a change means its holder is alive.
func (l *Lease) watch(ctx context.Context, cur Record, etag string) error {
	wait := max(cur.Lease(), l.cfg.TTL)
	l.cfg.Logger.Info("node id is registered with a recent heartbeat: waiting one lease to see whether its holder is alive",
		"node_id", l.cfg.NodeID, "holder_host", cur.Host, "holder_pid", cur.PID, "holder_address", cur.Address, "wait", wait)
	deadline := time.Now().Add(wait)
	tick := max(wait/10, 50*time.Millisecond)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tick):
		}
		now, tag, err := l.read(ctx)
		switch {
		case errors.Is(err, tiering.ErrNotFound):
			return nil // gone: the conditional replace will fail and start over
		case err != nil:
			return err
		case tag != etag && !now.Stopped:
			return fmt.Errorf("%w: node id %s is held by pid %d on %s (address %q), which renewed its lease %s ago; "+
				"give this process another --node-id", ErrInUse, l.cfg.NodeID, now.PID, now.Host, now.Address,
				time.Since(now.Heartbeat).Round(time.Millisecond))
		case tag != etag:
			return nil // stopped cleanly meanwhile
		}
		if !time.Now().Before(deadline) {
			return nil
		}
	}
}

func (l *Lease) read(ctx context.Context) (Record, string, error) {
	raw, etag, err := l.store.GetWithETag(ctx, l.key)
	if err != nil {
		return Record{}, "", fmt.Errorf("read node record %s: %w", l.key, err)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Record{}, "", fmt.Errorf("parse node record %s: %w", l.key, err)
	}
	return r, etag, nil
}

func (l *Lease) encode(now time.Time) []byte {
	l.mu.Lock()
	r := l.rec
	l.mu.Unlock()
	r.Heartbeat = now.UTC()
	if l.cfg.Generation != nil {
		r.ManifestGeneration = l.cfg.Generation()
	}
	raw, _ := json.MarshalIndent(r, "", " ")
	return raw
}

// held records a successful write sent at sent: the lease is valid for
// 2/3 of TTL from the send, so it ends a third of a lease before any other
// process can take the id over (which waits a whole TTL from a read that
// came after this write).
func (l *Lease) held(etag string, sent time.Time) {
	l.mu.Lock()
	l.etag = etag
	l.validUntil = sent.Add(l.cfg.TTL * 2 / 3)
	l.mu.Unlock()
}

func (l *Lease) renewLoop() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if err := l.renew(); errors.Is(err, ErrFenced) {
			return
		} else if err != nil {
			l.cfg.Logger.Warn("could not renew the node id lease; bucket writes pause until it is renewed",
				"node_id", l.cfg.NodeID, "err", err)
		}
	}
}

// renew replaces the record if it is still ours.
func (l *Lease) renew() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.TTL/3)
	defer cancel()
	l.mu.Lock()
	etag := l.etag
	l.mu.Unlock()
	sent := time.Now()
	tag, err := l.store.PutIfMatch(ctx, l.key, l.encode(sent), etag)
	if err == nil {
		l.held(tag, sent)
		return nil
	}
	if !errors.Is(err, tiering.ErrPrecondition) {
		return err
	}
	cur, tag, rerr := l.read(ctx)
	if rerr == nil && cur.Instance == l.rec.Instance && !cur.Stopped {
		// Our own renewal landed and its answer was lost: a retry of it
		// found the ETag it had itself changed.
		l.held(tag, sent)
		return nil
	}
	l.fence(fmt.Errorf("%w: node id %s: record now held by pid %d on %s", ErrFenced, l.cfg.NodeID, cur.PID, cur.Host))
	return ErrFenced
}

func (l *Lease) fence(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fenceErr != nil {
		return
	}
	l.fenceErr = err
	l.validUntil = time.Time{}
	close(l.fenced)
	l.cfg.Logger.Error("this process lost its node id to another process: it stops writing to the bucket", "err", err)
}

// Guard returns nil while the lease is held and valid: bucket writes (a
// tiering pass, a manifest upload) call it first. ErrFenced is final;
// ErrLeaseLapsed lasts until the next successful renewal.
func (l *Lease) Guard(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fenceErr != nil {
		return l.fenceErr
	}
	if time.Now().After(l.validUntil) {
		return fmt.Errorf("%w: node id %s, valid until %s", ErrLeaseLapsed, l.cfg.NodeID, l.validUntil.Format(time.RFC3339Nano))
	}
	return nil
}

// Fenced is closed when another process has taken the node id over.
func (l *Lease) Fenced() <-chan struct{} { return l.fenced }

// NodeID returns the id held.
func (l *Lease) NodeID() string { return l.cfg.NodeID }

// Release stops renewing and, unless fenced, marks the record stopped so
// that a successor takes the id over at once.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	fenced := l.fenceErr != nil
	l.rec.Stopped = true
	etag := l.etag
	l.mu.Unlock()
	if fenced {
		return nil
	}
	if _, err := l.store.PutIfMatch(ctx, l.key, l.encode(time.Now()), etag); err != nil {
		return fmt.Errorf("mark node %s stopped: %w", l.cfg.NodeID, err)
	}
	l.mu.Lock()
	l.validUntil = time.Time{}
	l.mu.Unlock()
	return nil
}

// Members reads every node's registration.
func Members(ctx context.Context, store Store) ([]Record, error) {
	objs, _, err := store.ListDir(ctx, NodesDir)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []Record
	for _, o := range objs {
		if len(o.Key) <= len(NodesDir)+5 || o.Key[len(o.Key)-5:] != ".json" {
			continue
		}
		raw, _, err := store.GetWithETag(ctx, o.Key)
		if errors.Is(err, tiering.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read node record: %w", err)
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("parse node record %s: %w", o.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}
