package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/siltdb/silt/manifest"
)

// The tiering ledger (manifest.BucketLedger) makes the bucket crash-safe
// by design: every object this node may have put in its prefix is named
// either by a segment of the local manifest or by the ledger, and each of
// those records moves in an atomic local commit, so whatever step a
// kill -9 interrupts, the next pass knows every object it must delete.
//
//   - Uploads: a pass records its keys before sending a byte and forgets
//     them in the commit that marks their segments cold. If compaction or
//     retention replaces such a segment first (after a crash: the upload
//     was verified, the commit never came, and the next start merged the
//     window before the pass resumed the upload), the key is no longer
//     named by a segment and moves to Deletes.
//   - Deletes: cold segments that left the manifest (compaction, retention,
//     a drop) are found by comparing the cold set the bucket manifest last
//     named with the local one, and recorded before the bucket manifest is
//     republished without them: once it is, nothing else remembers them.
//     A key leaves in the commit after its delete succeeded.
//
// Listing the bucket is then a safety net only, run once per start, for
// objects left by builds that kept no ledger.

// failpoint runs the crash hook of the tests (export_tier_test.go) at a
// step of a pass or a merge: a non-nil error ends the operation there, as
// a kill -9 would, before anything after the step reaches the disk or the
// bucket.
func (t *tierer) failpoint(step string) error {
	f := t.failAt.Load()
	if f == nil {
		return nil
	}
	if err := (*f)(step); err != nil {
		return fmt.Errorf("failpoint %s: %w", step, err)
	}
	return nil
}

// commitLedger commits the local manifest with its ledger changed by
// change, which reads the manifest, changes a copy of its ledger and
// reports whether it changed anything (nothing is committed otherwise).
// It runs under flushMu on the latest manifest, as every committer does,
// so concurrent commits (flushes, merges) carry the ledger along
// unchanged. It returns the manifest in place after it (committed or not).
func (e *Engine) commitLedger(what string, change func(m *manifest.Manifest, l *manifest.BucketLedger) bool) (*manifest.Manifest, error) {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	cur := e.manifest.Load()
	l := cur.Bucket.Clone()
	if l == nil {
		l = &manifest.BucketLedger{}
	}
	if !change(cur, l) {
		return cur, nil // most passes: no clone of the manifest
	}
	m := cur.Clone()
	m.Bucket = l
	if err := m.Commit(e.cfg.DataDir); err != nil {
		return nil, fmt.Errorf("tier: commit manifest (%s): %w", what, err)
	}
	e.mu.Lock()
	e.setManifestLocked(m)
	e.mu.Unlock()
	return m, nil
}

// recordUploads records the keys a pass is about to put.
func (e *Engine) recordUploads(keys []string) error {
	_, err := e.commitLedger("record uploads", func(_ *manifest.Manifest, l *manifest.BucketLedger) bool {
		n := len(l.Uploads)
		for _, k := range keys {
			if !slices.Contains(l.Uploads, k) {
				l.Uploads = append(l.Uploads, k)
			}
		}
		return len(l.Uploads) != n
	})
	return err
}

// settleUploads drops from l the uploads of segments m names as cold (the
// commit marking them cold calls it on the manifest it commits).
func settleUploads(m *manifest.Manifest) {
	if m.Bucket.Empty() {
		return
	}
	cold := map[string]bool{}
	for _, s := range m.Segments {
		if s.Cold() {
			cold[s.Path] = true
		}
	}
	m.Bucket.Uploads = slices.DeleteFunc(m.Bucket.Uploads, func(k string) bool { return cold[k] })
}

// recordRetired moves to the ledger's Deletes every object that may be in
// the bucket and that no segment of the local manifest names: the keys of
// prev (the cold segments the bucket manifest names, id → key), recorded
// uploads whose segment left, and keys listed in the bucket (after a
// start; only ids this directory handed out). A listed object that a
// local segment names (an upload a crash cut off before its commit) is
// recorded as an upload, so that it is deleted if its segment is replaced
// before a pass resumes it. It returns the manifest the ledger now
// matches: a bucket manifest built from it forgets nothing unrecorded.
func (e *Engine) recordRetired(prev map[uint64]string, listed []string) (*manifest.Manifest, error) {
	now := time.Now().UnixNano()
	return e.commitLedger("record retired objects", func(m *manifest.Manifest, l *manifest.BucketLedger) bool {
		named := make(map[string]bool, len(m.Segments))
		cold := map[string]bool{}
		for _, s := range m.Segments {
			named[s.Path] = true
			if s.Cold() {
				cold[s.Path] = true
			}
		}
		pending := make(map[string]bool, len(l.Deletes))
		for _, d := range l.Deletes {
			pending[d.Key] = true
		}
		changed := false
		retire := func(k string) {
			if !named[k] && !pending[k] {
				pending[k] = true
				l.Deletes = append(l.Deletes, manifest.PendingDelete{Key: k, Since: now})
				changed = true
			}
		}
		for _, k := range prev {
			retire(k)
		}
		kept := l.Uploads[:0]
		for _, k := range l.Uploads {
			switch {
			case cold[k]:
				changed = true // settled: named as cold
			case named[k]:
				kept = append(kept, k)
			default:
				retire(k)
				changed = true
			}
		}
		l.Uploads = kept
		for _, k := range listed {
			id, ok := segmentID(k)
			if !ok || id >= m.NextSegmentID {
				continue // not ours to delete
			}
			if !named[k] {
				retire(k)
			} else if !cold[k] && !slices.Contains(l.Uploads, k) {
				l.Uploads = append(l.Uploads, k)
				changed = true
			}
		}
		// Keep the order stable: manifests are diffed by people.
		slices.SortFunc(l.Deletes, func(a, b manifest.PendingDelete) int { return strings.Compare(a.Key, b.Key) })
		return changed
	})
}

// stampUnlisted records, right after a bucket manifest was put, that the
// ledger's pending deletes not stamped yet are named by no manifest in
// the bucket from now on: their grace period starts. The caller holds the
// pass lock, so the ledger holds exactly what it held when the manifest
// just put was built (only recordRetired adds to it, in a pass). A crash
// before this commit leaves them unstamped, and the next start's pass,
// which always puts the manifest again, stamps them later.
func (e *Engine) stampUnlisted() error {
	now := time.Now().UnixNano()
	_, err := e.commitLedger("start the grace of retired objects", func(_ *manifest.Manifest, l *manifest.BucketLedger) bool {
		changed := false
		for i := range l.Deletes {
			if l.Deletes[i].Unlisted == 0 {
				l.Deletes[i].Unlisted, changed = now, true
			}
		}
		return changed
	})
	return err
}

// deleteRetired deletes the ledger's pending objects from the bucket whose
// grace period (TierConfig.DeleteGrace, from PendingDelete.Unlisted) has
// passed, after the published tables stopped naming them, and commits the
// ledger without them. An object a scan of this node still reads (it
// acquired the segment before it was replaced) waits for a later pass. A
// failure keeps every key: the next pass deletes them again.
func (e *Engine) deleteRetired(ctx context.Context) (int, error) {
	t := e.tier
	m := e.Manifest()
	if m.Bucket.Empty() || len(m.Bucket.Deletes) == 0 {
		return 0, nil
	}
	named := make(map[string]bool, len(m.Segments))
	for _, s := range m.Segments {
		named[s.Path] = true
	}
	// Readers that loaded a bucket manifest put before the one that
	// stopped naming an object may still read it until the grace ends.
	ripe := time.Now().Add(-t.cfg.DeleteGrace).UnixNano()
	var due []string
	for _, d := range m.Bucket.Deletes {
		if named[d.Key] {
			continue // never delete what a segment names (ids are never reused: a bug if reached)
		}
		if d.Unlisted == 0 || d.Unlisted > ripe {
			continue
		}
		if id, ok := segmentID(d.Key); ok && e.refs.inUse(id) {
			continue
		}
		due = append(due, d.Key)
	}
	if len(due) == 0 {
		return 0, nil
	}
	// Outside readers' tables must stop naming the retired objects first.
	if err := e.publishTables(ctx); err != nil {
		return 0, err
	}
	if err := t.guard(ctx); err != nil {
		return 0, err
	}
	if err := t.cfg.Tier.Uploader.Delete(ctx, due...); err != nil {
		return 0, fmt.Errorf("delete %d retired objects in the bucket: %w", len(due), err)
	}
	if err := t.failpoint("sync.deleted"); err != nil {
		return 0, err
	}
	done := make(map[string]bool, len(due))
	for _, k := range due {
		done[k] = true
	}
	_, err := e.commitLedger("forget deleted objects", func(_ *manifest.Manifest, l *manifest.BucketLedger) bool {
		n := len(l.Deletes)
		l.Deletes = slices.DeleteFunc(l.Deletes, func(d manifest.PendingDelete) bool { return done[d.Key] })
		return len(l.Deletes) != n
	})
	if err != nil {
		return 0, err
	}
	t.m.Deletes.Add(float64(len(due)))
	e.log.Info("deleted retired segments in the bucket", "objects", len(due))
	return len(due), nil
}

// inUse reports whether a scan or merge holds segment id.
func (r *segRefs) inUse(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.n[id] > 0
}
