package tiering

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/miniotest"
)

// TestS3CredentialsFromEnv: with no keys in the options, the AWS_* variables
// are used; wrong ones are ErrAccessDenied, not an outage.
func TestS3CredentialsFromEnv(t *testing.T) {
	srv := miniotest.Start(t)
	opts := S3Options{Endpoint: srv.Endpoint, Bucket: "envbucket", Insecure: true, Addressing: "path", MaxRetries: 1}
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	s, err := NewS3Store(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	putBytes(t, s, "a/b", []byte("hello"))
	if got := readAll(t, s, "a/b", 1, 3); string(got) != "ell" {
		t.Fatalf("got %q", got)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	bad, err := NewS3Store(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Stat(ctx, "a/b"); !errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("stat with a wrong secret: %v, want ErrAccessDenied", err)
	}
	if _, err := bad.Put(ctx, "a/c", strings.NewReader("x"), 1); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("put with a wrong secret: %v, want ErrAccessDenied", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if _, err := NewS3Store(opts); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("no credentials: %v", err)
	}
	// A missing bucket is "not found", not an outage.
	nb, _ := NewS3Store(S3Options{Endpoint: srv.Endpoint, Bucket: "no-such-bucket", Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path"})
	if _, err := nb.Stat(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat in a missing bucket: %v", err)
	}
}

// TestS3VirtualHostAddressing puts the bucket in the host name, as AWS S3
// wants. MinIO serves that with MINIO_DOMAIN set; every host name is dialled
// at the loopback server.
func TestS3VirtualHostAddressing(t *testing.T) {
	srv := miniotest.StartEnv(t, "MINIO_DOMAIN=s3.silt.test")
	_, port, _ := net.SplitHostPort(srv.Endpoint)
	var hosts atomic.Value
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		hosts.Store(addr)
		return (&net.Dialer{}).DialContext(ctx, network, srv.Endpoint)
	}
	s, err := NewS3Store(S3Options{Endpoint: "s3.silt.test:" + port, Bucket: "vhost", Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "virtual", Transport: tr, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	testStoreContract(t, s)
	if got := hosts.Load(); got != "vhost.s3.silt.test:"+port {
		t.Fatalf("requests went to %v, want the bucket's virtual host", got)
	}
}

// killingReader kills MinIO once after `after` bytes of the body were read:
// an outage in the middle of an upload.
type killingReader struct {
	r     io.Reader
	after int64
	n     int64
	kill  func()
	done  bool
}

func (k *killingReader) Read(p []byte) (int, error) {
	if !k.done && k.n >= k.after {
		k.done = true
		k.kill()
	}
	n, err := k.r.Read(p)
	k.n += int64(n)
	return n, err
}

type killingStore struct {
	ObjectStore
	after int64
	kill  func()
	armed atomic.Bool
}

func (s *killingStore) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	if size > s.after && s.armed.CompareAndSwap(true, false) {
		r = &killingReader{r: r, after: s.after, kill: s.kill}
	}
	return s.ObjectStore.Put(ctx, key, r, size)
}

// TestUploadSurvivesMinIOOutage kills MinIO in the middle of a multipart
// segment upload: the pass fails with ErrUnavailable, publishes no manifest
// and leaves no partial object; after a restart the next pass completes and
// the stored bytes are the file's. Then an upload started while MinIO is
// down succeeds by retrying once it comes back.
func TestUploadSurvivesMinIOOutage(t *testing.T) {
	s3, srv := newMinIOStore(t, "silt")
	dir := t.TempDir()
	big := randBytes(11, 40<<20) // > 16 MiB: minio-go uploads it in parts
	path := writeFile(t, dir, "big.parquet", big)
	small := writeFile(t, dir, "small.parquet", []byte("small segment"))
	ks := &killingStore{ObjectStore: s3, after: 20 << 20, kill: srv.Kill}
	ks.armed.Store(true)
	var retryErrs []error
	u := &Uploader{Store: ks, Concurrency: 1, Retry: RetryPolicy{Attempts: 3, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		OnRetry: func(_ string, _ int, err error) { retryErrs = append(retryErrs, err) }}
	ctx := context.Background()
	ups := []Upload{{Path: small, Key: "db/cpu/w/1.parquet"}, {Path: path, Key: "db/cpu/w/2.parquet"}}
	res, err := u.Tier(ctx, "db/manifest.json", []byte(`{"segments":2}`), ups...)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("tier during an outage: %v, want ErrUnavailable", err)
	}
	if res.Complete() || len(res.Deletable()) != 0 || res.Segments[1].Verified() {
		t.Fatalf("outage pass reported %+v as done", res)
	}
	if len(retryErrs) != 2 {
		t.Fatalf("%d retries, want 2", len(retryErrs))
	}
	for _, e := range retryErrs {
		if !errors.Is(e, ErrUnavailable) {
			t.Fatalf("retried after %v, want ErrUnavailable", e)
		}
	}
	t.Logf("put cut by the kill: %v", retryErrs[0])
	t.Logf("outage pass: %v", res.Segments[1].Err)
	// Reads fail typed too while it is down.
	if _, err := s3.Stat(ctx, "db/cpu/w/1.parquet"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stat while down: %v", err)
	}
	if _, err := OpenRemote(ctx, s3, "db/cpu/w/1.parquet", RemoteOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("open while down: %v", err)
	}

	srv.Restart()
	if _, err := s3.Stat(ctx, "db/manifest.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest after the failed pass: %v, want none", err)
	}
	if _, err := s3.Stat(ctx, "db/cpu/w/2.parquet"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("interrupted object visible: %v", err)
	}
	res, err = u.Tier(ctx, "db/manifest.json", []byte(`{"segments":2}`), ups...)
	if err != nil || !res.Complete() {
		t.Fatalf("pass after restart: %v", err)
	}
	if !res.Segments[0].Resumed || res.Segments[1].Resumed {
		t.Fatalf("resume flags %+v", res.Segments)
	}
	st, err := s3.Stat(ctx, "db/cpu/w/2.parquet")
	if err != nil || st.Size != int64(len(big)) || st.Checksum != ChecksumBytes(big) {
		t.Fatalf("stored object %+v, %v", st, err)
	}
	if got := readAll(t, s3, "db/cpu/w/2.parquet", 20<<20, 1<<20); !bytes.Equal(got, big[20<<20:21<<20]) {
		t.Fatal("stored bytes differ from the file's")
	}

	// Down before the upload starts, back while it retries.
	srv.Stop()
	third := writeFile(t, dir, "third.parquet", randBytes(12, 1<<20))
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		restarted <- srv.RestartErr()
	}()
	var retries atomic.Int32
	u2 := &Uploader{Store: s3, Retry: RetryPolicy{Attempts: 40, Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond},
		OnRetry: func(_ string, _ int, err error) {
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("retry after %v, want ErrUnavailable", err)
			}
			retries.Add(1)
		}}
	r := u2.UploadFile(ctx, third, "db/cpu/w/3.parquet")
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if !r.Verified() || retries.Load() == 0 {
		t.Fatalf("upload across a restart: %+v after %d retries", r, retries.Load())
	}
	t.Logf("upload across a restart verified after %d attempts", r.Attempts)
	b, _ := os.ReadFile(third)
	storedEquals(t, s3, "db/cpu/w/3.parquet", b)
}

// TestBlockCacheBoundMinIO reads a cold object through a cache much
// smaller than the object: every read is right, the cache never holds more
// than its bound on disk, and re-reading a recent range costs no GET.
func TestBlockCacheBoundMinIO(t *testing.T) {
	s3, _ := newMinIOStore(t, "")
	data := randBytes(13, 4<<20)
	putBytes(t, s3, "obj", data)
	const bs, maxBytes = 64 << 10, 8 * (64<<10 + blockHdrBytes)
	cdir := t.TempDir()
	cache, err := OpenBlockCache(cdir, maxBytes, bs)
	if err != nil {
		t.Fatal(err)
	}
	fs := NewFaultStore(s3)
	rf, err := OpenRemote(context.Background(), fs, "obj", RemoteOptions{Cache: cache, TailBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	diskBytes := func() int64 {
		des, _ := os.ReadDir(cdir)
		var n int64
		for _, de := range des {
			if st, err := de.Info(); err == nil {
				n += st.Size()
			}
		}
		return n
	}
	p := make([]byte, 100_000)
	for off := int64(0); off+int64(len(p)) < int64(len(data)); off += 90_000 {
		if _, err := rf.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, data[off:off+int64(len(p))]) {
			t.Fatalf("read at %d differs", off)
		}
		if n := diskBytes(); n > maxBytes {
			t.Fatalf("cache holds %d bytes on disk, bound %d", n, maxBytes)
		}
	}
	st := cache.Stats()
	if st.Evictions == 0 || st.Bytes > maxBytes {
		t.Fatalf("stats %+v", st)
	}
	before := fs.Calls("get")
	off := int64(len(data)) - 1024 - 200_000 // the last blocks read, short of the tail
	if _, err := rf.ReadAt(p, off); err != nil || !bytes.Equal(p, data[off:off+int64(len(p))]) {
		t.Fatal(err)
	}
	if fs.Calls("get") != before {
		t.Fatal("recently read range was fetched again")
	}
	t.Logf("cache %+v", st)
}

// TestGetCutByOutage: MinIO dies while a ranged GET's body is being read;
// the read fails with ErrUnavailable, not with short data.
func TestGetCutByOutage(t *testing.T) {
	s3, srv := newMinIOStore(t, "")
	data := randBytes(14, 64<<20)
	putBytes(t, s3, "big", data)
	rf, err := OpenRemote(context.Background(), s3, "big", RemoteOptions{TailBytes: 8})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s3.GetRange(context.Background(), "big", 0, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("body read after the kill: %d more bytes, error %v; want ErrUnavailable", n, err)
	}
	if _, err := rf.ReadAt(make([]byte, 100), 1000); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ReadAt while down: %v", err)
	}
}
