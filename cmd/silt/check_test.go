package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/segment"
)

func TestCheckListsQuarantine(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := check([]string{"--data-dir", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "empty") {
		t.Fatalf("empty data dir: exit %d, %q %q", code, out.String(), errOut.String())
	}

	e, err := engine.Open(engine.Config{DataDir: dir, FlushInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// A file where the database's segment directory must go: its flush
	// fails, the other database's does not.
	if err := os.MkdirAll(filepath.Join(dir, "segments"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "segments", segment.PathName("bad")), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"bad", "good"} {
		var b columnar.Batch
		b.StartRow([]byte("cpu"), 1)
		b.AddTag([]byte("host"), []byte("a"))
		b.AddFloat([]byte("v"), 1)
		b.EndRow(1)
		if _, err := e.Write(db, &b); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatalf("close (flushes): %v", err)
	}
	out.Reset()
	code := check([]string{"--data-dir", dir}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, out.String())
	}
	got := out.String()
	if !strings.Contains(got, "1 batch") || !strings.Contains(got, "flush\tbad.cpu\t1 rows") ||
		!strings.Contains(got, "not a directory") || strings.Contains(got, "good") {
		t.Fatalf("output:\n%s", got)
	}
	if code := check([]string{"--data-dir", filepath.Join(dir, "nope")}, &out, &errOut); code != 2 {
		t.Fatalf("missing data dir: exit %d", code)
	}
}
