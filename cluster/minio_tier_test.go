package cluster

import (
	"context"
	"testing"

	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/tiering"
)

// minioTier opens a tier on srv's bucket "silt" under prefix (a writer's
// prefix, or the cluster's root for a query node), with its own block
// cache and one retry, creating the bucket if need be.
func minioTier(tb testing.TB, srv *miniotest.Server, prefix string) *tiering.Tier {
	tb.Helper()
	cfg := tiering.DefaultConfig()
	cfg.S3 = tiering.S3Options{Endpoint: srv.Endpoint, Bucket: "silt", Prefix: prefix, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path", MaxRetries: 1}
	cfg.CacheDir = tb.TempDir()
	tr, err := tiering.Open(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := tr.S3.EnsureBucket(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return tr
}
