package main

import (
	"context"
	"log/slog"

	"github.com/siltdb/silt/iceberg"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/tiering"
)

// icebergHook returns the engine's Publish hook for --iceberg.publish: the
// Iceberg tables of this node's prefix, committed after every tiering pass
// (docs/iceberg.md).
func icebergHook(cfg *serveConfig, t *tiering.Tier, log *slog.Logger) func(context.Context, *manifest.Manifest) error {
	pub := &iceberg.Publisher{Store: t.S3, Location: iceberg.Location(cfg.tiering.S3.Bucket, cfg.tiering.S3.Prefix)}
	return func(ctx context.Context, m *manifest.Manifest) error {
		res, err := pub.PublishAll(ctx, m)
		for _, r := range res {
			log.Info("committed Iceberg table version", "metadata", r.MetadataKey, "files", r.PublishedFiles,
				"rows", r.PublishedRows, "added", r.Added, "removed", r.Removed, "withheld_windows", r.Withheld)
		}
		return err
	}
}
