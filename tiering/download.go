package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Download copies the object under key to a new file at path and checks
// it against the size and CRC-64/NVME checksum the object had when it was
// uploaded (sum, as UploadResult.Checksum; "" skips the checksum),
// retrying ErrUnavailable and ErrChecksum failures with backoff. On
// failure no file is left at path. Compaction uses it to merge a window
// whose segments are in the store.
func (u *Uploader) Download(ctx context.Context, key, path string, size int64, sum string) error {
	var last error
	for attempt := 1; attempt <= u.Retry.attempts(); attempt++ {
		if attempt > 1 {
			t := time.NewTimer(u.Retry.backoff(attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("download %s: %w (last attempt: %w)", key, ctx.Err(), last)
			case <-t.C:
			}
		}
		err := u.download(ctx, key, path, size, sum)
		if err == nil {
			return nil
		}
		_ = os.Remove(path)
		last = err
		if !Retryable(err) {
			return err
		}
	}
	return fmt.Errorf("download %s: gave up after %d attempts: %w", key, u.Retry.attempts(), last)
}

func (u *Uploader) download(ctx context.Context, key, path string, size int64, sum string) error {
	rc, err := u.Store.GetRange(ctx, key, 0, size)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", key, err)
	}
	h := NewChecksum()
	n, err := io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		return fmt.Errorf("download %s: %w", key, err)
	}
	if n != size {
		return opError("download", key, ErrChecksum, fmt.Errorf("read %d bytes, the segment has %d", n, size))
	}
	if got := EncodeChecksum(h.Sum64()); sum != "" && got != sum {
		return opError("download", key, ErrChecksum, fmt.Errorf("read checksum %s, uploaded with %s", got, sum))
	}
	return nil
}
