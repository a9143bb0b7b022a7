package tiering

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemStore is an ObjectStore in memory, for unit tests.
type MemStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	version int // bumped per Put, used as the ETag
	etags   map[string]string
	written map[string]time.Time
	// Now is the clock of Modified (time.Now if nil).
	Now func() time.Time
}

var _ ObjectStore = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{objects: map[string][]byte{}, etags: map[string]string{}, written: map[string]time.Time{}}
}

// Put implements ObjectStore.
func (m *MemStore) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, opError("put", key, ErrInvalid, err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, opError("put", key, ErrUnavailable, err)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, size))
	if err != nil {
		return ObjectInfo{}, opError("put", key, ErrUnavailable, fmt.Errorf("read body: %w", err))
	}
	if n != size {
		return ObjectInfo{}, opError("put", key, ErrInvalid, fmt.Errorf("body has %d bytes, want %d", n, size))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version++
	m.objects[key] = buf.Bytes()
	m.etags[key] = strconv.Itoa(m.version)
	if m.Now != nil {
		m.written[key] = m.Now()
	} else {
		m.written[key] = time.Now()
	}
	return m.infoLocked(key), nil
}

func (m *MemStore) infoLocked(key string) ObjectInfo {
	b := m.objects[key]
	return ObjectInfo{Key: key, Size: int64(len(b)), Checksum: ChecksumBytes(b), ETag: m.etags[key], Modified: m.written[key]}
}

// GetRange implements ObjectStore.
func (m *MemStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, opError("get", key, ErrUnavailable, err)
	}
	m.mu.Lock()
	b, ok := m.objects[key]
	m.mu.Unlock()
	if !ok {
		return nil, opError("get", key, ErrNotFound, nil)
	}
	if err := checkRange(key, off, n, int64(len(b))); err != nil {
		return nil, opError("get", key, ErrInvalid, err)
	}
	return io.NopCloser(bytes.NewReader(b[off : off+n])), nil
}

// Stat implements ObjectStore.
func (m *MemStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, opError("stat", key, ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; !ok {
		return ObjectInfo{}, opError("stat", key, ErrNotFound, nil)
	}
	return m.infoLocked(key), nil
}

// List implements ObjectStore.
func (m *MemStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, opError("list", prefix, ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ObjectInfo
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, m.infoLocked(k))
		}
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete implements ObjectStore.
func (m *MemStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return opError("delete", key, ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	delete(m.etags, key)
	delete(m.written, key)
	return nil
}
