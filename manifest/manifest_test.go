package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siltdb/silt/segment"
)

// TestManifestTierFields: tier and checksum survive a commit and load; a
// manifest written before they existed loads with local segments.
func TestManifestTierFields(t *testing.T) {
	dir := t.TempDir()
	m := NewManifest()
	m.Segments = []segment.SegmentMeta{{ID: 1, DB: "db", Table: "cpu", Path: "segments/db/cpu/w/1.parquet"},
		{ID: 2, DB: "db", Table: "cpu", Path: "segments/db/cpu/w/2.parquet", Tier: segment.TierS3, Checksum: "AAAAAAAAAAE="}}
	if err := m.Commit(dir); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	if strings.Count(string(raw), `"tier"`) != 1 {
		t.Fatalf("tier written for local segments too:\n%s", raw)
	}
	got, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Segments[0].Cold() || !got.Segments[1].Cold() || got.Segments[1].Checksum != "AAAAAAAAAAE=" {
		t.Fatalf("loaded %+v", got.Segments)
	}
	old := `{"version":1,"generation":3,"next_segment_id":2,"wal_seq":1,"databases":{},"schemas":{},
	 "segments":[{"id":1,"db":"db","table":"cpu","window":"2026-11-21","path":"segments/db/cpu/2026-11-21/1.parquet","rows":5,"series":1,"min_time":1,"max_time":2,"bytes":10}]}`
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = LoadManifest(dir)
	if err != nil || len(got.Segments) != 1 || got.Segments[0].Cold() || got.Segments[0].Checksum != "" {
		t.Fatalf("old manifest: %+v, %v", got, err)
	}
}
