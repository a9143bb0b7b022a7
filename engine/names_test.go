package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
)

// TestBadNamesNeverReachDisk: the engine refuses, before logging anything,
// database names a flush could not turn into a directory, and rejects rows
// whose table name is such a name; the flush that follows succeeds.
func TestBadNamesNeverReachDisk(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	long := strings.Repeat("/", 100) // 300 bytes once escaped
	for _, db := range []string{"\xff\xfe", long} {
		var b columnar.Batch
		b.StartRow([]byte("cpu"), 1)
		b.AddFloat([]byte("v"), 1)
		b.EndRow(1)
		if _, err := e.Write(db, &b); !errors.Is(err, sink.ErrBadName) {
			t.Errorf("Write(%q) = %v, want ErrBadName", db, err)
		}
		if _, err := e.WriteFrom(db, &b, sink.SourceOffsets{"kafka/t/0": 1}); !errors.Is(err, sink.ErrBadName) {
			t.Errorf("WriteFrom(%q) = %v, want ErrBadName", db, err)
		}
		if err := e.CreateDatabase(db); !errors.Is(err, sink.ErrBadName) {
			t.Errorf("CreateDatabase(%q) = %v, want ErrBadName", db, err)
		}
	}
	res := write(t, e, "db", point{table: long, host: "a", t: 1, v: 1}, point{table: "cpu", host: "a", t: 1, v: 2})
	if res.Written != 1 || len(res.Rejected) != 1 || res.Rejected[0].Code != "bad-table-name" {
		t.Fatalf("write = %+v, want the long table's row rejected as bad-table-name", res)
	}
	if err := e.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if got := dump(t, e, "db"); len(got) != 1 || got["cpu"]["a@1"] != 2 {
		t.Fatalf("db holds %v, want only cpu", got)
	}
	if dbs := e.Databases(); len(dbs) != 1 || dbs[0] != "db" {
		t.Fatalf("databases = %q", dbs)
	}
}
