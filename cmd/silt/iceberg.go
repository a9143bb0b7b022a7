package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/iceberg"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/tiering"
)

// icebergHook returns the engine's Publish hook for --iceberg.publish: the
// Iceberg tables, committed after every tiering pass (docs/iceberg.md). A
// node alone in its prefix publishes under <s3.prefix>/iceberg/; a cluster
// writer publishes its files into the one table per Silt table under the
// cluster's <s3.prefix>/iceberg/, shared with the other writers, and
// empties the per-writer tables an older Silt kept under its own prefix.
// The publisher is returned for its metrics (Publisher.Register).
func icebergHook(cfg *serveConfig, t *tiering.Tier, node *clusterNode, log *slog.Logger) (*iceberg.Publisher, func(context.Context, *manifest.Manifest) error, error) {
	pub := &iceberg.Publisher{Store: t.S3, Location: iceberg.Location(cfg.tiering.S3.Bucket, cfg.tiering.S3.Prefix)}
	if node != nil && cfg.cluster.Role == cluster.RoleWriter {
		opts := cfg.tiering.S3
		opts.Prefix = node.root
		store, err := tiering.NewS3Store(opts)
		if err != nil {
			return nil, nil, err
		}
		own := cluster.WriterPrefix("", cfg.cluster.NodeID) + "/"
		pub = &iceberg.Publisher{Store: store, Location: iceberg.Location(cfg.tiering.S3.Bucket, node.root),
			DataPrefix: own, Legacy: own + iceberg.DefaultRoot}
	}
	pub.MaxSnapshotAge, pub.MinSnapshots = cfg.iceberg.MaxSnapshotAge, cfg.iceberg.MinSnapshots
	pub.PreviousVersions = cfg.iceberg.PreviousVersions
	if cfg.iceberg.MaxSnapshotAge == 0 {
		pub.MaxSnapshotAge = -1 // the flag's 0: no snapshot is kept for its age
	}
	return pub, func(ctx context.Context, m *manifest.Manifest) error {
		if node != nil && node.peerSegs != nil {
			// A point another writer holds a newer copy of is listed
			// from there: this writer's window waits until its
			// compaction has rewritten it without the point.
			peers, err := node.peerSegs.Segments(ctx)
			if err != nil {
				return fmt.Errorf("read the other writers' manifests: %w", err)
			}
			m = iceberg.WithholdShadowed(m, node.peerSegs.Self(), peers)
		}
		res, err := pub.PublishAll(ctx, m)
		for _, r := range res {
			log.Info("committed Iceberg table version", "metadata", r.MetadataKey, "files", r.PublishedFiles,
				"rows", r.PublishedRows, "added", r.Added, "removed", r.Removed, "withheld_windows", r.Withheld,
				"attempts", r.Attempts)
		}
		return err
	}, nil
}
