package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/tiering"
)

// validateCluster checks --role and --node-id against the other settings.
func (c *serveConfig) validateCluster() error {
	if err := c.cluster.Validate(); err != nil {
		return err
	}
	if !c.cluster.Enabled() {
		return nil
	}
	if !c.tiering.Enabled() {
		return fmt.Errorf("--role %s needs the shared bucket: set --s3.endpoint and --s3.bucket", c.cluster.Role)
	}
	if c.engine.Tiering.ReadOnly {
		return errors.New("--s3.read-only serves one prefix; --role query serves every writer's: give one of them")
	}
	if c.cluster.Role == cluster.RoleQuery && (c.kafka.Enabled() || c.nats.Enabled()) {
		return errors.New("a --role query node takes no writes: drop the --kafka.* / --nats.* sources")
	}
	return nil
}

// clusterNode is this process's membership: the node id's lease (writers
// and query nodes both register) and, on a query node, the union of the
// writers' manifests its engine serves. A nil *clusterNode is a
// standalone node.
type clusterNode struct {
	lease *cluster.Lease
	union *cluster.Union
	eng   atomic.Pointer[engine.Engine]
}

// joinCluster registers the node in the bucket under --node-id, waiting
// out the lease of a previous holder that stopped renewing, and prepares
// cfg for its role before the tiering layer and the engine open: a
// writer tiers into nodes/<node-id>/ under --s3.prefix and writes to the
// bucket only while it holds its lease; a query node serves the union of
// every writer's manifest, read-only.
func joinCluster(cfg *serveConfig, httpAddr string, log *slog.Logger) (*clusterNode, error) {
	if !cfg.cluster.Enabled() {
		return nil, nil
	}
	rootOpts := cfg.tiering.S3
	rootOpts.Prefix = strings.Trim(rootOpts.Prefix, "/")
	store, err := tiering.NewS3Store(rootOpts)
	if err != nil {
		return nil, err
	}
	ttl := cfg.cluster.Lease
	ctx, cancel := context.WithTimeout(context.Background(), 3*ttl+30*time.Second)
	defer cancel()
	if cfg.tiering.CreateBucket {
		if err := store.EnsureBucket(ctx); err != nil {
			return nil, fmt.Errorf("create bucket (--s3.create-bucket): %w", err)
		}
	}
	n := &clusterNode{}
	switch cfg.cluster.Role {
	case cluster.RoleWriter:
		cfg.tiering.S3.Prefix = cluster.WriterPrefix(rootOpts.Prefix, cfg.cluster.NodeID)
	case cluster.RoleQuery:
		n.union = cluster.NewUnion(store, log)
		cfg.engine.Tiering.ReadOnly = true
		cfg.engine.Tiering.Manifests = n.union.Load
	}
	addr := cfg.cluster.Advertise
	if addr == "" {
		addr = httpAddr
	}
	n.lease, err = cluster.Acquire(ctx, store, cluster.LeaseConfig{NodeID: cfg.cluster.NodeID, Role: cfg.cluster.Role,
		Address: addr, TTL: ttl, Generation: n.generation, Logger: log})
	if err != nil {
		return nil, err
	}
	if cfg.cluster.Role == cluster.RoleWriter {
		cfg.engine.Tiering.Guard = n.lease.Guard
	}
	log.Info("registered in the cluster", "node_id", cfg.cluster.NodeID, "role", cfg.cluster.Role,
		"address", addr, "tier_prefix", cfg.tiering.S3.Prefix)
	return n, nil
}

// generation is the manifest generation heartbeats report.
func (n *clusterNode) generation() uint64 {
	if e := n.eng.Load(); e != nil {
		return e.Manifest().Generation
	}
	return 0
}

func (n *clusterNode) setEngine(e *engine.Engine) {
	if n != nil {
		n.eng.Store(e)
	}
}

// fenced is closed when another process took the node id over (nil, so
// never ready, for a standalone node).
func (n *clusterNode) fenced() <-chan struct{} {
	if n == nil {
		return nil
	}
	return n.lease.Fenced()
}

// leave marks the registration stopped, so that a successor holds the id
// at once.
func (n *clusterNode) leave(log *slog.Logger) {
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.lease.Release(ctx); err != nil {
		log.Warn("could not mark the node stopped in the bucket; a successor waits one lease", "err", err)
	}
}
