package tiering

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var fastRetry = RetryPolicy{Attempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// storedEquals checks the store holds exactly data under key.
func storedEquals(t *testing.T, s ObjectStore, key string, data []byte) {
	t.Helper()
	st, err := s.Stat(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(data)) {
		t.Fatalf("%s: stored %d bytes, want %d", key, st.Size, len(data))
	}
	if got := readAll(t, s, key, 0, st.Size); string(got) != string(data) {
		t.Fatalf("%s: stored bytes differ", key)
	}
}

func TestUploaderRetriesUntilVerified(t *testing.T) {
	dir := t.TempDir()
	data := randBytes(2, 100_000)
	path := writeFile(t, dir, "1.parquet", data)
	f := func(name string, fault Fault, wantAttempts int) {
		t.Helper()
		mem := NewMemStore()
		fs := NewFaultStore(mem)
		fs.Add(fault)
		var retries int
		u := &Uploader{Store: fs, Retry: fastRetry, OnRetry: func(string, int, error) { retries++ }}
		res := u.UploadFile(context.Background(), path, "k/1.parquet")
		if res.Err != nil || !res.Verified() {
			t.Fatalf("%s: %v", name, res.Err)
		}
		if res.Attempts != wantAttempts || retries != wantAttempts-1 {
			t.Fatalf("%s: %d attempts, %d retries; want %d attempts", name, res.Attempts, retries, wantAttempts)
		}
		storedEquals(t, mem, "k/1.parquet", data)
	}
	f("clean", Fault{Op: "none"}, 1)
	f("put unavailable twice", Fault{Op: "put", Times: 2, Err: Unavailable("put", "k")}, 3)
	f("stat unavailable once", Fault{Op: "stat", Times: 1, Err: Unavailable("stat", "k")}, 2)
	f("body cut short", Fault{Op: "put", Times: 1, Partial: 4096}, 2)
	f("corrupted on the wire", Fault{Op: "put", Times: 1, Corrupt: true}, 2)
}

func TestUploaderHaltsOnPermanentErrors(t *testing.T) {
	path := writeFile(t, t.TempDir(), "1.parquet", []byte("data"))
	fs := NewFaultStore(NewMemStore())
	fs.Add(Fault{Op: "put", Err: opError("put", "k", ErrAccessDenied, errors.New("InvalidAccessKeyId"))})
	u := &Uploader{Store: fs, Retry: fastRetry}
	res := u.UploadFile(context.Background(), path, "k")
	if !errors.Is(res.Err, ErrAccessDenied) || res.Attempts != 1 || res.Verified() {
		t.Fatalf("access denied: %+v, want one attempt failing with ErrAccessDenied", res)
	}
	// An outage that outlasts the attempts is reported as unavailable.
	fs.Clear()
	fs.Add(Fault{Op: "stat", Err: Unavailable("stat", "k")})
	res = u.UploadFile(context.Background(), path, "k")
	if !errors.Is(res.Err, ErrUnavailable) || res.Attempts != fastRetry.Attempts {
		t.Fatalf("outage: %+v", res)
	}
	if fs.Calls("put") != 1 {
		t.Fatalf("%d puts, want only the refused one", fs.Calls("put"))
	}
	// Cancelling stops the retries.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = (&Uploader{Store: fs, Retry: RetryPolicy{Attempts: 100, Initial: time.Hour}}).UploadFile(ctx, path, "k")
	if res.Err == nil || res.Attempts != 2 {
		t.Fatalf("cancelled: %+v", res)
	}
}

func TestUploaderResumesWithoutResending(t *testing.T) {
	dir := t.TempDir()
	var ups []Upload
	for i, n := range []int{10, 20_000, 300} {
		name := string(rune('a'+i)) + ".parquet"
		ups = append(ups, Upload{Path: writeFile(t, dir, name, randBytes(uint64(i), n)), Key: "w/" + name})
	}
	mem := NewMemStore()
	fs := NewFaultStore(mem)
	// First pass: the second file's puts all fail.
	fs.Add(Fault{Op: "put", Key: "b.parquet", Err: Unavailable("put", "b")})
	u := &Uploader{Store: fs, Retry: fastRetry}
	res, err := u.Tier(context.Background(), "w/manifest.json", []byte(`{"v":1}`), ups...)
	if !errors.Is(err, ErrUnavailable) || res.Complete() || len(res.Deletable()) != 0 {
		t.Fatalf("first pass: err %v complete %v deletable %v", err, res.Complete(), res.Deletable())
	}
	if !res.Segments[0].Verified() || res.Segments[1].Verified() || !res.Segments[2].Verified() {
		t.Fatalf("first pass results: %+v", res.Segments)
	}
	if _, err := mem.Stat(context.Background(), "w/manifest.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest uploaded although a segment failed: %v", err)
	}
	// Second pass after the outage: only the missing file is sent.
	fs.Clear()
	putsBefore := fs.Calls("put")
	res, err = u.Tier(context.Background(), "w/manifest.json", []byte(`{"v":1}`), ups...)
	if err != nil || !res.Complete() {
		t.Fatalf("second pass: %v", err)
	}
	if got := fs.Calls("put") - putsBefore; got != 2 {
		t.Fatalf("second pass sent %d objects, want 2 (segment b and the manifest)", got)
	}
	if !res.Segments[0].Resumed || res.Segments[1].Resumed || !res.Segments[2].Resumed {
		t.Fatalf("resumed flags: %+v", res.Segments)
	}
	if d := res.Deletable(); len(d) != 3 || d[1] != ups[1].Path {
		t.Fatalf("deletable %v", d)
	}
	for _, up := range ups {
		b, _ := os.ReadFile(up.Path)
		storedEquals(t, mem, up.Key, b)
	}
	storedEquals(t, mem, "w/manifest.json", []byte(`{"v":1}`))
}

func TestPutManifestRefusesUnverifiedSegments(t *testing.T) {
	mem := NewMemStore()
	u := &Uploader{Store: mem, Retry: fastRetry}
	res := u.PutManifest(context.Background(), "m", []byte("{}"), []UploadResult{{Upload: Upload{Key: "s"}, Err: ErrUnavailable}})
	if res.Err == nil || res.Verified() {
		t.Fatal("manifest accepted with an unverified segment")
	}
	if _, err := mem.Stat(context.Background(), "m"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest stored: %v", err)
	}
}

// trackStore reports Puts entering (+1) and leaving (-1).
type trackStore struct {
	ObjectStore
	enter func(int)
}

func (s *trackStore) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	s.enter(1)
	defer s.enter(-1)
	return s.ObjectStore.Put(ctx, key, r, size)
}

func TestUploadSegmentsBoundsConcurrency(t *testing.T) {
	dir := t.TempDir()
	var ups []Upload
	for i := range 12 {
		name := string(rune('a'+i)) + ".parquet"
		ups = append(ups, Upload{Path: writeFile(t, dir, name, randBytes(uint64(i), 1000)), Key: name})
	}
	fs := NewFaultStore(NewMemStore())
	fs.Add(Fault{Op: "put", Delay: 20 * time.Millisecond})
	var mu sync.Mutex
	cur, peak := 0, 0
	tr := &trackStore{ObjectStore: fs, enter: func(d int) {
		mu.Lock()
		cur += d
		peak = max(peak, cur)
		mu.Unlock()
	}}
	u := &Uploader{Store: tr, Concurrency: 3, Retry: fastRetry}
	res, err := u.UploadSegments(context.Background(), ups...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.Verified() {
			t.Fatalf("%+v", r)
		}
	}
	if peak != 3 {
		t.Fatalf("peak concurrent puts %d, want 3", peak)
	}
}

// noChecksumStore is a store that reports no checksums (an S3-compatible
// without additional checksums).
type noChecksumStore struct{ ObjectStore }

func (s noChecksumStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := s.ObjectStore.Stat(ctx, key)
	info.Checksum = ""
	return info, err
}

func TestUploaderRefusesUnverifiableStore(t *testing.T) {
	path := writeFile(t, t.TempDir(), "1.parquet", []byte("data"))
	u := &Uploader{Store: noChecksumStore{NewMemStore()}, Retry: fastRetry}
	res := u.UploadFile(context.Background(), path, "k")
	if res.Verified() || !errors.Is(res.Err, ErrInvalid) || res.Attempts != 1 {
		t.Fatalf("upload to a store without checksums: %+v", res)
	}
}

func TestFSStoreSkipsUncommittedFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFSStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	putBytes(t, s, "a/b.parquet", []byte("x"))
	// What a crash in the middle of a Put leaves behind.
	writeFile(t, filepath.Join(dir, "a"), "c.parquet.123"+fsTempSuffix, []byte("partial"))
	list, err := s.List(context.Background(), "")
	if err != nil || len(list) != 1 || list[0].Key != "a/b.parquet" {
		t.Fatalf("list %v, %v", list, err)
	}
}

func TestUploaderDeleteRetries(t *testing.T) {
	mem := NewMemStore()
	for _, k := range []string{"a", "b", "c"} {
		putBytes(t, mem, k, []byte(k))
	}
	fs := NewFaultStore(mem)
	fs.Add(Fault{Op: "delete", Key: "b", Times: 2, Err: Unavailable("delete", "b")})
	u := &Uploader{Store: fs, Retry: fastRetry}
	if err := u.Delete(context.Background(), "a", "b", "missing"); err != nil {
		t.Fatal(err)
	}
	list, _ := mem.List(context.Background(), "")
	if len(list) != 1 || list[0].Key != "c" {
		t.Fatalf("left %v", list)
	}
	fs.Add(Fault{Op: "delete", Err: Unavailable("delete", "c")})
	if err := u.Delete(context.Background(), "c"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("delete during an outage: %v", err)
	}
	if fs.Calls("delete") != 5+fastRetry.Attempts { // a, b three times, missing; then c
		t.Fatalf("%d delete calls", fs.Calls("delete"))
	}
}
