package tiering

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/minio/crc64nvme"
)

// Sentinel errors. Every error an ObjectStore returns for a failed call wraps
// exactly one of them (plus the cause), so callers sort failures with
// errors.Is into "retry later" (ErrUnavailable) and "halt" (the others).
var (
	// ErrNotFound: the key (or the bucket) does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrUnavailable: the store could not be reached, timed out or
	// answered with a server error. Retrying later may succeed.
	ErrUnavailable = errors.New("object store unavailable")
	// ErrAccessDenied: the store refused the credentials or the request.
	ErrAccessDenied = errors.New("object store access denied")
	// ErrChecksum: data read back does not match the checksum it was
	// written with (an upload that did not verify, or a damaged cache block).
	ErrChecksum = errors.New("checksum mismatch")
	// ErrInvalid: the call itself is wrong (bad key, bad range, bad options).
	ErrInvalid = errors.New("invalid object store request")
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key  string // relative to the store's prefix
	Size int64
	// Checksum is the CRC-64/NVME of the whole object, base64 of the
	// big-endian 8 bytes — the form S3 uses for x-amz-checksum-crc64nvme —
	// or "" when the store does not report one (S3 List does not).
	Checksum string
	// ETag is the store's version tag: it changes when the object is
	// rewritten, so caches key on it.
	ETag string
	// Modified is when the object was last written, by the store's clock,
	// as List reports it (zero where a store or call does not): sweeps of
	// unreferenced objects spare the young ones, which a writer may be
	// about to reference.
	Modified time.Time
}

// ObjectStore is the object storage tiering needs. Keys are slash-separated
// paths relative to the store's root or prefix; they never start with "/"
// and never contain "." or ".." elements.
//
// All methods are safe for concurrent use. Errors wrap one of the sentinel
// errors above.
type ObjectStore interface {
	// Put stores exactly size bytes read from r under key, replacing any
	// object there. The object is visible only once complete: a failed Put
	// leaves the previous object (or none). The returned info's Checksum is
	// the store's own when it reports one.
	Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error)
	// GetRange returns n bytes of key starting at off; off+n must not pass
	// the end of the object. The caller closes the reader; reading it may
	// still fail with ErrUnavailable (the connection can drop mid-body).
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	// Stat returns the object's size, checksum and ETag.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns the objects whose key starts with prefix, sorted by key.
	// Checksum may be empty in listed infos.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes key. Deleting a missing key is not an error (S3
	// semantics), so a retried delete is harmless.
	Delete(ctx context.Context, key string) error
}

// opError builds the error a store returns: what was attempted, the class
// sentinel and the cause, all reachable with errors.Is / errors.As.
func opError(op, key string, class, cause error) error {
	if cause == nil || errors.Is(cause, class) {
		if cause == nil {
			cause = class
		}
		return fmt.Errorf("%s %q: %w", op, key, cause)
	}
	return fmt.Errorf("%s %q: %w: %w", op, key, class, cause)
}

// checkKey rejects keys that would escape a prefix or a directory.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w: key %q must be a non-empty relative path", ErrInvalid, key)
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("%w: key %q has an empty, \".\" or \"..\" element", ErrInvalid, key)
		}
	}
	return nil
}

func checkRange(key string, off, n, size int64) error {
	if off < 0 || n < 0 || off+n > size {
		return fmt.Errorf("%w: range [%d,+%d) of %q outside its %d bytes", ErrInvalid, off, n, key, size)
	}
	return nil
}

// NewChecksum returns the hash Checksum values are made with (CRC-64/NVME:
// S3 stores it as a full-object checksum even for multipart uploads, so one
// value verifies any upload; it is also what MinIO computes natively).
func NewChecksum() hash.Hash64 { return crc64nvme.New() }

// EncodeChecksum formats a CRC-64/NVME value as ObjectInfo.Checksum.
func EncodeChecksum(sum uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], sum)
	return base64.StdEncoding.EncodeToString(b[:])
}

// ChecksumBytes returns the Checksum of p.
func ChecksumBytes(p []byte) string {
	h := NewChecksum()
	h.Write(p)
	return EncodeChecksum(h.Sum64())
}

// ChecksumFile returns the size and Checksum of the file at path.
func ChecksumFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("checksum %s: %w", path, err)
	}
	defer f.Close()
	h := NewChecksum()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return n, EncodeChecksum(h.Sum64()), nil
}
