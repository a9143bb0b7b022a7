package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Fault is what a FaultStore does to a matching call.
type Fault struct {
	Op    string // "put", "get", "stat", "list", "delete"; "" matches any
	Key   string // key (or list prefix) must contain this; "" matches any
	Times int    // how many calls it hits; 0 means every call
	Err   error  // returned instead of calling the store (nil: call it)
	Delay time.Duration
	// Partial > 0 cuts the body short: a put sends only Partial bytes to
	// the store before failing with ErrUnavailable; a get returns Partial
	// bytes and then ErrUnavailable.
	Partial int64
	// Corrupt flips a bit in the first byte a get returns or a put sends
	// (silent damage on the wire or in the store).
	Corrupt bool
}

// FaultStore wraps an ObjectStore and injects faults, for tests of error
// paths. Faults are checked in the order added; the first that matches and
// has hits left applies.
type FaultStore struct {
	Inner ObjectStore

	mu     sync.Mutex
	faults []*Fault
	calls  map[string]int
}

var _ ObjectStore = (*FaultStore)(nil)

// NewFaultStore wraps inner.
func NewFaultStore(inner ObjectStore) *FaultStore {
	return &FaultStore{Inner: inner, calls: map[string]int{}}
}

// Add adds a fault.
func (s *FaultStore) Add(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Clear removes every fault.
func (s *FaultStore) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns how many calls of op were made (faulted or not).
func (s *FaultStore) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// ErrInjected is the cause of injected failures; they are also classified
// as ErrUnavailable unless the Fault's Err says otherwise.
var ErrInjected = errors.New("injected fault")

func (s *FaultStore) match(op, key string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	for _, f := range s.faults {
		if (f.Op == "" || f.Op == op) && strings.Contains(key, f.Key) && f.Times >= 0 {
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					f.Times = -1 // spent
				}
			}
			c := *f
			return &c
		}
	}
	return nil
}

func (f *Fault) apply(ctx context.Context) error {
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.Err
}

// Put implements ObjectStore.
func (s *FaultStore) Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error) {
	f := s.match("put", key)
	if f != nil {
		if err := f.apply(ctx); err != nil {
			return ObjectInfo{}, err
		}
		if f.Corrupt {
			r = &corruptBody{ReadCloser: io.NopCloser(r)}
		}
		if f.Partial > 0 {
			// The store sees a body that breaks off, as when the connection
			// drops mid-upload.
			r = io.MultiReader(io.LimitReader(r, f.Partial), errReader{opError("put", key, ErrUnavailable, ErrInjected)})
		}
	}
	return s.Inner.Put(ctx, key, r, size)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// GetRange implements ObjectStore.
func (s *FaultStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	f := s.match("get", key)
	if f != nil {
		if err := f.apply(ctx); err != nil {
			return nil, err
		}
	}
	rc, err := s.Inner.GetRange(ctx, key, off, n)
	if err != nil || f == nil {
		return rc, err
	}
	if f.Partial > 0 {
		return struct {
			io.Reader
			io.Closer
		}{io.MultiReader(io.LimitReader(rc, f.Partial), errReader{opError("read", key, ErrUnavailable, ErrInjected)}), rc}, nil
	}
	if f.Corrupt {
		return &corruptBody{ReadCloser: rc}, nil
	}
	return rc, nil
}

type corruptBody struct {
	io.ReadCloser
	done bool
}

func (c *corruptBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 && !c.done {
		p[0] ^= 1
		c.done = true
	}
	return n, err
}

// Stat implements ObjectStore.
func (s *FaultStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if f := s.match("stat", key); f != nil {
		if err := f.apply(ctx); err != nil {
			return ObjectInfo{}, err
		}
	}
	return s.Inner.Stat(ctx, key)
}

// List implements ObjectStore.
func (s *FaultStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if f := s.match("list", prefix); f != nil {
		if err := f.apply(ctx); err != nil {
			return nil, err
		}
	}
	return s.Inner.List(ctx, prefix)
}

// Delete implements ObjectStore.
func (s *FaultStore) Delete(ctx context.Context, key string) error {
	if f := s.match("delete", key); f != nil {
		if err := f.apply(ctx); err != nil {
			return err
		}
	}
	return s.Inner.Delete(ctx, key)
}

// Unavailable returns an injected ErrUnavailable error for op on key, as a
// store would report an outage.
func Unavailable(op, key string) error {
	return opError(op, key, ErrUnavailable, fmt.Errorf("%w: connection refused", ErrInjected))
}
