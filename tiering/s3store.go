package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configure an S3Store. The flag names in the comments are the
// ones docs/tiering.md documents for the server.
type S3Options struct {
	Endpoint string // --s3.endpoint: host:port, no scheme
	Bucket   string // --s3.bucket
	// Prefix (--s3.prefix) is prepended to every key with a "/"; the store
	// never sees objects outside it.
	Prefix string
	// Region (--s3.region) defaults to us-east-1, which also spares a
	// GetBucketLocation round trip per bucket.
	Region string
	// Insecure (--s3.insecure) talks plain HTTP instead of HTTPS.
	Insecure bool
	// AccessKey and SecretKey (--s3.access-key, --s3.secret-key); when both
	// are empty the environment's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
	// (and AWS_SESSION_TOKEN) are used.
	AccessKey, SecretKey string
	// Addressing is "path" (bucket in the path: MinIO, most
	// S3-compatibles), "virtual" (bucket in the host name: AWS S3) or ""
	// for auto (virtual for AWS endpoints, path otherwise).
	Addressing string
	// MaxRetries bounds minio-go's own retries of one request; 0 means 2.
	// Callers that retry themselves (Uploader) keep it low so an outage is
	// reported quickly as ErrUnavailable.
	MaxRetries int
	// Transport, if set, replaces the HTTP transport (tests, custom CAs).
	Transport http.RoundTripper
}

// S3Store is an ObjectStore on an S3-compatible bucket, via minio-go.
//
// Puts send a CRC-64/NVME checksum that the server checks and stores as a
// full-object checksum (also for multipart uploads), and Stat returns it, so
// a verified upload compares the bytes the server holds, not a metadata
// echo. This needs a store that supports S3 additional checksums with
// CRC-64/NVME (AWS S3, MinIO since 2024).
type S3Store struct {
	client *minio.Client
	core   minio.Core
	bucket string
	prefix string // "" or ending in "/"
}

var _ ObjectStore = (*S3Store)(nil)

// NewS3Store builds a client for o. It does not contact the endpoint: the
// first call that does reports ErrUnavailable if it is down.
func NewS3Store(o S3Options) (*S3Store, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	access, secret, token := o.credentials()
	lookup := minio.BucketLookupAuto
	switch o.Addressing {
	case "path":
		lookup = minio.BucketLookupPath
	case "virtual":
		lookup = minio.BucketLookupDNS
	}
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	retries := o.MaxRetries
	if retries <= 0 {
		retries = 2
	}
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:           credentials.NewStaticV4(access, secret, token),
		Secure:          !o.Insecure,
		Region:          region,
		BucketLookup:    lookup,
		Transport:       o.Transport,
		MaxRetries:      retries,
		TrailingHeaders: true, // needed to send CRC-64/NVME checksums
	})
	if err != nil {
		return nil, fmt.Errorf("%w: S3 client for %s: %w", ErrInvalid, o.Endpoint, err)
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return nil, fmt.Errorf("s3 prefix: %w", err)
		}
		prefix += "/"
	}
	return &S3Store{client: c, core: minio.Core{Client: c}, bucket: o.Bucket, prefix: prefix}, nil
}

// credentials returns the keys of o, or the AWS_* environment's when o
// names neither.
func (o *S3Options) credentials() (access, secret, token string) {
	access, secret = o.AccessKey, o.SecretKey
	if access == "" && secret == "" {
		access, secret, token = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	}
	return access, secret, token
}

// validate checks what NewS3Store needs, without a network call.
func (o *S3Options) validate() error {
	if o.Endpoint == "" || strings.Contains(o.Endpoint, "://") {
		return fmt.Errorf("%w: s3 endpoint must be host:port without a scheme, got %q", ErrInvalid, o.Endpoint)
	}
	if o.Bucket == "" {
		return fmt.Errorf("%w: s3 bucket is empty", ErrInvalid)
	}
	if access, secret, _ := o.credentials(); access == "" || secret == "" {
		return fmt.Errorf("%w: no S3 credentials: set the access and secret keys or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", ErrInvalid)
	}
	switch o.Addressing {
	case "", "auto", "path", "virtual":
	default:
		return fmt.Errorf("%w: s3 addressing must be path, virtual or auto, got %q", ErrInvalid, o.Addressing)
	}
	if p := strings.Trim(o.Prefix, "/"); p != "" {
		if err := checkKey(p); err != nil {
			return fmt.Errorf("%w: s3 prefix: %w", ErrInvalid, err)
		}
	}
	return nil
}

// Client returns the minio-go client (bucket administration in tools and
// tests).
func (s *S3Store) Client() *minio.Client { return s.client }

// Bucket returns the bucket name.
func (s *S3Store) Bucket() string { return s.bucket }

// EnsureBucket creates the bucket if it does not exist (make dev, tests).
func (s *S3Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s3Error("bucket exists", s.bucket, err)
	}
	if ok {
		return nil
	}
	if err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}); err != nil {
		return s3Error("make bucket", s.bucket, err)
	}
	return nil
}

// s3Error classifies a minio-go error. S3 error codes decide when the
// server answered; otherwise a transport failure is ErrUnavailable.
func s3Error(op, key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return opError(op, key, ErrUnavailable, err)
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchUpload":
		return opError(op, key, ErrNotFound, err)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AllAccessDisabled":
		return opError(op, key, ErrAccessDenied, err)
	case "InvalidRange", "InvalidArgument", "InvalidBucketName", "InvalidObjectName", "EntityTooLarge", "KeyTooLongError":
		return opError(op, key, ErrInvalid, err)
	case "BadDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "InvalidDigest":
		return opError(op, key, ErrChecksum, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return opError(op, key, ErrNotFound, err)
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return opError(op, key, ErrAccessDenied, err)
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return opError(op, key, ErrUnavailable, err)
	case resp.StatusCode >= 400:
		return opError(op, key, ErrInvalid, err)
	}
	// No S3 answer: refused, reset, DNS, TLS, a body cut short. These are
	// the outage cases, and anything unrecognised counts as one too, so that
	// data stays local rather than being given up on.
	return opError(op, key, ErrUnavailable, err)
}

func (s *S3Store) object(key string) string { return s.prefix + key }

// Put implements ObjectStore.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, opError("put", key, ErrInvalid, err)
	}
	up, err := s.client.PutObject(ctx, s.bucket, s.object(key), r, size, minio.PutObjectOptions{
		Checksum:    minio.ChecksumCRC64NVME,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return ObjectInfo{}, s3Error("put", key, err)
	}
	if up.Size != size {
		return ObjectInfo{}, opError("put", key, ErrInvalid, fmt.Errorf("stored %d bytes, want %d", up.Size, size))
	}
	return ObjectInfo{Key: key, Size: up.Size, Checksum: up.ChecksumCRC64NVME, ETag: up.ETag}, nil
}

// GetRange implements ObjectStore.
func (s *S3Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, opError("get", key, ErrInvalid, err)
	}
	if off < 0 || n < 0 {
		return nil, opError("get", key, ErrInvalid, fmt.Errorf("range [%d,+%d)", off, n))
	}
	if n == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, opError("get", key, ErrInvalid, err)
	}
	body, info, _, err := s.core.GetObject(ctx, s.bucket, s.object(key), opts)
	if err != nil {
		return nil, s3Error("get", key, err)
	}
	// A range past the end is clipped by S3, not refused: check the length
	// so a short object is not read as a full one.
	if info.Size != n {
		body.Close()
		return nil, opError("get", key, ErrInvalid, fmt.Errorf("range [%d,+%d) returned %d bytes", off, n, info.Size))
	}
	return &s3Body{ReadCloser: body, key: key}, nil
}

// s3Body classifies errors of the body: a connection dropped mid-read is
// ErrUnavailable like any other outage.
type s3Body struct {
	io.ReadCloser
	key string
}

func (b *s3Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = s3Error("read", b.key, err)
	}
	return n, err
}

// Stat implements ObjectStore.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, opError("stat", key, ErrInvalid, err)
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return ObjectInfo{}, s3Error("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: oi.Size, Checksum: oi.ChecksumCRC64NVME, ETag: oi.ETag}, nil
}

// List implements ObjectStore.
func (s *S3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, s3Error("list", prefix, oi.Err)
		}
		out = append(out, ObjectInfo{Key: strings.TrimPrefix(oi.Key, s.prefix), Size: oi.Size, ETag: oi.ETag, Modified: oi.LastModified})
	}
	return out, nil
}

// Delete implements ObjectStore.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return opError("delete", key, ErrInvalid, err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{}); err != nil {
		return s3Error("delete", key, err)
	}
	return nil
}
