package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

const stateVersion = 1

// checkpoint is the JSON content of a state file. The identifying fields
// are stored next to the progress so that a human can tell what a file in
// the state directory is about.
type checkpoint struct {
	Version int `json:"version"`

	// Identity: a change to any of these starts a fresh import.
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	MtimeNS   int64  `json:"mtime_ns"`
	Server    string `json:"server"`
	DB        string `json:"db"`
	Table     string `json:"table,omitempty"`
	Precision string `json:"precision,omitempty"`
	Format    string `json:"format"`

	// Offset is the uncompressed byte offset below which every chunk has
	// been acknowledged; Line is the number of file lines below Offset,
	// so the next run starts at line Line+1.
	Offset int64 `json:"offset"`
	Line   int64 `json:"line"`
	// RawOffset is the matching on-disk position, exact for plain files
	// and approximate for gzip ones; only used for percentages.
	RawOffset int64 `json:"raw_offset"`

	// Row counts for the acknowledged prefix.
	RowsWritten  int64 `json:"rows_written"`
	RowsRejected int64 `json:"rows_rejected"`

	Complete bool      `json:"complete"`
	Updated  time.Time `json:"updated"`
}

// stateKey identifies one import of one version of one file.
type stateKey struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	MtimeNS   int64  `json:"mtime_ns"`
	Server    string `json:"server"`
	DB        string `json:"db"`
	Table     string `json:"table"`
	Precision string `json:"precision"`
}

// statePath is where the checkpoint for key lives: a hash keeps the name
// short and free of path separators.
func statePath(dir string, key stateKey) string {
	b, _ := json.Marshal(key) // plain strings and ints cannot fail
	sum := sha256.Sum256(b)
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
}

// loadCheckpoint reads the checkpoint at path. A missing file yields
// (nil, nil).
func loadCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("parse checkpoint %s: %w", path, err)
	}
	if cp.Version != stateVersion {
		return nil, fmt.Errorf("checkpoint %s has unknown version %d", path, cp.Version)
	}
	return &cp, nil
}

// saveCheckpoint writes cp to path atomically: a reader (the next run,
// after a crash at any point) sees either the old or the new checkpoint.
func saveCheckpoint(path string, cp *checkpoint) error {
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create checkpoint directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("create checkpoint: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint %s: %w", tmp.Name(), err)
	}
	// Sync before the rename so that a power loss cannot leave the new
	// name pointing at an empty file.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync checkpoint %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close checkpoint %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace checkpoint: %w", err)
	}
	renamed = true
	return nil
}
