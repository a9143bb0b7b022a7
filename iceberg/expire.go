package iceberg

// Snapshot expiry and the deletion of the metadata nothing references
// (docs/iceberg.md, "Expiry"). Three rules make it safe with writers that
// commit to one table optimistically:
//
//  1. A version is built from the one before it and nothing else: every
//     manifest list, manifest and snapshot it names is either named by its
//     predecessor or new (written by its committer under a random name).
//     So once a version stops naming a file, no later version names it.
//  2. The metadata log of version v lists the PreviousVersions versions
//     before it. The committer of v — exactly one writer, since the put of
//     v is create-only — deletes what version v-keep-1 (which just left the
//     log) names and v-keep does not, then v-keep-1's own metadata file.
//     By rule 1 nothing that is current or in the log names those files,
//     and each is deleted by one writer.
//  3. Whatever a crash (or a failed delete) leaves behind is collected by a
//     sweep, which deletes objects under the table's metadata/ that neither
//     the current version nor a version of its log names: metadata files
//     of older versions at once, manifests and manifest lists only once
//     they are older than OrphanAge — a writer's commit in flight has
//     written its manifests but not yet its version, and an attempt that
//     took longer than half of OrphanAge is abandoned before its put.
//
// Data files are never deleted here: they are Silt's segments, which
// Silt's compaction and retention retire (after a commit that no longer
// names them, and their --tier.delete-grace).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	ig "github.com/apache/iceberg-go"

	"github.com/siltdb/silt/tiering"
)

// Iceberg's table properties of snapshot expiry, written with the values
// the committing writer applies.
const (
	MaxSnapshotAgeProperty = "history.expire.max-snapshot-age-ms"
	MinSnapshotsProperty   = "history.expire.min-snapshots-to-keep"
)

// Defaults of the expiry settings (Publisher fields, --iceberg.* flags).
const (
	// DefaultMaxSnapshotAge matches --tier.delete-grace's default: a
	// snapshot that young names no segment Silt has deleted yet.
	DefaultMaxSnapshotAge = 5 * time.Minute
	DefaultMinSnapshots   = 1
	// DefaultOrphanAge is how old an unreferenced manifest or manifest
	// list must be before a sweep deletes it (and how often a writer
	// sweeps a table): far above a commit attempt's duration, and above
	// clock differences between a writer and the store.
	DefaultOrphanAge = time.Hour
)

func (p *Publisher) maxSnapshotAge() time.Duration {
	switch {
	case p.MaxSnapshotAge < 0:
		return 0 // only the MinSnapshots newest
	case p.MaxSnapshotAge > 0:
		return p.MaxSnapshotAge
	}
	return DefaultMaxSnapshotAge
}

func (p *Publisher) minSnapshots() int {
	if p.MinSnapshots > 0 {
		return p.MinSnapshots
	}
	return DefaultMinSnapshots
}

func (p *Publisher) orphanAge() time.Duration {
	if p.OrphanAge > 0 {
		return p.OrphanAge
	}
	return DefaultOrphanAge
}

// keepSnapshots returns the snapshots (and snapshot log) of the version
// whose new current snapshot is snap: Iceberg's expiry, with snap's time
// as now. A snapshot is kept if it is among the MinSnapshots newest or
// younger than MaxSnapshotAge; the kept ones are the newest part of the
// chain (each version's current snapshot is its parent's child), so
// every snapshot newer than a kept one is kept too, and the log stays a
// suffix of the table's history.
func (p *Publisher) keepSnapshots(cur *tableMetadata, snap snapshot) ([]snapshot, []snapshotLog) {
	var all []snapshot
	if cur != nil {
		all = slices.Clone(cur.Snapshots)
	}
	slices.SortStableFunc(all, func(a, b snapshot) int { return compareInt64(a.SequenceNumber, b.SequenceNumber) })
	all = append(all, snap)
	oldest := snap.TimestampMS - p.maxSnapshotAge().Milliseconds()
	cut := max(len(all)-p.minSnapshots(), 0)
	for i := range cut {
		if all[i].TimestampMS >= oldest {
			cut = i
			break
		}
	}
	kept := all[cut:]
	log := make([]snapshotLog, len(kept))
	for i, s := range kept {
		log[i] = snapshotLog{SnapshotID: s.SnapshotID, TimestampMS: s.TimestampMS}
	}
	return kept, log
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// expire deletes, after version v of the table under dir was committed,
// what the version that just left v's metadata log (v-keep-1) names and
// the next one does not, then that version's metadata file (rule 2
// above), when v's properties ask for it (DeleteAfterCommitProperty,
// PreviousVersionsProperty). Failures leave objects for the sweep.
func (p *Publisher) expire(ctx context.Context, dir string, v int, props map[string]string) {
	if on, _ := strconv.ParseBool(props[DeleteAfterCommitProperty]); !on {
		return
	}
	keep, err := strconv.Atoi(props[PreviousVersionsProperty])
	if err != nil || keep < 1 {
		keep = DefaultPreviousVersions
	}
	old := v - keep - 1
	if old < 1 {
		return
	}
	oldMD, err := p.readMetadataKey(ctx, metadataKey(dir, old))
	if errors.Is(err, tiering.ErrNotFound) {
		return // deleted already (or swept)
	}
	if err != nil {
		return
	}
	nextMD, err := p.readMetadataKey(ctx, metadataKey(dir, old+1))
	if err != nil {
		return // cannot tell what is still named: the sweep decides later
	}
	gone, err := p.references(ctx, oldMD)
	if err != nil {
		return
	}
	still, err := p.references(ctx, nextMD)
	if err != nil {
		return
	}
	for k := range gone {
		if !still[k] {
			if p.Store.Delete(ctx, k) == nil {
				p.deleted.Add(1)
			}
		}
	}
	// Last: until it is gone, a sweep can tell what it named.
	if p.Store.Delete(ctx, metadataKey(dir, old)) == nil {
		p.deleted.Add(1)
	}
	p.forgetLists(gone, still)
}

// readMetadataKey reads and parses one metadata file.
func (p *Publisher) readMetadataKey(ctx context.Context, key string) (*tableMetadata, error) {
	raw, err := readAll(ctx, p.Store, key)
	if err != nil {
		return nil, err
	}
	md := new(tableMetadata)
	if err := json.Unmarshal(raw, md); err != nil {
		return nil, err
	}
	return md, nil
}

// references returns the keys of the manifest lists and manifests a
// version's snapshots name. Lists are immutable, so what each names is
// cached by key.
func (p *Publisher) references(ctx context.Context, md *tableMetadata) (map[string]bool, error) {
	out := map[string]bool{}
	for _, s := range md.Snapshots {
		lkey := p.keyOf(s.ManifestList)
		out[lkey] = true
		ms, err := p.listManifests(ctx, lkey)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			out[m] = true
		}
	}
	return out, nil
}

// listManifests returns the keys of the manifests a manifest list names.
func (p *Publisher) listManifests(ctx context.Context, lkey string) ([]string, error) {
	p.cacheMu.Lock()
	ms, ok := p.lists[lkey]
	p.cacheMu.Unlock()
	if ok {
		return ms, nil
	}
	raw, err := readAll(ctx, p.Store, lkey)
	if err != nil {
		return nil, err
	}
	mfs, err := ig.ReadManifestList(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	ms = make([]string, len(mfs))
	for i, mf := range mfs {
		ms[i] = p.keyOf(mf.FilePath())
	}
	p.cacheMu.Lock()
	if p.lists == nil {
		p.lists = map[string][]string{}
	}
	p.lists[lkey] = ms
	p.cacheMu.Unlock()
	return ms, nil
}

// forgetLists drops from the cache the lists of gone that still does not
// name: no later version names them (rule 1).
func (p *Publisher) forgetLists(gone, still map[string]bool) {
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	for k := range gone {
		if !still[k] {
			delete(p.lists, k)
		}
	}
}

// sweepDue reports whether the table under dir is due for a sweep (at the
// first commit after a start, then every OrphanAge), and marks it swept.
func (p *Publisher) sweepDue(dir string, now time.Time) bool {
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	if last, ok := p.swept[dir]; ok && now.Sub(last) < p.orphanAge() {
		return false
	}
	if p.swept == nil {
		p.swept = map[string]time.Time{}
	}
	p.swept[dir] = now
	return true
}

// Sweep deletes the objects under the table's metadata/ that neither
// version v (md, just committed) nor a version of its metadata log names:
// metadata files of versions before v, and manifests and manifest lists
// older than OrphanAge by the store's clock (rule 3 above). What a crash
// or a failed delete left is collected here. It returns how many objects
// it deleted; errors stop it, leaving the rest for the next sweep.
func (p *Publisher) sweep(ctx context.Context, dir string, v int, md *tableMetadata, now time.Time) (int, error) {
	named, err := p.references(ctx, md)
	if err != nil {
		return 0, err
	}
	named[metadataKey(dir, v)] = true
	for _, l := range md.MetadataLog {
		k := p.keyOf(l.MetadataFile)
		named[k] = true
		old, err := p.readMetadataKey(ctx, k)
		if errors.Is(err, tiering.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		refs, err := p.references(ctx, old)
		if err != nil {
			return 0, err
		}
		for r := range refs {
			named[r] = true
		}
	}
	// The cache keeps the lists still named (others were left there by a
	// commit whose expiry failed).
	p.cacheMu.Lock()
	for k := range p.lists {
		if strings.HasPrefix(k, dir+"/") && !named[k] {
			delete(p.lists, k)
		}
	}
	p.cacheMu.Unlock()
	objs, err := p.Store.List(ctx, dir+"/metadata/")
	if err != nil {
		return 0, err
	}
	limit := now.Add(-p.orphanAge())
	n := 0
	for _, o := range objs {
		if named[o.Key] {
			continue
		}
		name := strings.TrimPrefix(o.Key, dir+"/metadata/")
		switch {
		case strings.HasPrefix(name, "v") && strings.HasSuffix(name, ".metadata.json"):
			// A version out of the log. Only older ones: a newer one
			// was committed by another writer after v.
			ver, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "v"), ".metadata.json"))
			if err != nil || ver >= v {
				continue
			}
		case strings.HasSuffix(name, ".avro"):
			// Unknown time (zero) or young: maybe a commit in flight.
			if o.Modified.IsZero() || o.Modified.After(limit) {
				continue
			}
		default:
			continue // the version hint, or not ours
		}
		if err := p.Store.Delete(ctx, o.Key); err != nil {
			return n, err
		}
		n++
		p.deleted.Add(1)
	}
	return n, nil
}

// Deleted returns how many metadata objects (old metadata files, manifest
// lists and manifests of expired snapshots, leftovers) this publisher
// deleted.
func (p *Publisher) Deleted() int64 { return p.deleted.Load() }
