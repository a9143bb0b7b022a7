package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// closeCounter counts Close calls on a segment's source.
type closeCounter struct{ n int }

func (c *closeCounter) Close() error { c.n++; return nil }

// TestOpenSegmentReader: a segment opened from any ReaderAtSeeker (here the
// file's bytes in memory, as a cold segment's come over ranged GETs) has the
// same info, tag index and rows as one opened from its path, and closes its
// source with it — also when the bytes are not a segment.
func TestOpenSegmentReader(t *testing.T) {
	dir := t.TempDir()
	s := columnar.NewTableSchema()
	h := NewHead(s)
	admitAll(t, s, h, testBatch())
	var id uint64
	metas, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		path := filepath.Join(dir, m.Path)
		local, err := OpenSegment(path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cc := &closeCounter{}
		mem, err := OpenSegmentReader(bytes.NewReader(raw), "mem:"+m.Path, cc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(local.Info, mem.Info) || mem.Path() != "mem:"+m.Path || local.Path() != path {
			t.Fatalf("info %+v / %+v, paths %s %s", local.Info, mem.Info, local.Path(), mem.Path())
		}
		if !reflect.DeepEqual(local.Index, mem.Index) {
			t.Fatal("tag index differs")
		}
		if want, got := mergedPoints(t, local.Scan), mergedPoints(t, mem.Scan); !reflect.DeepEqual(want, got) || len(got) == 0 {
			t.Fatalf("rows differ: %d / %d", len(want), len(got))
		}
		if err := errors.Join(local.Close(), mem.Close()); err != nil {
			t.Fatal(err)
		}
		if cc.n != 1 {
			t.Fatalf("source closed %d times, want 1", cc.n)
		}
	}
	cc := &closeCounter{}
	if _, err := OpenSegmentReader(bytes.NewReader([]byte("not a parquet file at all")), "junk", cc); err == nil || !strings.Contains(err.Error(), "junk") {
		t.Fatalf("junk opened: %v", err)
	}
	if cc.n != 1 {
		t.Fatalf("failed open closed its source %d times, want 1", cc.n)
	}
}
