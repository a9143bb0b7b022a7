package engine

import (
	"context"
	"fmt"
	"math"
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

// A last-value query that runs while a flush is between writing its
// segments and committing them must not drop the summaries the flush has
// cached: a stat panel refreshing every second lands there on most flushes
// of a busy server, and the next one read the whole new segment back.
func TestLastCacheKeepsSummariesOfAFlushInProgress(t *testing.T) {
	e := open(t, noCompactConfig(t.TempDir()))
	defer e.Close()
	now := time.Now().UnixNano()
	var b columnar.Batch
	for h := range 5 {
		b.StartRow([]byte("cpu"), h+1)
		b.AddTag([]byte("host"), []byte(fmt.Sprint("h", h)))
		b.AddFloat([]byte("x"), float64(h))
		b.EndRow(now - int64(h)*int64(time.Second))
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	queried := 0
	beforeFlushCommit = func() {
		queried++
		ts, err := e.OpenScanRange("db", "cpu", math.MinInt64, math.MaxInt64)
		if err != nil {
			t.Error(err)
			return
		}
		defer ts.Close()
		ts.Columns, ts.LastOnly = []string{"host", "x"}, true
		if err := ts.RunBatches(context.Background(), func(*columnar.ColumnBatch) error { return nil }); err != nil {
			t.Error(err)
		}
	}
	defer func() { beforeFlushCommit = nil }()
	flush(t, e)
	if queried != 1 {
		t.Fatalf("the last-value query ran %d times during the flush, want 1", queried)
	}
	raw := e.Manifest().Raw()
	if len(raw) == 0 {
		t.Fatal("the flush wrote no segment")
	}
	for _, m := range raw {
		if _, ok := e.lastCache.m.Load(filepath.Join(e.cfg.DataDir, filepath.FromSlash(m.Path))); !ok {
			t.Errorf("the summary of %s, cached by its flush, is gone after a query ran before the commit", m.Path)
		}
	}
}
