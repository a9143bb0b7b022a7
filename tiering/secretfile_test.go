package tiering

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --s3.secret-key-file gives the secret key from a file private to its
// owner; an open file, or both the flag and the file, is refused without
// the key in the error.
func TestSecretKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s3-secret")
	if err := os.WriteFile(path, []byte("Key-From-File-88\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.S3.Endpoint, c.S3.Bucket, c.S3.AccessKey, c.SecretKeyFile = "127.0.0.1:9000", "b", "ak", path
	if err := c.LoadSecrets(); err != nil {
		t.Fatal(err)
	}
	if c.S3.SecretKey != "Key-From-File-88" {
		t.Fatalf("secret key %q", c.S3.SecretKey)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate with the key from the file: %v", err)
	}
	if err := c.LoadSecrets(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "both") {
		t.Fatalf("flag and file both set: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c.S3.SecretKey = ""
	err := c.LoadSecrets()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "Key-From-File") || c.S3.SecretKey != "" {
		t.Fatalf("open file: %v (key %q)", err, c.S3.SecretKey)
	}
}
