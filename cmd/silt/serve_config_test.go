package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
)

// parseServe parses args as silt serve does and validates them.
func parseServe(t *testing.T, args ...string) (*serveConfig, error) {
	t.Helper()
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.registerFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return &cfg, cfg.validate()
}

// The packages' flags land in their Configs with the documented defaults,
// and a mistake is reported with the flags to change.
func TestServeConfig(t *testing.T) {
	cfg, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	e, s := cfg.engine, cfg.server
	if e.DataDir != "silt-data" || e.MaxHeadBytes != 1<<30 || e.FlushBytes != 256<<20 || e.NoSync || e.Retention != 0 ||
		e.Rollups.Disabled || !slices.Equal(e.Rollups.Widths, engine.DefaultRollups) || e.Compaction.MemoryBytes != 256<<20 || e.Tiering.After != 24*time.Hour ||
		s.Addr != "127.0.0.1:8086" || s.MaxBodyBytes != 64<<20 || s.QueryMaxRows != 1_000_000 ||
		cfg.kafka.Enabled() || cfg.nats.Enabled() || cfg.tiering.Enabled() {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = parseServe(t, "--ack", "none", "--retention", "30d", "--rollups", "off", "--max-head-bytes", "2MiB",
		"--kafka.brokers", "k:9092", "--kafka.topics", "t", "--kafka.db", "d", "--data-dir", "/d")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.engine.NoSync || cfg.engine.Retention != 30*24*time.Hour || !cfg.engine.Rollups.Disabled || cfg.engine.MaxHeadBytes != 2<<20 ||
		cfg.kafka.DeadLetter != "file:/d/kafka-dead-letter.ndjson" {
		t.Fatalf("parsed: %+v", cfg)
	}
	bad := func(want []string, args ...string) {
		t.Helper()
		_, err := parseServe(t, args...)
		if err == nil {
			t.Fatalf("%q accepted", args)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not say %q", args, err, w)
			}
		}
	}
	bad([]string{"--memory-limit", "--max-head-bytes"}, "--max-head-bytes", "256MiB", "--memory-limit", "300MiB")
	bad([]string{"--max-head-bytes", "max head bytes must be > 0"}, "--max-head-bytes", "0")
	bad([]string{"--kafka.topics", "no topics"}, "--kafka.brokers", "k:9092")
	bad([]string{"--nats.stream", "no stream"}, "--nats.url", "nats://n:4222")
	bad([]string{"--s3.read-only"}, "--s3.read-only")
	bad([]string{"--log-level"}, "--log-level", "loud")
	bad([]string{"--s3.*", "bucket"}, "--s3.endpoint", "s3:9000")
	bad([]string{"--iceberg.min-snapshots-to-keep"}, "--s3.endpoint", "s3:9000", "--s3.bucket", "b", "--s3.access-key", "k", "--s3.secret-key", "s", "--iceberg.publish",
		"--iceberg.min-snapshots-to-keep", "0")
	bad([]string{"delete grace must not be negative"}, "--tier.delete-grace", "-1s")
}

// A config file that sets a secret must be private to its owner; one that
// names a secrets file need not be. Errors never show the secret.
func TestServeConfigFileWithSecrets(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		yaml string
		mode os.FileMode
		want string // "" for accepted
	}{
		{"auth-token: graf:Cf-Secret-Kq:read\n", 0o644, "chmod 600"},
		{"s3.secret-key: Cf-Secret-Kq\n", 0o640, "too open"},
		{"nats.token: Cf-Secret-Kq\n", 0o604, "--nats.token-file"},
		{"auth-token: graf:Cf-Secret-Kq:read\n", 0o600, ""},
		{"auth-tokens-file: /etc/silt/tokens\nhttp-addr: 127.0.0.1:9\n", 0o644, ""},
	} {
		path := filepath.Join(dir, "silt.yaml")
		if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		var cfg serveConfig
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.registerFlags(fs)
		err := applyConfigFile(fs, path)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q mode %04o: %v", c.yaml, c.mode, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "Kq")):
			t.Errorf("%q mode %04o: %v, want an error with %q and no secret", c.yaml, c.mode, err, c.want)
		}
	}
}
