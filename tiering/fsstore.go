package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// fsTempSuffix marks files an FSStore Put has not committed yet; List skips
// them and a crash leaves nothing else behind.
const fsTempSuffix = ".silt-tmp"

// FSStore is an ObjectStore in a local directory: a key is a file path under
// Root. Put writes a temporary file, fsyncs it, renames it into place and
// fsyncs the directory, so an object is either whole or absent after a
// crash. Useful as a second tier on another disk (NFS, a mounted bucket).
type FSStore struct {
	Root string
}

var _ ObjectStore = (*FSStore)(nil)

// NewFSStore returns a store rooted at dir, creating it.
func NewFSStore(dir string) (*FSStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create object store directory %s: %w", dir, err)
	}
	return &FSStore{Root: dir}, nil
}

// fsError classifies a local I/O error: a missing file is ErrNotFound, a
// refused one ErrAccessDenied, anything else (EIO, ENOSPC) ErrUnavailable.
func fsError(op, key string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return opError(op, key, ErrNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return opError(op, key, ErrAccessDenied, err)
	}
	return opError(op, key, ErrUnavailable, err)
}

func (s *FSStore) path(key string) string { return filepath.Join(s.Root, filepath.FromSlash(key)) }

// Put implements ObjectStore.
func (s *FSStore) Put(ctx context.Context, key string, r io.Reader, size int64) (info ObjectInfo, err error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, opError("put", key, ErrInvalid, err)
	}
	if strings.HasSuffix(key, fsTempSuffix) {
		return ObjectInfo{}, opError("put", key, ErrInvalid, fmt.Errorf("keys may not end in %s", fsTempSuffix))
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, opError("put", key, ErrUnavailable, err)
	}
	dst := s.path(key)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ObjectInfo{}, fsError("put", key, err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(dst)+".*"+fsTempSuffix)
	if err != nil {
		return ObjectInfo{}, fsError("put", key, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := NewChecksum()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size))
	if err != nil {
		return ObjectInfo{}, opError("put", key, ErrUnavailable, fmt.Errorf("copy body: %w", err))
	}
	if n != size {
		return ObjectInfo{}, opError("put", key, ErrInvalid, fmt.Errorf("body has %d bytes, want %d", n, size))
	}
	if err = f.Sync(); err != nil {
		return ObjectInfo{}, fsError("put", key, err)
	}
	if err = f.Close(); err != nil {
		return ObjectInfo{}, fsError("put", key, err)
	}
	if err = os.Rename(tmp, dst); err != nil {
		return ObjectInfo{}, fsError("put", key, err)
	}
	if err = syncDir(dir); err != nil {
		return ObjectInfo{}, fsError("put", key, err)
	}
	st, err := os.Stat(dst)
	if err != nil {
		return ObjectInfo{}, fsError("put", key, err)
	}
	return ObjectInfo{Key: key, Size: n, Checksum: EncodeChecksum(h.Sum64()), ETag: fsETag(st)}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// fsETag changes when a file is replaced (rename gives a new inode and,
// normally, a new mtime).
func fsETag(st os.FileInfo) string {
	return strconv.FormatInt(st.ModTime().UnixNano(), 36) + "-" + strconv.FormatInt(st.Size(), 36)
}

type fileRange struct {
	io.Reader
	f *os.File
}

func (r fileRange) Close() error { return r.f.Close() }

// GetRange implements ObjectStore.
func (s *FSStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, opError("get", key, ErrInvalid, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, opError("get", key, ErrUnavailable, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, fsError("get", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fsError("get", key, err)
	}
	if err := checkRange(key, off, n, st.Size()); err != nil {
		f.Close()
		return nil, opError("get", key, ErrInvalid, err)
	}
	return fileRange{io.NewSectionReader(f, off, n), f}, nil
}

// Stat implements ObjectStore. It reads the whole file to compute the
// checksum: local reads are cheap next to an upload it verifies.
func (s *FSStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, opError("stat", key, ErrInvalid, err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, opError("stat", key, ErrUnavailable, err)
	}
	p := s.path(key)
	st, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, fsError("stat", key, err)
	}
	if st.IsDir() {
		return ObjectInfo{}, opError("stat", key, ErrNotFound, errors.New("is a directory"))
	}
	size, sum, err := ChecksumFile(p)
	if err != nil {
		return ObjectInfo{}, fsError("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: size, Checksum: sum, ETag: fsETag(st)}, nil
}

// List implements ObjectStore (without checksums).
func (s *FSStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, opError("list", prefix, ErrUnavailable, err)
	}
	var out []ObjectInfo
	err := filepath.WalkDir(s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, fsTempSuffix) {
			return nil
		}
		rel, err := filepath.Rel(s.Root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: st.Size(), ETag: fsETag(st), Modified: st.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fsError("list", prefix, err)
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete implements ObjectStore.
func (s *FSStore) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return opError("delete", key, ErrInvalid, err)
	}
	if err := ctx.Err(); err != nil {
		return opError("delete", key, ErrUnavailable, err)
	}
	p := s.path(key)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fsError("delete", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fsError("delete", key, err)
	}
	return nil
}
