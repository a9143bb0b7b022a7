package engine

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/manifest"
)

func writeFrom(t *testing.T, e *Engine, db string, offs sink.SourceOffsets, pts ...point) {
	t.Helper()
	var b columnar.Batch
	for i, p := range pts {
		b.StartRow([]byte(p.table), i+1)
		b.AddTag([]byte("host"), []byte(p.host))
		b.AddFloat([]byte("v"), p.v)
		b.EndRow(p.t)
	}
	if _, err := e.WriteFrom(db, &b, offs); err != nil {
		t.Fatal(err)
	}
}

// The engine's offsets follow its data through flushes, crashes and clean
// restarts: the manifest holds those of the segments, the WAL those since.
func TestSourceOffsetsFollowData(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	writeFrom(t, e, "db", sink.SourceOffsets{"kafka/t/0": 10, "kafka/t/1": 5}, gen("cpu", 100, 0)...)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := e.Manifest().Sources; !reflect.DeepEqual(got, map[string]int64{"kafka/t/0": 10, "kafka/t/1": 5}) {
		t.Fatalf("manifest sources after flush = %v", got)
	}
	// Head only (WAL), an offsets-only record, and a plain write in between.
	writeFrom(t, e, "db", sink.SourceOffsets{"kafka/t/0": 20}, gen("cpu", 200, 0)[100:]...)
	write(t, e, "db", gen("mem", 10, 0)...)
	writeFrom(t, e, "db", sink.SourceOffsets{"kafka/t/1": 9, "nats/s/c": 3})
	// A stale position never moves a source back.
	writeFrom(t, e, "db", sink.SourceOffsets{"kafka/t/0": 15})
	want := sink.SourceOffsets{"kafka/t/0": 20, "kafka/t/1": 9, "nats/s/c": 3}
	if got := e.SourceOffsets(""); !reflect.DeepEqual(got, want) {
		t.Fatalf("live offsets = %v, want %v", got, want)
	}
	if got := e.SourceOffsets("kafka/"); len(got) != 2 {
		t.Fatalf("prefix filter: %v", got)
	}
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	if got := e.SourceOffsets(""); !reflect.DeepEqual(got, want) {
		t.Fatalf("offsets after crash = %v, want %v", got, want)
	}
	if got := e.Manifest().Sources; got["kafka/t/0"] != 10 {
		t.Fatalf("manifest moved without a flush: %v", got)
	}
	if tables, _ := e.Tables("db"); len(tables) != 2 {
		t.Fatalf("tables after replay: %v", tables)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// After a clean close everything is in the manifest, on disk.
	raw, err := os.ReadFile(filepath.Join(dir, manifest.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Sources map[string]int64 `json:"sources"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sink.SourceOffsets(m.Sources), want) {
		t.Fatalf("manifest sources after close = %v, want %v", m.Sources, want)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	if got := e.SourceOffsets(""); !reflect.DeepEqual(got, want) {
		t.Fatalf("offsets after reopen = %v, want %v", got, want)
	}
}

// An offsets-only write into a new database creates no database.
func TestOffsetsOnlyWriteLeavesNoSchema(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	writeFrom(t, e, "fresh", sink.SourceOffsets{"kafka/t/0": 1})
	if dbs := e.Databases(); len(dbs) != 0 {
		t.Fatalf("databases = %v", dbs)
	}
}

// Records of both types decode; a type 1 record (older WALs) has no offsets.
func TestDecodeRecordTypes(t *testing.T) {
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddFloat([]byte("v"), 1)
	b.EndRow(5)
	offs := sink.SourceOffsets{"stale": 1}
	db, err := decodeAnyRecord(appendRecord(nil, "d1", &b), &b, offs)
	if err != nil || db != "d1" || len(offs) != 0 || len(b.Rows) != 1 {
		t.Fatalf("type 1: db=%q offs=%v rows=%d err=%v", db, offs, len(b.Rows), err)
	}
	rec := appendOffsetsRecord(nil, "d2", &b, sink.SourceOffsets{"kafka/x/3": 42, "neg": -1})
	db, err = decodeAnyRecord(rec, &b, offs)
	if err != nil || db != "d2" || !reflect.DeepEqual(offs, sink.SourceOffsets{"kafka/x/3": 42, "neg": -1}) || len(b.Rows) != 1 {
		t.Fatalf("type 2: db=%q offs=%v rows=%d err=%v", db, offs, len(b.Rows), err)
	}
	for i := 1; i < len(rec)-1; i++ {
		if _, err := decodeAnyRecord(rec[:i], &b, offs); err == nil {
			t.Fatalf("truncated record of %d bytes decoded", i)
		}
	}
}

// The type 2 record layout is on disk: this fails when it changes.
func TestOffsetsRecordFormat(t *testing.T) {
	var b columnar.Batch
	b.StartRow([]byte("m"), 1)
	b.AddFloat([]byte("v"), 1)
	b.EndRow(2)
	got := fmt.Sprintf("%x", appendOffsetsRecord(nil, "d", &b, sink.SourceOffsets{"k/t/0": 300}))
	// 02 | 01 offset | 05 "k/t/0" | varint(300)=d804 | 01 "d" | batch v2:
	// 02 version | 02 "mv" | 01 row | table off+1=01 len 01 | time
	// zigzag(2)=04 | line zigzag(1)=02 | 00 tags | 01 field | key off+1=02
	// len 01 | 01 float | 8 bytes
	want := "0201056b2f742f30d80401640202" + "6d76" + "01" + "0101" + "04" + "02" + "00" + "01" + "0201" + "01" + "000000000000f03f"
	if got != want {
		t.Fatalf("type 2 record\n got %s\nwant %s", got, want)
	}
	// The same record as releases before batch v2 wrote it still reads.
	old := "0201056b2f742f30d80401640102" + "6d76" + "01" + "0001" + "0200000000000000" + "01" + "00" + "01" + "0101" + "01" + "000000000000f03f"
	p, err := hex.DecodeString(old)
	if err != nil {
		t.Fatal(err)
	}
	var back columnar.Batch
	offs := sink.SourceOffsets{}
	db, err := decodeAnyRecord(p, &back, offs)
	if err != nil || db != "d" || !reflect.DeepEqual(offs, sink.SourceOffsets{"k/t/0": 300}) || len(back.Rows) != 1 {
		t.Fatalf("batch v1 record: db=%q offs=%v rows=%d err=%v", db, offs, len(back.Rows), err)
	}
	r := &back.Rows[0]
	if f := back.RowFields(r); back.Str(r.Table) != "m" || r.Time != 2 || r.Line != 1 || len(f) != 1 || back.Str(f[0].Key) != "v" || f[0].Float() != 1 {
		t.Fatalf("batch v1 record read back as %+v", back)
	}
}
