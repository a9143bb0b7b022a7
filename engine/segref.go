package engine

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/siltdb/silt/segment"
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
	// openCold opens a segment held in the object store (tier.go); nil
	// without tiering.
	openCold func(segment.SegmentMeta) (*segment.Segment, error)
	// maxOpen bounds the open segments that no scan holds: past it, the
	// least recently released are closed (reopened by the next scan that
	// reads them). Without it the handles, their parsed footers and file
	// descriptors would grow with every live segment a query ever read.
	maxOpen int
	// maxOpenFooter bounds, like maxOpen, the open segments no scan
	// holds, by the size of their footers (FooterBytes): a segment of a
	// wide table holds a footer of megabytes where a narrow one holds a
	// few KiB, so a count alone does not bound their memory.
	maxOpenFooter int64
	// forget drops what is cached about segments that leave the
	// manifest (retired, or replaced by their cold copies), so that
	// caches keyed by segment do not grow with every segment ever
	// written; nil: nothing to drop.
	forget func([]segment.SegmentMeta)
	// cache holds decoded pages of the segments opened here (nil: none).
	cache *segment.PageCache
	mu    struct {
		sync.Mutex
		n       map[uint64]int
		retired map[uint64]string // id → path relative to dataDir, delete at zero
		// open keeps segments open between scans: the footer and tag
		// index are parsed once, not per query. Closed when retired and
		// unread, or at Close.
		open map[uint64]*segment.Segment
		// footer is the sum of the open segments' FooterBytes.
		footer int64
		// idle lists the open segments no scan holds, most recently
		// released first (values uint64 ids); idleAt finds an id's element.
		idle   *list.List
		idleAt map[uint64]*list.Element
		// cold holds the cold metas of segments tiered after a scan took
		// its snapshot, so that scan opens them from the store too.
		cold map[uint64]segment.SegmentMeta
		// demoted are the local copies of tiered segments: open handles
		// and the file, closed and deleted once no scan holds the id.
		demoted map[uint64]demotedCopy
	}
}

type demotedCopy struct {
	path string
	segs []*segment.Segment
}

// DefaultMaxOpenSegments is Config.MaxOpenSegments when unset: a segment
// handle costs a file descriptor and its parsed footer and tag index
// (about 15 KiB for a narrow table, more for wide ones).
const DefaultMaxOpenSegments = 4096

// maxOpenFooterBytes bounds the footers of the open segments no scan
// holds, as stored (about twice that in memory once parsed): 4096 narrow
// segments' footers come to a few MiB, a ~950-column table's to 2 MB each
// (measured on the HTTP fuzzer's tables: 176 segments, 14.9 MB of
// footers, ~35 MB parsed).
const maxOpenFooterBytes = 16 << 20

func newSegRefs(dataDir string, maxOpen int) *segRefs {
	r := &segRefs{dataDir: dataDir, maxOpen: maxOpen, maxOpenFooter: maxOpenFooterBytes}
	r.mu.idle = list.New()
	r.mu.idleAt = map[uint64]*list.Element{}
	r.mu.n = map[uint64]int{}
	r.mu.retired = map[uint64]string{}
	r.mu.open = map[uint64]*segment.Segment{}
	r.mu.cold = map[uint64]segment.SegmentMeta{}
	r.mu.demoted = map[uint64]demotedCopy{}
	return r
}

// segment returns m's open segment, opening it on first use. The caller
// must hold a reference (acquire) so that it is not closed meanwhile, and
// must not close it.
func (r *segRefs) segment(m segment.SegmentMeta) (*segment.Segment, error) {
	r.mu.Lock()
	if c, ok := r.mu.cold[m.ID]; ok {
		m = c // tiered since the caller's snapshot
	}
	s := r.mu.open[m.ID]
	r.mu.Unlock()
	if s != nil {
		return s, nil
	}
	var err error
	if m.Cold() {
		if r.openCold == nil {
			return nil, fmt.Errorf("segment %s is in the object store, and tiering is not configured (--s3.endpoint)", m.Path)
		}
		s, err = r.openCold(m)
	} else {
		s, err = segment.OpenSegment(filepath.Join(r.dataDir, filepath.FromSlash(m.Path)))
	}
	if err != nil {
		return nil, err // not kept: the next scan tries again
	}
	s.SetPageCache(r.cache)
	r.mu.Lock()
	defer r.mu.Unlock()
	if other := r.mu.open[m.ID]; other != nil { // opened concurrently
		_ = s.Close()
		return other, nil
	}
	if _, tiered := r.mu.cold[m.ID]; tiered && !m.Cold() {
		// Tiered while the local file was being opened: hand it out,
		// but close it with the local copy, not keep it.
		d := r.mu.demoted[m.ID]
		d.segs = append(d.segs, s)
		r.mu.demoted[m.ID] = d
		return s, nil
	}
	// Even if retired meanwhile, the caller's reference keeps the file;
	// release closes the handle with the last reference.
	r.mu.open[m.ID] = s
	r.mu.footer += s.FooterBytes()
	r.evictLocked()
	return s, nil
}

// evictLocked closes the least recently released idle segments while more
// than maxOpen are open, or their footers pass maxOpenFooter. Segments a
// scan holds are never closed, so the open set exceeds the bounds only by
// what running scans read.
func (r *segRefs) evictLocked() {
	for (len(r.mu.open) > r.maxOpen || (r.maxOpenFooter > 0 && r.mu.footer > r.maxOpenFooter)) && r.mu.idle.Len() > 0 {
		r.closeLocked(r.mu.idle.Back().Value.(uint64))
	}
}

// busyLocked takes id off the idle list (a scan holds it again).
func (r *segRefs) busyLocked(id uint64) {
	if el, ok := r.mu.idleAt[id]; ok {
		r.mu.idle.Remove(el)
		delete(r.mu.idleAt, id)
	}
}

// openCount returns how many segment handles are open (tests).
func (r *segRefs) openCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.open)
}

// demote switches segments that were just tiered (locals, now colds in the
// manifest) to their cold copies: later opens read the object store, and
// the local handle and file go once no scan holds the id (at once if none
// does). Scans running meanwhile keep reading the local file.
func (r *segRefs) demote(locals, colds []segment.SegmentMeta) {
	if r.forget != nil {
		r.forget(locals)
	}
	var del []string
	r.mu.Lock()
	for i, m := range locals {
		r.mu.cold[m.ID] = colds[i]
		d := r.mu.demoted[m.ID]
		d.path = m.Path
		if s := r.mu.open[m.ID]; s != nil {
			d.segs = append(d.segs, s)
			delete(r.mu.open, m.ID)
			r.mu.footer -= s.FooterBytes()
			r.busyLocked(m.ID)
		}
		r.mu.demoted[m.ID] = d
		if r.mu.n[m.ID] == 0 {
			del = append(del, r.dropDemotedLocked(m.ID)...)
		}
	}
	r.mu.Unlock()
	r.remove(del)
}

// dropDemotedLocked closes the local handles of tiered segment id and
// returns its local file to delete.
func (r *segRefs) dropDemotedLocked(id uint64) []string {
	d, ok := r.mu.demoted[id]
	if !ok {
		return nil
	}
	delete(r.mu.demoted, id)
	for _, s := range d.segs {
		_ = s.Close()
	}
	if d.path == "" {
		return nil
	}
	return []string{d.path}
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
	r.mu.footer = 0
	r.mu.idle.Init()
	clear(r.mu.idleAt)
	for id, d := range r.mu.demoted {
		for _, s := range d.segs {
			err = errors.Join(err, s.Close())
		}
		delete(r.mu.demoted, id)
	}
	return err
}

// closeLocked closes the open handle of segment id, if any.
func (r *segRefs) closeLocked(id uint64) {
	if s := r.mu.open[id]; s != nil {
		_ = s.Close()
		delete(r.mu.open, id)
		r.mu.footer -= s.FooterBytes()
	}
	r.busyLocked(id)
}

// acquire adds a reference to each segment.
func (r *segRefs) acquire(metas []segment.SegmentMeta) {
	r.mu.Lock()
	for _, m := range metas {
		r.mu.n[m.ID]++
		r.busyLocked(m.ID)
	}
	r.mu.Unlock()
}

// release drops a reference to each segment and deletes retired segments
// that nothing reads any more.
func (r *segRefs) release(metas []segment.SegmentMeta) {
	var del []string
	r.mu.Lock()
	for _, m := range metas {
		r.mu.n[m.ID]--
		if r.mu.n[m.ID] > 0 {
			continue
		}
		delete(r.mu.n, m.ID)
		del = append(del, r.dropDemotedLocked(m.ID)...)
		if p, ok := r.mu.retired[m.ID]; ok {
			delete(r.mu.retired, m.ID)
			delete(r.mu.cold, m.ID)
			r.closeLocked(m.ID)
			del = append(del, p)
		} else if _, open := r.mu.open[m.ID]; open && r.mu.idleAt[m.ID] == nil {
			r.mu.idleAt[m.ID] = r.mu.idle.PushFront(m.ID)
		}
	}
	r.evictLocked()
	r.mu.Unlock()
	r.remove(del)
}

// retire marks segments no longer named by the manifest: each is deleted now
// if no scan reads it, else when the last one releases it. A crash before
// the deletion leaves orphans that recovery removes.
func (r *segRefs) retire(metas []segment.SegmentMeta) {
	if r.forget != nil {
		r.forget(metas)
	}
	var del []string
	r.mu.Lock()
	for _, m := range metas {
		if r.mu.n[m.ID] > 0 {
			if m.Cold() {
				r.mu.retired[m.ID] = "" // nothing local to delete
			} else {
				r.mu.retired[m.ID] = m.Path
			}
			continue
		}
		r.closeLocked(m.ID)
		del = append(del, r.dropDemotedLocked(m.ID)...)
		delete(r.mu.cold, m.ID)
		if !m.Cold() {
			del = append(del, m.Path)
		}
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
		if p == "" {
			continue
		}
		// An error leaves an orphan: not named by the manifest, so invisible,
		// and removed at the next start.
		_ = os.Remove(filepath.Join(r.dataDir, filepath.FromSlash(p)))
	}
}
