package cluster

// Membership against a real MinIO (internal/testutil/miniotest: skips
// without the binary, fails under CI=true): the conditional writes the
// lease is built on, a second holder refused, a stalled holder fenced.

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/tiering"
)

func minioStore(t *testing.T, srv *miniotest.Server, prefix string) *tiering.S3Store {
	t.Helper()
	s, err := tiering.NewS3Store(tiering.S3Options{Endpoint: srv.Endpoint, Bucket: "silt", Prefix: prefix, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConditionalWritesMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	s := minioStore(t, srv, "root")
	ctx := context.Background()
	tag1, err := s.PutIfAbsent(ctx, "k.json", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIfAbsent(ctx, "k.json", []byte("two")); !errors.Is(err, tiering.ErrPrecondition) {
		t.Fatalf("second create: %v, want ErrPrecondition", err)
	}
	tag2, err := s.PutIfMatch(ctx, "k.json", []byte("three"), tag1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIfMatch(ctx, "k.json", []byte("four"), tag1); !errors.Is(err, tiering.ErrPrecondition) {
		t.Fatalf("replace with a stale ETag: %v, want ErrPrecondition", err)
	}
	raw, tag, err := s.GetWithETag(ctx, "k.json")
	if err != nil || string(raw) != "three" || tag != tag2 {
		t.Fatalf("read back %q etag %q (%v), want three with %q", raw, tag, err, tag2)
	}
	if _, err := s.PutIfMatch(ctx, "missing.json", []byte("x"), tag2); !errors.Is(err, tiering.ErrPrecondition) && !errors.Is(err, tiering.ErrNotFound) {
		t.Fatalf("replace of a missing key: %v", err)
	}
	objs, dirs, err := s.ListDir(ctx, "")
	if err != nil || len(objs) != 1 || objs[0].Key != "k.json" || len(dirs) != 0 {
		t.Fatalf("ListDir: %v %v %v", objs, dirs, err)
	}
}

func TestLeaseSecondHolderRefusedMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	s := minioStore(t, srv, "root")
	ctx := context.Background()
	// A lease of 3s: the holder renews every second, so the claimant,
	// watching for 3s, sees a renewal even on a loaded machine.
	cfg := LeaseConfig{NodeID: "w1", Role: RoleWriter, Address: "127.0.0.1:1", TTL: 3 * time.Second}
	a, err := Acquire(ctx, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	if err := a.Guard(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Address = "127.0.0.1:2"
	_, err = Acquire(ctx, s, cfg)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second process with the same id: %v, want ErrInUse", err)
	}
	if err := a.Guard(ctx); err != nil {
		t.Fatalf("the holder lost its lease to a refused claimant: %v", err)
	}
	members, err := Members(ctx, s)
	if err != nil || len(members) != 1 || members[0].Address != "127.0.0.1:1" || !members[0].Live(time.Now()) {
		t.Fatalf("members %+v (%v): want the first holder, live", members, err)
	}
}

func TestLeaseStalledHolderFencedMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	s := minioStore(t, srv, "root")
	ctx := context.Background()
	cfg := LeaseConfig{NodeID: "w1", Role: RoleWriter, TTL: time.Second}
	a, err := Acquire(ctx, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The holder stalls (a long GC pause, a frozen VM): no renewals.
	close(a.stop)
	<-a.done
	b, err := Acquire(ctx, s, cfg)
	if err != nil {
		t.Fatalf("take over from a holder that stopped renewing: %v", err)
	}
	defer b.Release(ctx)
	// The stalled holder's lease lapsed before b could take over, so its
	// writes were already refused; when it wakes, its renewal finds b's
	// record and it is fenced for good.
	if err := a.Guard(ctx); !errors.Is(err, ErrLeaseLapsed) {
		t.Fatalf("stalled holder's guard: %v, want ErrLeaseLapsed", err)
	}
	if err := a.renew(); !errors.Is(err, ErrFenced) {
		t.Fatalf("stalled holder's renewal: %v, want ErrFenced", err)
	}
	select {
	case <-a.Fenced():
	default:
		t.Fatal("Fenced not closed")
	}
	if err := a.Guard(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("fenced holder's guard: %v, want ErrFenced", err)
	}
	if err := b.Guard(ctx); err != nil {
		t.Fatalf("new holder: %v", err)
	}
	raw, _, err := s.GetWithETag(ctx, RecordKey("w1"))
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil || r.Instance != b.rec.Instance {
		t.Fatalf("record %+v (%v): want the new holder's", r, err)
	}
}

func TestLeaseReleaseFreesIDMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	s := minioStore(t, srv, "root")
	ctx := context.Background()
	// A long lease: a successor that had to wait it out would hit the
	// context's deadline; a released id is taken without waiting.
	cfg := LeaseConfig{NodeID: "w1", Role: RoleWriter, TTL: time.Hour}
	a, err := Acquire(ctx, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Guard(ctx); err == nil {
		t.Fatal("a released lease still guards writes")
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := Acquire(cctx, s, cfg)
	if err != nil {
		t.Fatalf("acquire a released id: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
