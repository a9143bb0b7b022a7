package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/tiering"
)

// TestRetryGone: which failures RetryGone runs again, how often, and what
// it says when it gives up (the race itself, over MinIO, is
// cluster: TestQueryNodeObjectGoneMinIO).
func TestRetryGone(t *testing.T) {
	store := tiering.NewMemStore()
	reloads := 0
	cfg := testConfig(t.TempDir())
	cfg.Tiering = TierConfig{Tier: &tiering.Tier{Store: store, Footers: tiering.NewFooterCache(1 << 20),
		Uploader: &tiering.Uploader{Store: store}, Metrics: tiering.NewStoreMetrics(nil)},
		Interval: time.Hour, ReadOnly: true,
		Manifests: func(context.Context) (*manifest.Manifest, error) {
			reloads++
			m := manifest.NewManifest()
			m.Generation = uint64(reloads)
			return m, nil
		}}
	e, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	// What a cold read of a deleted object returns, wrapped as a scan does.
	_, getErr := store.GetRange(ctx, "nodes/w1/segments/db/cpu/2026-03-02/1.parquet", 0, 1)
	gone := fmt.Errorf("scan db.cpu: open cold segment: %w", getErr)
	if !IsObjectGone(gone) {
		t.Fatalf("a missing object's error is not recognized: %v", gone)
	}
	retries := func() float64 { return testutil.ToFloat64(e.tier.m.GoneRetries) }
	failures := func() float64 { return testutil.ToFloat64(e.tier.m.GoneFailures) }

	// Gone once: run again after a reload, answered.
	runs, r0, l0 := 0, retries(), reloads
	err = e.RetryGone(ctx, nil, func(context.Context) error {
		if runs++; runs == 1 {
			return gone
		}
		return nil
	})
	if err != nil || runs != 2 || retries()-r0 != 1 || reloads-l0 != 1 {
		t.Fatalf("gone once: err %v, %d runs, %v retries, %d reloads", err, runs, retries()-r0, reloads-l0)
	}
	// Another failure is not run again.
	runs = 0
	other := errors.New("division by zero")
	if err := e.RetryGone(ctx, nil, func(context.Context) error { runs++; return other }); err != other || runs != 1 {
		t.Fatalf("another error: %v after %d runs", err, runs)
	}
	// Always gone: 1 + GoneRetries runs, then an error that says so.
	runs, f0 := 0, failures()
	err = e.RetryGone(ctx, nil, func(context.Context) error { runs++; return gone })
	if runs != GoneRetries+1 || !errors.Is(err, ErrObjectGone) || !errors.Is(err, tiering.ErrNotFound) || IsObjectGone(err) ||
		!IsColdUnavailable(err) || !strings.Contains(err.Error(), "1.parquet") || failures()-f0 != 1 {
		t.Fatalf("always gone: %d runs, %v", runs, err)
	}
	// Nested: the inner call runs once, the outer one retries.
	inner := 0
	runs = 0
	err = e.RetryGone(ctx, nil, func(ctx context.Context) error {
		runs++
		return e.RetryGone(ctx, nil, func(context.Context) error { inner++; return gone })
	})
	if runs != GoneRetries+1 || inner != runs || !errors.Is(err, ErrObjectGone) {
		t.Fatalf("nested: %d outer runs, %d inner, %v", runs, inner, err)
	}
	// Part of the answer sent: not run again.
	runs = 0
	err = e.RetryGone(ctx, func() bool { return true }, func(context.Context) error { runs++; return gone })
	if runs != 1 || !errors.Is(err, ErrObjectGone) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("after the first byte: %d runs, %v", runs, err)
	}
	// A canceled query is not run again.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	runs = 0
	if err := e.RetryGone(cctx, nil, func(context.Context) error { runs++; return gone }); runs != 1 || err != gone {
		t.Fatalf("canceled: %d runs, %v", runs, err)
	}
}

// BenchmarkRetryGoneNoFailure is what every query on a node with tiering
// pays for RetryGone when nothing is gone: the context value that keeps
// nested calls from retrying.
func BenchmarkRetryGoneNoFailure(b *testing.B) {
	store := tiering.NewMemStore()
	cfg := testConfig(b.TempDir())
	cfg.Tiering = TierConfig{Tier: &tiering.Tier{Store: store, Footers: tiering.NewFooterCache(1 << 20),
		Uploader: &tiering.Uploader{Store: store}, Metrics: tiering.NewStoreMetrics(nil)}, Interval: time.Hour}
	e, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	run := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := e.RetryGone(ctx, nil, run); err != nil {
			b.Fatal(err)
		}
	}
}
