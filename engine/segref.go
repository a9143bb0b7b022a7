package engine

import (
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/siltdb/silt/columnar"
)

// segRefs counts the running scans that read each segment, so that a
// segment compaction or retention replaced is deleted only when the last
// scan holding it closes (Prometheus tsdb's block pendingReaders, per file).
// A scan acquires its segments in the same critical section of Engine.mu in
// which it reads the manifest; the manifest swap happens under Engine.mu
// too, and retire runs after it, so a scan that saw a segment always holds
// it before it can be retired.
type segRefs struct {
	dataDir string
	mu      struct {
		sync.Mutex
		n       map[uint64]int
		retired map[uint64]string // id → path relative to dataDir, delete at zero
		// open keeps segments open between scans: the footer and tag
		// index are parsed once, not per query. Closed when retired and
		// unread, or at Close.
		open map[uint64]*columnar.Segment
	}
}

func newSegRefs(dataDir string) *segRefs {
	r := &segRefs{dataDir: dataDir}
	r.mu.n = map[uint64]int{}
	r.mu.retired = map[uint64]string{}
	r.mu.open = map[uint64]*columnar.Segment{}
	return r
}

// segment returns m's open segment, opening it on first use. The caller
// must hold a reference (acquire) so that it is not closed meanwhile, and
// must not close it.
func (r *segRefs) segment(m columnar.SegmentMeta) (*columnar.Segment, error) {
	r.mu.Lock()
	s := r.mu.open[m.ID]
	r.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := columnar.OpenSegment(filepath.Join(r.dataDir, filepath.FromSlash(m.Path)))
	if err != nil {
		return nil, err // not kept: the next scan tries again
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if other := r.mu.open[m.ID]; other != nil { // opened concurrently
		_ = s.Close()
		return other, nil
	}
	// Even if retired meanwhile, the caller's reference keeps the file;
	// release closes the handle with the last reference.
	r.mu.open[m.ID] = s
	return s, nil
}

// closeAll closes every open segment (the engine is closing).
func (r *segRefs) closeAll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	for id, s := range r.mu.open {
		err = errors.Join(err, s.Close())
		delete(r.mu.open, id)
	}
	return err
}

// closeLocked closes the open handle of segment id, if any.
func (r *segRefs) closeLocked(id uint64) {
	if s := r.mu.open[id]; s != nil {
		_ = s.Close()
		delete(r.mu.open, id)
	}
}

// acquire adds a reference to each segment.
func (r *segRefs) acquire(metas []columnar.SegmentMeta) {
	r.mu.Lock()
	for _, m := range metas {
		r.mu.n[m.ID]++
	}
	r.mu.Unlock()
}

// release drops a reference to each segment and deletes retired segments
// that nothing reads any more.
func (r *segRefs) release(metas []columnar.SegmentMeta) {
	var del []string
	r.mu.Lock()
	for _, m := range metas {
		r.mu.n[m.ID]--
		if r.mu.n[m.ID] > 0 {
			continue
		}
		delete(r.mu.n, m.ID)
		if p, ok := r.mu.retired[m.ID]; ok {
			delete(r.mu.retired, m.ID)
			r.closeLocked(m.ID)
			del = append(del, p)
		}
	}
	r.mu.Unlock()
	r.remove(del)
}

// retire marks segments no longer named by the manifest: each is deleted now
// if no scan reads it, else when the last one releases it. A crash before
// the deletion leaves orphans that recovery removes.
func (r *segRefs) retire(metas []columnar.SegmentMeta) {
	var del []string
	r.mu.Lock()
	for _, m := range metas {
		if r.mu.n[m.ID] > 0 {
			r.mu.retired[m.ID] = m.Path
			continue
		}
		r.closeLocked(m.ID)
		del = append(del, m.Path)
	}
	r.mu.Unlock()
	r.remove(del)
}

// pending returns how many retired segments wait for readers.
func (r *segRefs) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.retired)
}

func (r *segRefs) remove(paths []string) {
	for _, p := range paths {
		// An error leaves an orphan: not named by the manifest, so invisible,
		// and removed at the next start.
		_ = os.Remove(filepath.Join(r.dataDir, filepath.FromSlash(p)))
	}
}
