package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManifestLedgerVersions: a manifest with a tiering ledger is written
// as version 2 and reads back whole; once the ledger is empty the next
// commit writes version 1 without it again; a clone's ledger is its own;
// a version this build does not know is refused.
func TestManifestLedgerVersions(t *testing.T) {
	dir := t.TempDir()
	m := NewManifest()
	m.Bucket = &BucketLedger{Uploads: []string{"segments/db/cpu/w/00000000000000000003.parquet"},
		Deletes: []PendingDelete{{Key: "segments/db/cpu/w/00000000000000000001.parquet", Since: 42}}}
	if err := m.Commit(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != VersionLedger || got.Bucket.Empty() || got.Bucket.Uploads[0] != m.Bucket.Uploads[0] ||
		got.Bucket.Deletes[0] != m.Bucket.Deletes[0] {
		t.Fatalf("loaded version %d, ledger %+v", got.Version, got.Bucket)
	}
	c := got.Clone()
	c.Bucket.Uploads[0] = "changed"
	c.Bucket.Deletes = c.Bucket.Deletes[:0]
	if got.Bucket.Uploads[0] == "changed" || len(got.Bucket.Deletes) != 1 {
		t.Fatal("a clone shares its ledger with the original")
	}
	if err := c.Commit(dir); err != nil { // uploads left only
		t.Fatal(err)
	}
	c = c.Clone()
	c.Bucket.Uploads = nil
	if err := c.Commit(dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"bucket"`) || !strings.Contains(string(raw), `"version": 1`) {
		t.Fatalf("a manifest with an empty ledger is not version 1 without it:\n%s", raw)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"version":3,"segments":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadManifest(dir); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("version 3 loaded: %v", err)
	}
}
