package tiering

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultBlockSize is the unit the disk cache stores and fetches. 1 MiB:
// large enough that per-request latency and price of S3 GETs stay small
// next to transfer time, small enough that reading one column chunk of a
// row group does not drag in much of its neighbours.
const DefaultBlockSize = 1 << 20

const (
	blockSuffix   = ".blk"
	blockTmpExt   = ".tmp"
	blockHdrBytes = 4 // CRC-32C of the data, big-endian
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CacheStats counts cache activity since open.
type CacheStats struct {
	Hits, Misses, Evictions, Corrupt int64
	Bytes                            int64 // bytes held now (files' sizes)
	Blocks                           int
}

// BlockCache is a size-bounded least-recently-used cache of object blocks
// on local disk (--cache.dir, --cache.max-bytes). It is a cache: losing it
// loses nothing, so files are written without fsync, and every block
// carries a CRC-32C checked on each read — a block torn by a crash or
// damaged on disk is a miss, never wrong data. The bound counts file bytes
// (header included), not file-system blocks. Safe for concurrent use.
type BlockCache struct {
	dir       string
	maxBytes  int64
	blockSize int64

	mu struct {
		sync.Mutex
		lru     *list.List // front: most recently used; values *cacheEntry
		entries map[string]*list.Element
		size    int64
		flights map[string]*flight // blocks being fetched
	}
	hits, misses, evictions, corrupt atomic.Int64
	tmpSeq                           atomic.Int64
}

type cacheEntry struct {
	name string
	size int64
}

// OpenBlockCache opens (or creates) a cache in dir holding at most maxBytes.
// Blocks left by an earlier run are kept, oldest first in line for eviction.
func OpenBlockCache(dir string, maxBytes, blockSize int64) (*BlockCache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("%w: cache max bytes must be positive, got %d", ErrInvalid, maxBytes)
	}
	if blockSize <= 0 {
		blockSize = DefaultBlockSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache directory %s: %w", dir, err)
	}
	c := &BlockCache{dir: dir, maxBytes: maxBytes, blockSize: blockSize}
	c.mu.lru = list.New()
	c.mu.entries = map[string]*list.Element{}
	c.mu.flights = map[string]*flight{}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read cache directory %s: %w", dir, err)
	}
	type old struct {
		name  string
		size  int64
		mtime int64
	}
	var olds []old
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, blockTmpExt) {
			os.Remove(filepath.Join(dir, name)) // a write cut off by a crash
			continue
		}
		if !strings.HasSuffix(name, blockSuffix) || !de.Type().IsRegular() {
			continue
		}
		st, err := de.Info()
		if err != nil {
			continue
		}
		olds = append(olds, old{strings.TrimSuffix(name, blockSuffix), st.Size(), st.ModTime().UnixNano()})
	}
	// Most recently written at the front.
	slices.SortFunc(olds, func(a, b old) int { return int(min(max(b.mtime-a.mtime, -1), 1)) })
	c.mu.Lock()
	for _, o := range olds {
		c.mu.entries[o.name] = c.mu.lru.PushBack(&cacheEntry{o.name, o.size})
		c.mu.size += o.size
	}
	victims := c.evictLocked()
	c.mu.Unlock()
	c.remove(victims)
	return c, nil
}

// BlockSize returns the cache's block size.
func (c *BlockCache) BlockSize() int64 { return c.blockSize }

// Stats returns the counters.
func (c *BlockCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), Corrupt: c.corrupt.Load(),
		Bytes: c.mu.size, Blocks: len(c.mu.entries),
	}
}

// blockName names block i of an object version.
func blockName(id string, i int64) string { return id + "-" + strconv.FormatInt(i, 10) }

// objectID identifies an object version: a rewritten object (new ETag)
// never hits blocks of the old one.
func objectID(key, etag string) string {
	h := sha256.Sum256([]byte(key + "\x00" + etag))
	return hex.EncodeToString(h[:16])
}

func (c *BlockCache) path(name string) string { return filepath.Join(c.dir, name+blockSuffix) }

// get returns the cached block name if it is present, whole (want bytes)
// and undamaged.
func (c *BlockCache) get(name string, want int) ([]byte, bool) {
	c.mu.Lock()
	e, ok := c.mu.entries[name]
	if ok {
		c.mu.lru.MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	b, err := os.ReadFile(c.path(name))
	if err == nil && len(b) == blockHdrBytes+want && binary.BigEndian.Uint32(b) == crc32.Checksum(b[blockHdrBytes:], castagnoli) {
		c.hits.Add(1)
		return b[blockHdrBytes:], true
	}
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		c.corrupt.Add(1)
	}
	// Gone (evicted between lookup and read) or damaged: drop the entry.
	c.mu.Lock()
	if cur, ok := c.mu.entries[name]; ok && cur == e {
		c.mu.lru.Remove(e)
		delete(c.mu.entries, name)
		c.mu.size -= e.Value.(*cacheEntry).size
		os.Remove(c.path(name))
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return nil, false
}

// put stores a block. Failures only cost a later miss, so they are not
// reported.
func (c *BlockCache) put(name string, data []byte) {
	size := int64(blockHdrBytes + len(data))
	if size > c.maxBytes {
		return
	}
	buf := make([]byte, blockHdrBytes, size)
	binary.BigEndian.PutUint32(buf, crc32.Checksum(data, castagnoli))
	buf = append(buf, data...)
	tmp := filepath.Join(c.dir, name+"."+strconv.FormatInt(c.tmpSeq.Add(1), 10)+blockTmpExt)
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		os.Remove(tmp)
		return
	}
	c.mu.Lock()
	if err := os.Rename(tmp, c.path(name)); err != nil {
		c.mu.Unlock()
		os.Remove(tmp)
		return
	}
	if e, ok := c.mu.entries[name]; ok {
		c.mu.size -= e.Value.(*cacheEntry).size
		e.Value.(*cacheEntry).size = size
		c.mu.lru.MoveToFront(e)
	} else {
		c.mu.entries[name] = c.mu.lru.PushFront(&cacheEntry{name, size})
	}
	c.mu.size += size
	victims := c.evictLocked()
	c.mu.Unlock()
	c.remove(victims)
}

// evictLocked drops least recently used entries until the cache fits and
// returns the names whose files must go. The files are unlinked after the
// lock is released; a reader that already opened one still reads it, and
// a reader that did not gets a miss.
func (c *BlockCache) evictLocked() []string {
	var victims []string
	for c.mu.size > c.maxBytes {
		e := c.mu.lru.Back()
		ce := e.Value.(*cacheEntry)
		c.mu.lru.Remove(e)
		delete(c.mu.entries, ce.name)
		c.mu.size -= ce.size
		victims = append(victims, ce.name)
		c.evictions.Add(1)
	}
	return victims
}

func (c *BlockCache) remove(names []string) {
	for _, n := range names {
		// A put of the same name may have re-added it meanwhile: only
		// remove files no entry owns.
		c.mu.Lock()
		_, live := c.mu.entries[n]
		if !live {
			os.Remove(c.path(n))
		}
		c.mu.Unlock()
	}
}

// FooterCache keeps the tails of objects (Parquet footers, with the tag
// index Silt stores there) in memory, bounded by bytes, so reopening a cold
// segment costs no GET. Safe for concurrent use.
type FooterCache struct {
	maxBytes int64
	mu       struct {
		sync.Mutex
		lru     *list.List // values *footerEntry
		entries map[string]*list.Element
		size    int64
	}
	hits, misses atomic.Int64
}

type footerEntry struct {
	id   string
	off  int64
	data []byte
}

// NewFooterCache returns a cache holding at most maxBytes of tails.
func NewFooterCache(maxBytes int64) *FooterCache {
	c := &FooterCache{maxBytes: maxBytes}
	c.mu.lru = list.New()
	c.mu.entries = map[string]*list.Element{}
	return c
}

func (c *FooterCache) get(id string) (int64, []byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.mu.entries[id]
	if !ok {
		c.misses.Add(1)
		return 0, nil, false
	}
	c.hits.Add(1)
	c.mu.lru.MoveToFront(e)
	fe := e.Value.(*footerEntry)
	return fe.off, fe.data, true
}

func (c *FooterCache) put(id string, off int64, data []byte) {
	if int64(len(data)) > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.mu.entries[id]; ok {
		c.mu.lru.MoveToFront(e)
		return
	}
	c.mu.entries[id] = c.mu.lru.PushFront(&footerEntry{id, off, data})
	c.mu.size += int64(len(data))
	for c.mu.size > c.maxBytes {
		e := c.mu.lru.Back()
		fe := e.Value.(*footerEntry)
		c.mu.lru.Remove(e)
		delete(c.mu.entries, fe.id)
		c.mu.size -= int64(len(fe.data))
	}
}

// Stats returns hits, misses and the bytes held.
func (c *FooterCache) Stats() (hits, misses, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits.Load(), c.misses.Load(), c.mu.size
}

// flight is one fetch of a block that other readers of the block wait for.
type flight struct {
	done chan struct{}
	data []byte
	err  error
	c    *BlockCache
	name string
}

// claim returns the fetch of block name in progress, or starts one that
// the caller owns (true) and must finish.
func (c *BlockCache) claim(name string) (*flight, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fl, ok := c.mu.flights[name]; ok {
		return fl, false
	}
	fl := &flight{done: make(chan struct{}), c: c, name: name}
	c.mu.flights[name] = fl
	return fl, true
}

func (fl *flight) finish(data []byte, err error) {
	fl.c.mu.Lock()
	delete(fl.c.mu.flights, fl.name)
	fl.c.mu.Unlock()
	fl.data, fl.err = data, err
	close(fl.done)
}

func (fl *flight) finished() bool {
	select {
	case <-fl.done:
		return true
	default:
		return false
	}
}

func (fl *flight) wait(ctx context.Context) ([]byte, error) {
	select {
	case <-fl.done:
		return fl.data, fl.err
	case <-ctx.Done():
		return nil, opError("read", fl.name, ErrUnavailable, ctx.Err())
	}
}
