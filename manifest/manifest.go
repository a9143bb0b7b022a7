package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/fileutil"
	"github.com/siltdb/silt/segment"
)

// ManifestFile is the manifest's name in the data directory.
const ManifestFile = "manifest.json"

// Manifest is the single source of truth for what is durable: the live
// segments, the table schemas, and how much of the WAL they cover. A segment
// file not listed here does not exist for queries. A Manifest value is
// immutable once published; changes make a copy (Clone) and Commit it.
type Manifest struct {
	Version       int                                         `json:"version"`
	Generation    uint64                                      `json:"generation"`
	NextSegmentID uint64                                      `json:"next_segment_id"`
	WALSeq        uint64                                      `json:"wal_seq"` // WAL files numbered below this are covered by the segments
	Databases     map[string]*DatabaseMeta                    `json:"databases"`
	Schemas       map[string]map[string]*columnar.TableSchema `json:"schemas"`
	Segments      []segment.SegmentMeta                       `json:"segments"`
	// Sources holds the stream positions (next offset to consume, keyed by
	// source partition) covered by the segments: committed with them, so a
	// stream consumer resumes exactly after the rows that are durable here.
	Sources map[string]int64 `json:"sources,omitempty"`
	// Clock is the newest write stamp (segment.SegmentMeta.WriteMax) of
	// the rows the manifest's flushes made durable: the node's write
	// clock restarts past it, and rows replayed from the WAL were written
	// after it. 0 (absent): not recorded.
	Clock int64 `json:"clock,omitempty"`
	// Bucket is the tiering ledger: objects this data directory may have
	// put in its object store prefix that no segment names as cold yet,
	// and objects it is to delete there. Local state, like WALSeq: the
	// bucket's copy of the manifest leaves it out. A manifest that holds
	// one is written as version 2 (a build reading version 1 only would
	// drop it on its next commit and leave the objects in the bucket for
	// good); without one it stays version 1.
	Bucket *BucketLedger `json:"bucket,omitempty"`
}

// BucketLedger records, in the same atomic commits as the segments, what
// tiering has in flight in the object store, so that a crash at any step
// of an upload, a merge or a delete leaves nothing in the bucket that no
// one will delete (docs/tiering.md, "Crash safety of the bucket").
type BucketLedger struct {
	// Uploads are the keys of segments a tiering pass is putting (or put)
	// and has not yet marked cold. Recorded before the first byte is sent;
	// a key leaves when its segment is committed cold, or moves to
	// Deletes when its segment left the manifest first (compaction or
	// retention replaced it).
	Uploads []string `json:"uploads,omitempty"`
	// Deletes are objects no segment names any more, to be deleted once
	// neither the bucket manifest nor a published table names them and
	// their grace period (readers of an older manifest) has passed. A key
	// leaves in the commit after its delete succeeded; deleting it twice
	// is harmless.
	Deletes []PendingDelete `json:"deletes,omitempty"`
}

// PendingDelete is an object to delete from the bucket.
type PendingDelete struct {
	Key string `json:"key"`
	// Since is when the key was recorded (Unix ns).
	Since int64 `json:"since"`
	// Unlisted is when a bucket manifest that does not name the key was
	// first put after it was recorded (Unix ns; 0: not yet known, as in
	// ledgers of older builds): the grace period (--tier.delete-grace)
	// counts from it, since a reader may hold the manifest put before.
	// Set in a commit after that put, so a crash between the two leaves
	// 0 and the next put sets a later time: the grace only grows.
	Unlisted int64 `json:"unlisted,omitempty"`
}

// Empty reports whether the ledger records nothing (nil included).
func (l *BucketLedger) Empty() bool {
	return l == nil || (len(l.Uploads) == 0 && len(l.Deletes) == 0)
}

// Clone returns a deep copy (nil for nil).
func (l *BucketLedger) Clone() *BucketLedger {
	if l == nil {
		return nil
	}
	return &BucketLedger{Uploads: append([]string(nil), l.Uploads...), Deletes: append([]PendingDelete(nil), l.Deletes...)}
}

// Versions of the manifest format: VersionLedger adds Bucket.
const (
	VersionBase   = 1
	VersionLedger = 2
)

// DatabaseMeta holds per-database settings.
type DatabaseMeta struct {
	Created int64 `json:"created"`
	// Retention in nanoseconds: 0 uses the server's --retention default,
	// RetentionInfinite keeps data forever, > 0 drops older rows.
	Retention int64 `json:"retention_ns,omitempty"`
}

// RetentionInfinite is DatabaseMeta.Retention for "keep forever" (InfluxQL's
// DURATION INF), overriding a finite server default.
const RetentionInfinite = -1

// NewManifest returns the manifest of an empty data directory.
func NewManifest() *Manifest {
	return &Manifest{Version: 1, NextSegmentID: 1, WALSeq: 0,
		Databases: map[string]*DatabaseMeta{}, Schemas: map[string]map[string]*columnar.TableSchema{}}
}

// Clone returns a deep copy for modification.
func (m *Manifest) Clone() *Manifest {
	c := *m
	c.Databases = make(map[string]*DatabaseMeta, len(m.Databases))
	for k, v := range m.Databases {
		d := *v
		c.Databases[k] = &d
	}
	c.Schemas = make(map[string]map[string]*columnar.TableSchema, len(m.Schemas))
	for db, tables := range m.Schemas {
		ts := make(map[string]*columnar.TableSchema, len(tables))
		for t, s := range tables {
			ts[t] = s.Clone()
		}
		c.Schemas[db] = ts
	}
	c.Segments = append([]segment.SegmentMeta(nil), m.Segments...)
	c.Bucket = m.Bucket.Clone()
	if m.Sources != nil {
		c.Sources = make(map[string]int64, len(m.Sources))
		for k, v := range m.Sources {
			c.Sources[k] = v
		}
	}
	return &c
}

// LoadManifest reads the manifest in dataDir, or returns an empty one if the
// directory has none yet.
func LoadManifest(dataDir string) (*Manifest, error) {
	path := filepath.Join(dataDir, ManifestFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return NewManifest(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m := NewManifest()
	if err := json.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", path, err)
	}
	if m.Version != VersionBase && m.Version != VersionLedger {
		return nil, fmt.Errorf("manifest %s has version %d, this build reads %d and %d", path, m.Version, VersionBase, VersionLedger)
	}
	for _, tables := range m.Schemas {
		for _, s := range tables {
			s.Reindex()
		}
	}
	return m, nil
}

// Commit writes m as the manifest of dataDir atomically: temporary file,
// fsync, rename over the old one, fsync of the directory. Generation is
// incremented first; the version is the lowest that holds m (a ledger
// needs VersionLedger), so a directory without tiering work in flight
// still opens in a build that reads version 1.
func (m *Manifest) Commit(dataDir string) error {
	m.Generation++
	if m.Bucket.Empty() {
		m.Bucket, m.Version = nil, VersionBase
	} else {
		m.Version = VersionLedger
	}
	sort.Slice(m.Segments, func(i, j int) bool { return m.Segments[i].ID < m.Segments[j].ID })
	raw, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	return fileutil.WriteFileAtomic(filepath.Join(dataDir, ManifestFile), raw)
}

// Raw returns the segments of raw rows, leaving out rollups.
func (m *Manifest) Raw() []segment.SegmentMeta {
	out := make([]segment.SegmentMeta, 0, len(m.Segments))
	for _, s := range m.Segments {
		if !s.IsRollup() {
			out = append(out, s)
		}
	}
	return out
}
