package engine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// SnapshotDir is the directory under the data directory that holds the
// snapshots a backup is copying. Each is a directory of hard links, so the
// files it names survive compaction, retention, tiering and WAL cleanup
// without holding any of them back. It is emptied when the engine opens: a
// snapshot outlives its server only as garbage.
const SnapshotDir = "backup-snapshots"

// Snapshot is a consistent point-in-time view of the data directory: the
// manifest as published at one instant and the WAL files holding every
// record written before that instant and not yet covered by the manifest's
// segments. Restoring the manifest, the local segments it names and these
// WAL files gives back every write acknowledged before the snapshot.
type Snapshot struct {
	ID string `json:"id"`
	// Manifest is the manifest as committed (the same JSON a restore
	// writes to manifest.json).
	Manifest json.RawMessage `json:"manifest"`
	// Files are the local files of the snapshot, paths relative to the
	// data directory (slash separated): the manifest, the WAL files and
	// the local segments.
	Files []SnapshotFile `json:"files"`
	// Cold are the segments held only in the object store: a snapshot
	// names them but has no local copy.
	Cold []segment.SegmentMeta `json:"cold,omitempty"`
}

// SnapshotFile is one file of a snapshot.
type SnapshotFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// Kind is "manifest", "wal" or "segment".
	Kind string `json:"kind"`
	// Segment is the manifest entry of a segment file.
	Segment *segment.SegmentMeta `json:"segment,omitempty"`
}

// CreateSnapshot pins the current state for a backup. Under the engine lock
// it takes the published manifest, rotates the WAL (the rotation fsyncs the
// file it closes, so every record appended so far is durable and no record
// spans the cut) and hard-links the WAL files the manifest does not cover;
// the segments are linked after the lock, held meanwhile by scan references
// so that neither compaction nor tiering deletes them first. Writes wait only
// for the rotation and a few links.
func (e *Engine) CreateSnapshot() (*Snapshot, error) {
	if !e.ready.Load() {
		return nil, ErrNotReady
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, fmt.Errorf("snapshot id: %w", err)
	}
	id := time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(idb[:])
	dir := filepath.Join(e.cfg.DataDir, SnapshotDir, id)
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, fmt.Errorf("create snapshot directory: %w", err)
	}
	snap := &Snapshot{ID: id}
	fail := func(err error) (*Snapshot, error) {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}

	e.mu.Lock()
	if e.closed || e.wal == nil {
		e.mu.Unlock()
		return fail(ErrClosed)
	}
	m := e.manifest.Load()
	end, err := e.wal.Rotate()
	var wals []SnapshotFile
	if err == nil {
		wals, err = linkWAL(filepath.Join(e.cfg.DataDir, "wal"), walDir, m.WALSeq, end)
	}
	segs := append([]segment.SegmentMeta(nil), m.Segments...)
	e.refs.acquire(segs)
	e.mu.Unlock()
	defer e.refs.release(segs)
	if err != nil {
		return fail(fmt.Errorf("snapshot the wal: %w", err))
	}

	raw, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fail(fmt.Errorf("encode manifest: %w", err))
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.ManifestFile), raw, 0o644); err != nil {
		return fail(fmt.Errorf("write snapshot manifest: %w", err))
	}
	snap.Manifest = raw
	snap.Files = append(snap.Files, SnapshotFile{Path: manifest.ManifestFile, Size: int64(len(raw)), Kind: "manifest"})
	snap.Files = append(snap.Files, wals...)
	for i := range segs {
		s := segs[i]
		if s.Cold() {
			snap.Cold = append(snap.Cold, s)
			continue
		}
		src := filepath.Join(e.cfg.DataDir, filepath.FromSlash(s.Path))
		dst := filepath.Join(dir, filepath.FromSlash(s.Path))
		size, err := linkFile(src, dst)
		if err != nil {
			return fail(fmt.Errorf("snapshot segment %d: %w", s.ID, err))
		}
		snap.Files = append(snap.Files, SnapshotFile{Path: s.Path, Size: size, Kind: "segment", Segment: &segs[i]})
	}
	return snap, nil
}

// linkWAL links the WAL files numbered in [from, end) into dst.
func linkWAL(src, dst string, from, end uint64) ([]SnapshotFile, error) {
	ents, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var out []SnapshotFile
	for _, ent := range ents {
		name := ent.Name()
		var seq uint64
		if !strings.HasSuffix(name, ".wal") {
			continue
		}
		if _, err := fmt.Sscanf(strings.TrimSuffix(name, ".wal"), "%d", &seq); err != nil || seq < from || seq >= end {
			continue
		}
		size, err := linkFile(filepath.Join(src, name), filepath.Join(dst, name))
		if err != nil {
			return nil, err
		}
		out = append(out, SnapshotFile{Path: "wal/" + name, Size: size, Kind: "wal"})
	}
	return out, nil
}

// linkFile hard-links src to dst (copying where the file system cannot
// link) and returns the file's size.
func linkFile(src, dst string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	if err := os.Link(src, dst); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		data, rerr := os.ReadFile(src)
		if rerr != nil {
			return 0, errors.Join(err, rerr)
		}
		if werr := os.WriteFile(dst, data, 0o644); werr != nil {
			return 0, errors.Join(err, werr)
		}
	}
	st, err := os.Stat(dst)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// SnapshotPath returns the local path of file rel of snapshot id, refusing
// ids and paths that leave the snapshot.
func (e *Engine) SnapshotPath(id, rel string) (string, error) {
	if !validSnapshotID(id) {
		return "", fmt.Errorf("no snapshot %q", id)
	}
	p := filepath.FromSlash(rel)
	if rel == "" || !filepath.IsLocal(p) {
		return "", fmt.Errorf("path %q is not a file of a snapshot", rel)
	}
	return filepath.Join(e.cfg.DataDir, SnapshotDir, id, p), nil
}

// DropSnapshot removes snapshot id (its links; the data stays where the
// live data directory still names it).
func (e *Engine) DropSnapshot(id string) error {
	if !validSnapshotID(id) {
		return fmt.Errorf("no snapshot %q", id)
	}
	dir := filepath.Join(e.cfg.DataDir, SnapshotDir, id)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no snapshot %q: %w", id, err)
	}
	return os.RemoveAll(dir)
}

func validSnapshotID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// removeSnapshots deletes the snapshots a previous run left behind.
func removeSnapshots(dataDir string) error {
	return os.RemoveAll(filepath.Join(dataDir, SnapshotDir))
}
