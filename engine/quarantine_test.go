package engine

import (
	"fmt"
	"github.com/siltdb/silt/ingest/sink"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine/wal"
	"github.com/siltdb/silt/segment"
)

// quarantinedRows reads an entry's rows back from its WAL records.
func quarantinedRows(t *testing.T, ent QuarantineEntry) (dbs []string, rows int) {
	t.Helper()
	var b columnar.Batch
	_, err := wal.Replay(filepath.Join(ent.Dir, "wal"), func(_ uint64, p []byte) error {
		db, err := decodeAnyRecord(p, &b, sink.SourceOffsets{})
		dbs = append(dbs, db)
		rows += len(b.Rows)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dbs, rows
}

func walFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A table that cannot be flushed (here: a file where its database's segment
// directory must go) has its rows quarantined; the other databases flush,
// take writes, and the WAL moves on.
func TestFlushFailureQuarantinesOnlyThatTable(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	if err := os.MkdirAll(filepath.Join(dir, "segments"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "segments", segment.PathName("bad")), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := gen("cpu", 300, 0)
	write(t, e, "good", good...)
	write(t, e, "bad", gen("cpu", 120, 0)...)
	write(t, e, "other", gen("mem", 50, 0)...)
	if err := e.Flush(); err != nil {
		t.Fatalf("flush with one unwritable table: %v", err)
	}
	if n := e.HeadBytes(); n != 0 {
		t.Fatalf("head holds %d bytes after the flush", n)
	}
	q, err := ListQuarantine(dir)
	if err != nil || len(q) != 1 {
		t.Fatalf("quarantine %+v err %v", q, err)
	}
	if q[0].DB != "bad" || q[0].Table != "cpu" || q[0].Stage != "flush" || q[0].Rows != 120 || q[0].Reason == "" {
		t.Fatalf("entry %+v", q[0])
	}
	if dbs, rows := quarantinedRows(t, q[0]); rows != 120 || dbs[0] != "bad" {
		t.Fatalf("quarantine holds %d rows of %v, want 120 of bad", rows, dbs)
	}
	if got := testutil.ToFloat64(e.metrics.QuarantinedBatches); got != 1 {
		t.Fatalf("silt_quarantined_batches_total = %v", got)
	}
	segs := map[string]int{}
	for _, s := range e.Manifest().Segments {
		segs[s.DB]++
	}
	if segs["good"] == 0 || segs["other"] == 0 || segs["bad"] != 0 {
		t.Fatalf("segments by database %v", segs)
	}
	// The WAL files covering the flushed set are gone: the next start
	// replays nothing.
	if n := walFiles(t, dir); n != 1 {
		t.Fatalf("%d wal files after the flush, want the current one", n)
	}
	// Others keep writing and flushing; a later batch of the bad table is
	// quarantined in its turn.
	more := gen("cpu", 600, 300)[300:]
	write(t, e, "good", more...)
	write(t, e, "bad", gen("cpu", 10, 5000)...)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, e, "good"), expect(append(good, more...)...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("good db: %d points, want %d", len(got["cpu"]), len(want["cpu"]))
	}
	if q, _ := ListQuarantine(dir); len(q) != 2 {
		t.Fatalf("%d quarantined batches, want 2", len(q))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	if n := e.headRows.Load(); n != 0 {
		t.Fatalf("replayed %d rows: quarantined rows came back", n)
	}
	if got := testutil.ToFloat64(e.metrics.QuarantineEntries); got != 2 {
		t.Fatalf("silt_quarantine_entries = %v after restart", got)
	}
}

// A WAL holding a record no segment can hold (65,600 columns, more than a
// Parquet file indexes) and a record that does not decode: the engine opens,
// flushes everything else, and quarantines both instead of failing at every
// start.
func TestReplayOfUnflushableRecordsDoesNotCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 65,600-column record")
	}
	dir := t.TempDir()
	w, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{SegmentBytes: 1 << 30, Metrics: wal.NopMetrics{}})
	if err != nil {
		t.Fatal(err)
	}
	var b columnar.Batch
	wideRow(&b, "wide", 1, 65_600, 1, 1)
	for _, rec := range [][]byte{
		appendRecord(nil, "db", &b),
		{recBatch, 0xff, 0xff, 0xff}, // a bad database name length
	} {
		if _, err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	b.Reset()
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte("a"))
	b.AddFloat([]byte("v"), 1)
	b.EndRow(5)
	pos, err := w.Append(appendRecord(nil, "db", &b))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(pos); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for round := range 2 {
		e, err := Open(testConfig(dir))
		if err != nil {
			t.Fatalf("round %d: open: %v", round, err)
		}
		if err := e.Flush(); err != nil {
			t.Fatalf("round %d: flush: %v", round, err)
		}
		if got := dump(t, e, "db")["cpu"]; len(got) != 1 {
			t.Fatalf("round %d: cpu holds %v", round, got)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	q, err := ListQuarantine(dir)
	if err != nil || len(q) != 2 {
		t.Fatalf("quarantine %+v err %v", q, err)
	}
	stages := map[string]QuarantineEntry{}
	for _, ent := range q {
		stages[ent.Stage] = ent
	}
	if r := stages["replay"]; r.WALFile == 0 || r.Reason == "" {
		t.Fatalf("replay entry %+v", r)
	}
	if f := stages["flush"]; f.DB != "db" || f.Table != "wide" || f.Rows != 1 {
		t.Fatalf("flush entry %+v", f)
	}
	if _, rows := quarantinedRows(t, stages["flush"]); rows != 1 {
		t.Fatalf("flush entry holds %d rows", rows)
	}
}
