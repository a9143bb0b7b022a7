package engine

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
)

// The last-value cache holds summaries of live segments only: flushes and
// compactions add one per segment they write, and compaction and drops
// take out those of the segments they retire, with no last-value query
// ever run (which is what pruned the cache before, so an ingest-only
// server kept a summary of every segment it ever wrote).
func TestLastCacheForgetsRetiredSegments(t *testing.T) {
	cfg := noCompactConfig(t.TempDir())
	cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 10, TargetRows: 100_000, L0Max: 2, MaxTail: 2}
	e := open(t, cfg)
	defer e.Close()
	day := int64(24 * time.Hour)
	now := time.Now().UnixNano()
	for round := range 6 {
		var b columnar.Batch
		line := 0
		for _, table := range []string{"a", "b"} {
			for d := range 4 { // a segment per table and day
				for h := range 5 {
					line++
					b.StartRow([]byte(table), line)
					b.AddTag([]byte("host"), []byte(fmt.Sprint("h", h)))
					b.AddFloat([]byte("x"), float64(round))
					b.EndRow(now - int64(d)*day - int64(round*10+h)*int64(time.Second))
				}
			}
		}
		if _, err := e.Write("db", &b); err != nil {
			t.Fatal(err)
		}
		flush(t, e)
	}
	cachedOnlyLive := func(when string) int {
		t.Helper()
		live := map[string]bool{}
		for _, m := range e.Manifest().Raw() {
			live[filepath.Join(e.cfg.DataDir, filepath.FromSlash(m.Path))] = true
		}
		n := 0
		e.lastCache.m.Range(func(k, _ any) bool {
			n++
			if !live[k.(string)] {
				t.Errorf("%s: the cache holds the summary of %s, a segment no longer in the manifest", when, k)
			}
			return true
		})
		return n
	}
	if n := cachedOnlyLive("after the flushes"); n != 6*2*4 {
		t.Fatalf("after 6 flushes of 8 segments each, %d summaries cached, want 48", n)
	}
	compact(t, e)
	if len(e.Manifest().Raw()) >= 48 {
		t.Fatalf("compaction merged nothing: %d segments", len(e.Manifest().Raw()))
	}
	cachedOnlyLive("after compaction")
	if err := e.DropTable("db", "a"); err != nil {
		t.Fatal(err)
	}
	cachedOnlyLive("after dropping a table")
}
