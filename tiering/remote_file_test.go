package tiering

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func putBytes(t testing.TB, s ObjectStore, key string, data []byte) ObjectInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestRemoteFileReadsMatch compares random reads through RemoteFile with
// the object's bytes, concurrently, without a cache, with a roomy cache and
// with one so small it evicts all the time.
func TestRemoteFileReadsMatch(t *testing.T) {
	data := randBytes(3, 1_000_003)
	mem := NewMemStore()
	putBytes(t, mem, "obj", data)
	f := func(name string, cache *BlockCache) {
		t.Helper()
		rf, err := OpenRemote(context.Background(), mem, "obj", RemoteOptions{Cache: cache, TailBytes: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		if rf.Size() != int64(len(data)) {
			t.Fatalf("%s: size %d", name, rf.Size())
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), 9))
				for range 300 {
					off := r.Int64N(int64(len(data)))
					n := r.IntN(70_000)
					p := make([]byte, n)
					got, err := rf.ReadAt(p, off)
					wantN := min(n, len(data)-int(off))
					if got != wantN || (err != nil && !(err == io.EOF && wantN < n)) || (err == nil && wantN < n) {
						errs <- errors.New(name + ": wrong count or error")
						return
					}
					if !bytes.Equal(p[:got], data[off:off+int64(got)]) {
						errs <- errors.New(name + ": bytes differ")
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, err := rf.ReadAt(make([]byte, 1), int64(len(data))); err != io.EOF {
			t.Fatalf("%s: read at the end: %v", name, err)
		}
		// Read + Seek as a sequential reader.
		if _, err := rf.Seek(-100, io.SeekEnd); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rf)
		if err != nil || !bytes.Equal(b, data[len(data)-100:]) {
			t.Fatalf("%s: read after seek: %v", name, err)
		}
	}
	f("no cache", nil)
	big, err := OpenBlockCache(t.TempDir(), 10<<20, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	f("roomy cache", big)
	small, err := OpenBlockCache(t.TempDir(), 3*(64<<10+4), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	f("tiny cache", small)
	if st := small.Stats(); st.Evictions == 0 || st.Bytes > 3*(64<<10+4) || st.Blocks > 3 {
		t.Fatalf("tiny cache stats %+v: want evictions and at most 3 blocks", st)
	}
	if st := big.Stats(); st.Evictions != 0 || st.Hits == 0 {
		t.Fatalf("roomy cache stats %+v", st)
	}
}

// TestBlockCacheLRU checks which blocks an eviction picks, by counting the
// GETs a re-read needs.
func TestBlockCacheLRU(t *testing.T) {
	const bs = 1000
	data := randBytes(4, 10*bs)
	fs := NewFaultStore(NewMemStore())
	putBytes(t, fs.Inner, "obj", data)
	dir := t.TempDir()
	cache, err := OpenBlockCache(dir, 3*(bs+blockHdrBytes), bs) // three blocks
	if err != nil {
		t.Fatal(err)
	}
	rf, err := OpenRemote(context.Background(), fs, "obj", RemoteOptions{Cache: cache, TailBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	read := func(block int64) (gets int) {
		t.Helper()
		before := fs.Calls("get")
		p := make([]byte, 10)
		if _, err := rf.ReadAt(p, block*bs+5); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, data[block*bs+5:block*bs+15]) {
			t.Fatalf("block %d: wrong bytes", block)
		}
		return fs.Calls("get") - before
	}
	for _, step := range []struct {
		block int64
		gets  int
	}{
		{0, 1}, {1, 1}, {2, 1}, // fill
		{0, 0},         // hit: 0 becomes most recent, 1 is now the oldest
		{3, 1},         // evicts 1
		{2, 0}, {0, 0}, // still there
		{1, 1}, // was evicted; evicts 3
		{3, 1},
	} {
		if got := read(step.block); got != step.gets {
			t.Fatalf("read of block %d made %d GETs, want %d", step.block, got, step.gets)
		}
	}
	st := cache.Stats()
	if st.Blocks != 3 || st.Bytes != 3*(bs+blockHdrBytes) || st.Evictions != 3 {
		t.Fatalf("stats %+v", st)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+blockSuffix))
	if len(files) != 3 {
		t.Fatalf("%d block files on disk, want 3", len(files))
	}

	// Damage a cached block: the read notices, refetches and is right.
	for _, f := range files {
		b, _ := os.ReadFile(f)
		b[len(b)-1] ^= 0xff
		os.WriteFile(f, b, 0o644)
	}
	if got := read(3); got != 1 {
		t.Fatalf("read of a damaged block made %d GETs, want 1", got)
	}
	if cache.Stats().Corrupt != 1 {
		t.Fatalf("corrupt count %d", cache.Stats().Corrupt)
	}

	// Reopening keeps what fits (the two most recent blocks under a
	// smaller bound) and hits without GETs.
	cache2, err := OpenBlockCache(dir, 2*(bs+blockHdrBytes), bs)
	if err != nil {
		t.Fatal(err)
	}
	if st := cache2.Stats(); st.Blocks != 2 {
		t.Fatalf("reopened cache: %+v", st)
	}
	files, _ = filepath.Glob(filepath.Join(dir, "*"+blockSuffix))
	if len(files) != 2 {
		t.Fatalf("%d block files after reopening with a smaller bound", len(files))
	}
}

func TestFooterCacheSavesGETs(t *testing.T) {
	data := append(randBytes(5, 5000), []byte("....PAR1")...)
	// Footer length 3000 > TailBytes: OpenRemote fetches the rest.
	data[len(data)-8], data[len(data)-7], data[len(data)-6], data[len(data)-5] = 0xb8, 0x0b, 0, 0
	fs := NewFaultStore(NewMemStore())
	putBytes(t, fs.Inner, "seg", data)
	footers := NewFooterCache(1 << 20)
	rf, err := OpenRemote(context.Background(), fs, "seg", RemoteOptions{Footers: footers, TailBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Calls("get") != 2 {
		t.Fatalf("first open: %d GETs, want 2 (tail, rest of the footer)", fs.Calls("get"))
	}
	p := make([]byte, 3008)
	if _, err := rf.ReadAt(p, int64(len(data)-3008)); err != nil || !bytes.Equal(p, data[len(data)-3008:]) {
		t.Fatalf("footer read: %v", err)
	}
	if fs.Calls("get") != 2 {
		t.Fatal("footer read went to the store")
	}
	if _, err := OpenRemote(context.Background(), fs, "seg", RemoteOptions{Footers: footers, TailBytes: 100}); err != nil {
		t.Fatal(err)
	}
	if fs.Calls("get") != 2 {
		t.Fatalf("second open made GETs")
	}
	// A rewritten object is a new version: not served from the old footer.
	putBytes(t, fs.Inner, "seg", data[:100])
	rf, err = OpenRemote(context.Background(), fs, "seg", RemoteOptions{Footers: footers, TailBytes: 100})
	if err != nil || rf.Size() != 100 || fs.Calls("get") != 3 {
		t.Fatalf("rewritten object: %v size %d gets %d", err, rf.Size(), fs.Calls("get"))
	}
}

func TestRemoteFileErrorsAreTyped(t *testing.T) {
	fs := NewFaultStore(NewMemStore())
	putBytes(t, fs.Inner, "obj", randBytes(6, 50_000))
	if _, err := OpenRemote(context.Background(), fs, "missing", RemoteOptions{}); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("open of a missing object: %v", err)
	}
	cache, err := OpenBlockCache(t.TempDir(), 1<<20, 4096)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := OpenRemote(context.Background(), fs, "obj", RemoteOptions{Cache: cache, TailBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	fs.Add(Fault{Op: "get", Times: 1, Err: Unavailable("get", "obj")})
	if _, err := rf.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("read during an outage: %v", err)
	}
	fs.Add(Fault{Op: "get", Times: 1, Partial: 10})
	if _, err := rf.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read cut short: %v", err)
	}
	// Nothing half-read was cached: the next read is whole and right.
	p := make([]byte, 10)
	if _, err := rf.ReadAt(p, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, randBytes(6, 50_000)[:10]) {
		t.Fatal("wrong bytes after a failed read")
	}
}

// TestConcurrentReadersShareFetches: readers of the same cold blocks at the
// same time wait for one GET instead of each making their own.
func TestConcurrentReadersShareFetches(t *testing.T) {
	data := randBytes(8, 200_000)
	fs := NewFaultStore(NewMemStore())
	putBytes(t, fs.Inner, "obj", data)
	cache, err := OpenBlockCache(t.TempDir(), 1<<20, 50_000)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := OpenRemote(context.Background(), fs, "obj", RemoteOptions{Cache: cache, TailBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	fs.Add(Fault{Op: "get", Delay: 50 * time.Millisecond})
	before := fs.Calls("get")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 120_000)
			off := int64(g % 2 * 10) // blocks 0..2 for everyone
			if _, err := rf.ReadAt(p, off); err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(p, data[off:off+120_000]) {
				t.Error("bytes differ")
			}
		}()
	}
	wg.Wait()
	if got := fs.Calls("get") - before; got != 1 {
		t.Fatalf("8 concurrent readers made %d GETs, want 1", got)
	}
	// A failed fetch fails its waiters too, and a later read retries.
	fs.Clear()
	fs.Add(Fault{Op: "get", Times: 1, Delay: 50 * time.Millisecond, Err: Unavailable("get", "obj")})
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := rf.ReadAt(make([]byte, 10), 150_000)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("waiter got %v", err)
		}
	}
	p := make([]byte, 10)
	if _, err := rf.ReadAt(p, 150_000); err != nil || !bytes.Equal(p, data[150_000:150_010]) {
		t.Fatalf("read after the failed fetch: %v", err)
	}
}
