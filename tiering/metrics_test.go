package tiering

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsStoreCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewStoreMetrics(reg)
	fs := NewFaultStore(NewMemStore())
	s := &MetricsStore{Inner: fs, M: m}
	ctx := context.Background()
	putBytes(t, s, "a", []byte("hello world"))
	rc, err := s.GetRange(ctx, "a", 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	fs.Add(Fault{Op: "list", Times: 1, Err: Unavailable("list", "")})
	if _, err := s.List(ctx, ""); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
	f := func(c prometheus.Collector, labels []string, want float64) {
		t.Helper()
		var got float64
		switch v := c.(type) {
		case *prometheus.CounterVec:
			got = testutil.ToFloat64(v.WithLabelValues(labels...))
		}
		if got != want {
			t.Fatalf("%v = %v, want %v", labels, got, want)
		}
	}
	f(m.Ops, []string{"put"}, 1)
	f(m.Ops, []string{"get"}, 1)
	f(m.Ops, []string{"stat"}, 1)
	f(m.Bytes, []string{"put"}, 11)
	f(m.Bytes, []string{"get"}, 5)
	f(m.Errors, []string{"stat", "not_found"}, 1)
	f(m.Errors, []string{"list", "unavailable"}, 1)
	if n := testutil.CollectAndCount(m.Latency); n != 4 {
		t.Fatalf("latency series %d, want 4 (put, get, stat, list)", n)
	}
}

func TestConfigFlags(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	err := fs.Parse(strings.Fields("--s3.endpoint 127.0.0.1:9000 --s3.bucket b --s3.prefix p/q --s3.insecure --s3.addressing path --cache.dir /tmp/c --cache.max-bytes 2GiB --cache.block-bytes 256KiB"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.S3.Endpoint != "127.0.0.1:9000" || cfg.S3.Bucket != "b" || cfg.S3.Prefix != "p/q" || !cfg.S3.Insecure ||
		cfg.S3.Addressing != "path" || cfg.CacheDir != "/tmp/c" || cfg.CacheMaxBytes != 2<<30 || cfg.CacheBlockBytes != 256<<10 {
		t.Fatalf("parsed %+v", cfg)
	}
	if err := fs.Parse([]string{"--cache.max-bytes", "lots"}); err == nil {
		t.Fatal("bad size accepted")
	}
	cfg.CacheDir = t.TempDir()
	cfg.S3.AccessKey, cfg.S3.SecretKey = "k", "s"
	reg := prometheus.NewRegistry()
	tier, err := Open(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	if tier.Cache == nil || tier.Cache.BlockSize() != 256<<10 || tier.Uploader.Concurrency != 4 {
		t.Fatalf("tier %+v", tier)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}
