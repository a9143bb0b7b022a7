package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// RetryPolicy is exponential backoff with jitter between attempts.
type RetryPolicy struct {
	// Attempts is how many times one object is tried in one call; 0 means
	// 5. A background tierer calls again later for what is still local, so
	// this bounds one pass, not the outage Silt survives.
	Attempts int
	// Initial is the first wait (0 means 200ms); each next wait doubles, up
	// to Max (0 means 10s).
	Initial, Max time.Duration
}

func (p RetryPolicy) attempts() int {
	if p.Attempts <= 0 {
		return 5
	}
	return p.Attempts
}

// backoff returns the wait before attempt (2, 3, ...): the doubled delay,
// half fixed and half random so many uploaders do not retry in lockstep.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d, maxD := p.Initial, p.Max
	if d <= 0 {
		d = 200 * time.Millisecond
	}
	if maxD <= 0 {
		maxD = 10 * time.Second
	}
	for i := 2; i < attempt && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return d/2 + rand.N(d/2+1)
}

// Retryable reports whether an operation that failed with err may succeed
// if repeated: the store was unavailable, or an upload did not verify.
func Retryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrChecksum)
}

// Upload names a local file and the key it goes to.
type Upload struct {
	Path string
	Key  string
}

// UploadResult is the outcome for one object. Err == nil means the object
// is in the store with the local file's size and checksum (checked by a
// Stat after the Put), so the local copy may go once the manifest that
// references it is verified too.
type UploadResult struct {
	Upload
	Size     int64
	Checksum string // CRC-64/NVME of the local bytes (= the stored ones when verified)
	// Resumed says the object was already there and matched (an earlier,
	// interrupted pass uploaded it): nothing was sent.
	Resumed  bool
	Attempts int
	Err      error
}

// Verified reports whether the object is stored and verified.
func (r UploadResult) Verified() bool { return r.Err == nil && r.Checksum != "" }

// Uploader uploads files to a store and verifies them. Safe for concurrent
// use; its fields must not change after first use.
type Uploader struct {
	Store ObjectStore
	// Concurrency bounds parallel uploads in UploadSegments; 0 means 4
	// (enough to fill a link to S3 without starving queries of the same
	// uplink or the 2-core machine of CPU for checksums).
	Concurrency int
	Retry       RetryPolicy
	// OnRetry, if set, is called before each wait with the failure (for
	// logs and metrics).
	OnRetry func(key string, attempt int, err error)
}

// UploadFile uploads the file at path to key and verifies it, retrying
// ErrUnavailable and ErrChecksum failures with backoff. An object already
// there with the same size and checksum is not sent again, which is how an
// interrupted pass resumes.
func (u *Uploader) UploadFile(ctx context.Context, path, key string) UploadResult {
	res := UploadResult{Upload: Upload{Path: path, Key: key}}
	size, sum, err := ChecksumFile(path)
	if err != nil {
		res.Err = err
		return res
	}
	open := func() (io.Reader, func() error, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("upload %s: %w", path, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("upload %s: %w", path, err)
		}
		if st.Size() != size {
			f.Close()
			return nil, nil, fmt.Errorf("upload %s: %w: file changed since it was checksummed (%d bytes, then %d)", path, ErrInvalid, size, st.Size())
		}
		return io.NewSectionReader(f, 0, size), f.Close, nil
	}
	u.put(ctx, &res, size, sum, open)
	return res
}

// put runs the stat-put-verify loop for one object.
func (u *Uploader) put(ctx context.Context, res *UploadResult, size int64, sum string, open func() (io.Reader, func() error, error)) {
	res.Size, res.Checksum = size, ""
	key := res.Key
	var last error
	for attempt := 1; attempt <= u.Retry.attempts(); attempt++ {
		res.Attempts = attempt
		if attempt > 1 {
			if u.OnRetry != nil {
				u.OnRetry(key, attempt, last)
			}
			t := time.NewTimer(u.Retry.backoff(attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				res.Err = fmt.Errorf("upload %s: %w (last attempt: %w)", key, ctx.Err(), last)
				return
			case <-t.C:
			}
		}
		// Resume: skip what an earlier pass already stored intact.
		st, err := u.Store.Stat(ctx, key)
		switch {
		case err == nil && st.Size == size && st.Checksum == sum:
			res.Checksum, res.Resumed, res.Err = sum, true, nil
			return
		case err != nil && !errors.Is(err, ErrNotFound):
			last = err
			if Retryable(err) {
				continue
			}
			res.Err = err
			return
		}
		r, closeFn, err := open()
		if err != nil {
			res.Err = err
			return
		}
		_, err = u.Store.Put(ctx, key, r, size)
		if cerr := closeFn(); err == nil && cerr != nil {
			err = fmt.Errorf("upload %s: close source: %w", key, cerr)
		}
		if err == nil {
			err = u.verify(ctx, key, size, sum)
		}
		if err == nil {
			res.Checksum, res.Err = sum, nil
			return
		}
		last = err
		if !Retryable(err) {
			res.Err = err
			return
		}
	}
	res.Err = fmt.Errorf("upload %s: gave up after %d attempts: %w", key, res.Attempts, last)
}

// verify checks that the stored object has the size and checksum of what
// was sent.
func (u *Uploader) verify(ctx context.Context, key string, size int64, sum string) error {
	st, err := u.Store.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("verify upload: %w", err)
	}
	if st.Checksum == "" {
		return opError("verify", key, ErrInvalid, errors.New("the store reports no CRC-64/NVME checksum (it needs S3 additional checksums)"))
	}
	if st.Size != size || st.Checksum != sum {
		return opError("verify", key, ErrChecksum, fmt.Errorf("stored %d bytes with checksum %s, sent %d bytes with %s", st.Size, st.Checksum, size, sum))
	}
	return nil
}

// UploadSegments uploads files with at most Concurrency at once and returns
// one result per upload, in order. The error joins the failures (nil when
// every upload verified).
func (u *Uploader) UploadSegments(ctx context.Context, uploads ...Upload) ([]UploadResult, error) {
	n := u.Concurrency
	if n <= 0 {
		n = 4
	}
	out := make([]UploadResult, len(uploads))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, up := range uploads {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = u.UploadFile(ctx, up.Path, up.Key)
		}()
	}
	wg.Wait()
	var errs []error
	for _, r := range out {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return out, errors.Join(errs...)
}

// PutManifest uploads a manifest and verifies it, but only if every
// segment it is published with verified: a manifest in the bucket must
// never name an object that is not there intact. Data first, manifest last.
func (u *Uploader) PutManifest(ctx context.Context, key string, manifest []byte, segments []UploadResult) UploadResult {
	res := UploadResult{Upload: Upload{Key: key}}
	for _, s := range segments {
		if !s.Verified() {
			res.Err = opError("put manifest", key, ErrInvalid, fmt.Errorf("segment %s is not verified in the store: %w", s.Key, errors.Join(s.Err, errors.New("unverified"))))
			return res
		}
	}
	u.put(ctx, &res, int64(len(manifest)), ChecksumBytes(manifest), func() (io.Reader, func() error, error) {
		return bytes.NewReader(manifest), func() error { return nil }, nil
	})
	return res
}

// TierResult is the outcome of Tier.
type TierResult struct {
	Segments []UploadResult
	Manifest UploadResult
}

// Complete reports whether every segment and the manifest verified.
func (r *TierResult) Complete() bool {
	if !r.Manifest.Verified() {
		return false
	}
	for _, s := range r.Segments {
		if !s.Verified() {
			return false
		}
	}
	return true
}

// Deletable returns the local files the caller may now delete: all of the
// segments' paths when the segments and then the manifest verified, else
// none (a partial pass deletes nothing; the next pass resumes it).
func (r *TierResult) Deletable() []string {
	if !r.Complete() {
		return nil
	}
	out := make([]string, 0, len(r.Segments))
	for _, s := range r.Segments {
		out = append(out, s.Path)
	}
	return out
}

// Tier uploads the segments, then — only if all verified — the manifest,
// and reports what may be deleted locally. The error is nil exactly when
// the result is Complete; it wraps ErrUnavailable when the store was down
// (keep everything local and call again later).
func (u *Uploader) Tier(ctx context.Context, manifestKey string, manifest []byte, segments ...Upload) (*TierResult, error) {
	res := &TierResult{}
	var err error
	res.Segments, err = u.UploadSegments(ctx, segments...)
	if err != nil {
		res.Manifest = UploadResult{Upload: Upload{Key: manifestKey}, Err: fmt.Errorf("manifest not uploaded: %w", err)}
		return res, fmt.Errorf("tier to %s: segments: %w", manifestKey, err)
	}
	res.Manifest = u.PutManifest(ctx, manifestKey, manifest, res.Segments)
	if res.Manifest.Err != nil {
		return res, fmt.Errorf("tier to %s: manifest: %w", manifestKey, res.Manifest.Err)
	}
	return res, nil
}

// Delete removes keys from the store, retrying ErrUnavailable like uploads
// (retention, compaction). Callers publish the manifest that no longer
// names the objects before deleting them, so a failure leaves unreferenced
// objects, never a manifest naming missing ones. Missing keys are not an
// error. The error joins the keys that could not be deleted.
func (u *Uploader) Delete(ctx context.Context, keys ...string) error {
	var errs []error
	for _, key := range keys {
		var err error
		for attempt := 1; attempt <= u.Retry.attempts(); attempt++ {
			if attempt > 1 {
				if u.OnRetry != nil {
					u.OnRetry(key, attempt, err)
				}
				t := time.NewTimer(u.Retry.backoff(attempt))
				select {
				case <-ctx.Done():
					t.Stop()
					err = fmt.Errorf("delete %s: %w (last attempt: %w)", key, ctx.Err(), err)
					attempt = u.Retry.attempts() + 1
					continue
				case <-t.C:
				}
			}
			if err = u.Store.Delete(ctx, key); err == nil || !Retryable(err) {
				break
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
