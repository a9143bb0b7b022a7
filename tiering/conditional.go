package tiering

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/minio/minio-go/v7"
)

// ErrPrecondition: a conditional write found the object not in the state
// it was conditioned on (it exists for a create, or its ETag changed for a
// replace). Another writer got there first; the caller lost the race.
var ErrPrecondition = errors.New("object store precondition failed")

// PutIfAbsent stores data under key only if no object is there
// (If-None-Match: *). It returns the new object's ETag, or ErrPrecondition
// if the key already holds one.
func (s *S3Store) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	return s.putConditional(ctx, "create", key, data, opts)
}

// PutIfMatch replaces the object under key only if its ETag is still etag
// (If-Match), and returns the new ETag; ErrPrecondition if the object
// changed or is gone. This is a compare-and-swap on one object.
func (s *S3Store) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if etag == "" {
		return "", opError("replace", key, ErrInvalid, errors.New("empty ETag"))
	}
	var opts minio.PutObjectOptions
	opts.SetMatchETag(strings.Trim(etag, `"`))
	return s.putConditional(ctx, "replace", key, data, opts)
}

func (s *S3Store) putConditional(ctx context.Context, op, key string, data []byte, opts minio.PutObjectOptions) (string, error) {
	if err := checkKey(key); err != nil {
		return "", opError(op, key, ErrInvalid, err)
	}
	opts.ContentType = "application/json"
	// Small objects go in one PUT: a conditional multipart upload is
	// checked only at completion, and one request is all a record needs.
	opts.DisableMultipart = true
	up, err := s.client.PutObject(ctx, s.bucket, s.object(key), bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		return "", conditionalError(op, key, err)
	}
	return strings.Trim(up.ETag, `"`), nil
}

// GetWithETag reads a whole small object and its ETag in one GET, so the
// ETag names exactly the bytes returned (a Stat then a GET could straddle
// a rewrite).
func (s *S3Store) GetWithETag(ctx context.Context, key string) ([]byte, string, error) {
	if err := checkKey(key); err != nil {
		return nil, "", opError("get", key, ErrInvalid, err)
	}
	body, info, _, err := s.core.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, "", s3Error("get", key, err)
	}
	defer body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&s3Body{ReadCloser: body, key: key}); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), strings.Trim(info.ETag, `"`), nil
}

// ListDir lists one level under prefix (which ends in "/" or is ""): the
// objects directly in it, and the names of its sub-directories ending in
// "/". Keys are relative to the store's prefix. Unlike List it does not
// walk the sub-directories, so listing the nodes of a bucket does not list
// their segments.
func (s *S3Store) ListDir(ctx context.Context, prefix string) (objects []ObjectInfo, dirs []string, err error) {
	for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix}) {
		if oi.Err != nil {
			return nil, nil, s3Error("list", prefix, oi.Err)
		}
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if strings.HasSuffix(key, "/") {
			dirs = append(dirs, key)
			continue
		}
		objects = append(objects, ObjectInfo{Key: key, Size: oi.Size, ETag: strings.Trim(oi.ETag, `"`), Modified: oi.LastModified})
	}
	return objects, dirs, nil
}

// conditionalError classifies a failed conditional put: a refused
// precondition is ErrPrecondition, the rest as any other call.
func conditionalError(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	// S3 answers 412 to a failed If-Match/If-None-Match: *, and 409
	// (ConditionalRequestConflict) when two conditional writes race.
	if resp.Code == minio.PreconditionFailed || resp.StatusCode == 412 ||
		resp.Code == "ConditionalRequestConflict" || resp.StatusCode == 409 {
		return opError(op, key, ErrPrecondition, err)
	}
	return s3Error(op, key, err)
}
