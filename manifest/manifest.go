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
}

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
	if m.Version != 1 {
		return nil, fmt.Errorf("manifest %s has version %d, this build reads 1", path, m.Version)
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
// incremented first.
func (m *Manifest) Commit(dataDir string) error {
	m.Generation++
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
