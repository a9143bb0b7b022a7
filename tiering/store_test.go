package tiering

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/siltdb/silt/internal/testutil/miniotest"
)

// newMinIOStore starts a real MinIO server and returns a store on a fresh
// bucket in it, with path-style addressing and plain HTTP.
func newMinIOStore(t testing.TB, prefix string) (*S3Store, *miniotest.Server) {
	t.Helper()
	srv := miniotest.Start(t)
	s, err := NewS3Store(S3Options{
		Endpoint: srv.Endpoint, Bucket: "silt-test", Prefix: prefix, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path", MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readAll(t *testing.T, s ObjectStore, key string, off, n int64) []byte {
	t.Helper()
	rc, err := s.GetRange(context.Background(), key, off, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testStoreContract checks the behaviour every ObjectStore shares. The same
// checks run on memory, the filesystem and real MinIO.
func testStoreContract(t *testing.T, s ObjectStore) {
	ctx := context.Background()
	data := randBytes(1, 300_000)
	info, err := s.Put(ctx, "db/cpu/2026-01-01/1.parquet", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := ChecksumBytes(data)
	if info.Size != int64(len(data)) || info.Checksum != want {
		t.Fatalf("put info %+v, want size %d checksum %s", info, len(data), want)
	}
	st, err := s.Stat(ctx, "db/cpu/2026-01-01/1.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(data)) || st.Checksum != want || st.ETag == "" {
		t.Fatalf("stat %+v, want size %d checksum %s and an etag", st, len(data), want)
	}
	for _, r := range [][2]int64{{0, 8}, {1000, 65536}, {int64(len(data)) - 8, 8}, {0, int64(len(data))}, {5, 0}} {
		got := readAll(t, s, "db/cpu/2026-01-01/1.parquet", r[0], r[1])
		if !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Fatalf("range %v: got %d bytes that differ from the object's", r, len(got))
		}
	}
	if _, err := s.GetRange(ctx, "db/cpu/2026-01-01/1.parquet", int64(len(data))-4, 8); !errors.Is(err, ErrInvalid) {
		t.Fatalf("range past the end: %v, want ErrInvalid", err)
	}
	if _, err := s.Stat(ctx, "db/cpu/nope"); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("stat of a missing key: %v, want ErrNotFound only", err)
	}
	if _, err := s.GetRange(ctx, "db/cpu/nope", 0, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := s.Put(ctx, "../escape", bytes.NewReader(nil), 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("put ../escape: %v, want ErrInvalid", err)
	}
	for _, k := range []string{"db/cpu/2026-01-02/2.parquet", "db/mem/2026-01-01/3.parquet", "db/cpu.manifest"} {
		if _, err := s.Put(ctx, k, bytes.NewReader([]byte(k)), int64(len(k))); err != nil {
			t.Fatal(err)
		}
	}
	// Overwrite changes the ETag (caches key on it).
	if _, err := s.Put(ctx, "db/cpu/2026-01-02/2.parquet", bytes.NewReader([]byte("v2")), 2); err != nil {
		t.Fatal(err)
	}
	st2, err := s.Stat(ctx, "db/cpu/2026-01-02/2.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if st2.Size != 2 || st2.Checksum != ChecksumBytes([]byte("v2")) {
		t.Fatalf("overwritten object: %+v", st2)
	}
	list, err := s.List(ctx, "db/cpu/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list {
		keys = append(keys, o.Key)
	}
	wantKeys := []string{"db/cpu/2026-01-01/1.parquet", "db/cpu/2026-01-02/2.parquet"}
	if len(keys) != 2 || keys[0] != wantKeys[0] || keys[1] != wantKeys[1] || list[0].Size != int64(len(data)) {
		t.Fatalf("list db/cpu/: %v, want %v", list, wantKeys)
	}
	if err := s.Delete(ctx, "db/cpu/2026-01-01/1.parquet"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "db/cpu/2026-01-01/1.parquet"); err != nil {
		t.Fatalf("deleting a deleted key: %v", err)
	}
	if _, err := s.Stat(ctx, "db/cpu/2026-01-01/1.parquet"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat after delete: %v", err)
	}
	list, err = s.List(ctx, "db/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("list db/ after delete: %v", list)
	}
}

func TestMemStoreContract(t *testing.T) { testStoreContract(t, NewMemStore()) }

func TestFSStoreContract(t *testing.T) {
	s, err := NewFSStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testStoreContract(t, s)
}

func TestS3StoreContractMinIO(t *testing.T) {
	s, _ := newMinIOStore(t, "tier/silt")
	testStoreContract(t, s)
	// The prefix is really in the bucket: a store without it sees the keys
	// under tier/silt/.
	s.prefix = ""
	list, err := s.List(context.Background(), "tier/silt/db/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("objects under the prefix: %v", list)
	}
}
