package tiering

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDownloadVerifies(t *testing.T) {
	ctx := context.Background()
	mem := NewMemStore()
	data := bytes.Repeat([]byte("segment bytes "), 1000)
	if _, err := mem.Put(ctx, "segments/a.parquet", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	faults := NewFaultStore(mem)
	u := &Uploader{Store: faults, Retry: RetryPolicy{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond}}
	sum := ChecksumBytes(data)
	dir := t.TempDir()
	p := filepath.Join(dir, "a.tmp")

	// One damaged read is retried; the file is what was uploaded.
	faults.Add(Fault{Op: "get", Key: "segments/", Corrupt: true, Times: 1})
	if err := u.Download(ctx, "segments/a.parquet", p, int64(len(data)), sum); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes (%v), want the %d uploaded", len(got), err, len(data))
	}

	// Every read damaged, or the object shorter than recorded: an error
	// that says so, and no file.
	faults.Clear()
	faults.Add(Fault{Op: "get", Key: "segments/", Corrupt: true})
	q := filepath.Join(dir, "b.tmp")
	if err := u.Download(ctx, "segments/a.parquet", q, int64(len(data)), sum); !errors.Is(err, ErrChecksum) {
		t.Fatalf("damaged every time: %v, want ErrChecksum", err)
	}
	faults.Clear()
	if err := u.Download(ctx, "segments/a.parquet", q, int64(len(data))+1, ""); err == nil {
		t.Fatal("a download shorter than the recorded size succeeded")
	}
	if _, err := os.Stat(q); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed download left its file: %v", err)
	}
}
