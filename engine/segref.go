package engine

import (
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
	}
}

func newSegRefs(dataDir string) *segRefs {
	r := &segRefs{dataDir: dataDir}
	r.mu.n = map[uint64]int{}
	r.mu.retired = map[uint64]string{}
	return r
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
