package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// tieredMergeDue reports whether window k, with segments in the object
// store, is to be merged: two of its raw segments may hold the same point
// (a late write rewrote one, or landed in the range of one), and the
// window has been quiet for ColdAfter, as coldOverlap asks of local
// windows. Merging it downloads its cold segments, writes the merged
// outputs locally and retires the inputs; the next tiering pass uploads
// the outputs and deletes the inputs' objects. So a window outside readers
// stopped seeing (package iceberg publishes only windows without
// duplicates) becomes publishable again, and Silt's own scans of it read
// each point once instead of merging. A read-only node merges nothing.
//
// Every node does it: a kill -9 at any step of the merge, the upload of
// its outputs or the delete of the replaced objects leaves no object in
// the bucket that nothing will delete, because each object is named by a
// segment or by the manifest's tiering ledger throughout (tier_ledger.go).
func (e *Engine) tieredMergeDue(m *manifest.Manifest, k windowKey, segs []segment.SegmentMeta) bool {
	if e.tier == nil || e.tier.cfg.ReadOnly || e.tier.cfg.Tier == nil || e.tier.cfg.Tier.Uploader == nil {
		return false
	}
	return e.coldOverlap(m, k, segs)
}

// mergeInputs returns the local file of each input: a local segment's
// own, or for a cold one a verified download next to where the outputs
// go (ending in .tmp, so a crash leaves an orphan recovery removes).
// cleanup removes the downloads.
func (e *Engine) mergeInputs(ctx context.Context, k windowKey, base uint64, inputs []segment.SegmentMeta) (paths []string, cleanup func(), err error) {
	var fetched []string
	cleanup = func() {
		for _, p := range fetched {
			_ = os.Remove(p)
		}
	}
	dir := filepath.Join(e.cfg.DataDir, filepath.FromSlash(filepath.Dir(segment.SegmentPath(k.db, k.table, k.window, base))))
	for _, s := range inputs {
		if !s.Cold() {
			paths = append(paths, filepath.Join(e.cfg.DataDir, filepath.FromSlash(s.Path)))
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("compact %s.%s window %s: %w", k.db, k.table, k.window, err)
		}
		p := filepath.Join(dir, fmt.Sprintf("%020d.fetch%d.tmp", base, s.ID))
		if err := e.tier.cfg.Tier.Uploader.Download(ctx, s.Path, p, s.Bytes, s.Checksum); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("compact %s.%s window %s: fetch segment %s from the object store: %w", k.db, k.table, k.window, s.Path, err)
		}
		fetched = append(fetched, p)
		paths = append(paths, p)
	}
	if len(fetched) > 0 {
		if err := e.tier.failpoint("merge.downloaded"); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return paths, cleanup, nil
}
