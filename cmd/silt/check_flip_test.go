package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/manifest"
)

// TestCheckSegmentByteFlips flips single bytes all over a real segment —
// page data, page headers, statistics, the page index, the footer — and
// expects the segment check to catch every one: the page CRCs cover the
// data, the whole file's CRC-64/NVME recorded in the manifest the rest.
func TestCheckSegmentByteFlips(t *testing.T) {
	dir := t.TempDir()
	e, err := engine.Open(engine.Config{DataDir: dir, FlushInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var b columnar.Batch
	for i := range 5000 {
		b.StartRow([]byte("cpu"), i)
		b.AddTag([]byte("host"), []byte{byte('a' + i%5)})
		b.AddFloat([]byte("v"), float64(i%17))
		b.EndRow(int64(i) * 1e9)
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.LoadManifest(dir)
	if err != nil || len(m.Raw()) != 1 {
		t.Fatalf("manifest: %v, %d raw segments", err, len(m.Raw()))
	}
	seg := m.Raw()[0]
	if seg.Checksum == "" {
		t.Fatal("the flush recorded no checksum")
	}
	path := filepath.Join(dir, filepath.FromSlash(seg.Path))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{dir: dir}
	if err := c.checkSegment(seg); err != nil {
		t.Fatalf("intact segment: %v", err)
	}
	// Every 7th byte (each class of region is tens of bytes wide).
	var missed []int
	for i := 0; i < len(raw); i += 7 {
		d := bytes.Clone(raw)
		d[i] ^= 0x40
		if err := os.WriteFile(path, d, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.checkSegment(seg); err == nil {
			missed = append(missed, i)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("%d of %d flips in a %d-byte segment went unnoticed, at %v", len(missed), (len(raw)+6)/7, len(raw), missed)
	}
}
