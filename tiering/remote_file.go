package tiering

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultTailBytes is how much of an object's end OpenRemote fetches with
// its first GET. Silt's segment footers (Parquet metadata plus the roaring
// tag index) are usually well under 64 KiB, so one GET gets the whole
// footer; a longer one costs a second GET of exactly the missing part.
const DefaultTailBytes = 64 << 10

// parquetMagic ends every Parquet file, after the 4-byte footer length.
const parquetMagic = "PAR1"

// RemoteOptions configure OpenRemote.
type RemoteOptions struct {
	// Cache, if set, holds fetched blocks on disk; reads fetch whole
	// blocks then. Without it every read is one GET of exactly its range.
	Cache *BlockCache
	// Footers, if set, keeps tails in memory across opens.
	Footers *FooterCache
	// Info, if set, is used instead of a Stat (the manifest knows the size
	// and checksum): its Size must be right, and ETag or Checksum names the
	// version for the caches.
	Info *ObjectInfo
	// TailBytes overrides DefaultTailBytes.
	TailBytes int64
}

// RemoteFile reads an object through ranged GETs: an io.ReaderAt and
// io.Seeker (arrow-go's parquet.ReaderAtSeeker) with Size, so a Parquet
// reader opens a cold segment without downloading it. The footer is
// fetched at open and kept in memory; other reads go through the block
// cache if there is one.
//
// ReadAt is safe for concurrent use; Seek and Read share one position and
// are not. Reads use the context given to OpenRemote: cancelling it fails
// them. Errors wrap the store's class (errors.Is(err, ErrUnavailable)), also
// through arrow-go, which wraps with %w.
type RemoteFile struct {
	ctx   context.Context
	store ObjectStore
	info  ObjectInfo
	id    string
	cache *BlockCache

	tailOff int64
	tail    []byte

	mu  sync.Mutex
	pos int64
}

var _ interface {
	io.ReaderAt
	io.ReadSeeker
} = (*RemoteFile)(nil)

// OpenRemote opens key in store for reading: a Stat (unless opts.Info) and
// one GET of the tail (unless the footer cache has it).
func OpenRemote(ctx context.Context, store ObjectStore, key string, opts RemoteOptions) (*RemoteFile, error) {
	var info ObjectInfo
	if opts.Info != nil {
		info = *opts.Info
		info.Key = key
	} else {
		var err error
		if info, err = store.Stat(ctx, key); err != nil {
			return nil, fmt.Errorf("open remote: %w", err)
		}
	}
	version := info.ETag
	if version == "" {
		version = info.Checksum
	}
	f := &RemoteFile{ctx: ctx, store: store, info: info, id: objectID(key, version), cache: opts.Cache}
	if opts.Footers != nil {
		if off, tail, ok := opts.Footers.get(f.id); ok {
			f.tailOff, f.tail = off, tail
			return f, nil
		}
	}
	n := opts.TailBytes
	if n <= 0 {
		n = DefaultTailBytes
	}
	n = min(n, info.Size)
	tail, err := f.fetch(info.Size-n, n)
	if err != nil {
		return nil, fmt.Errorf("open remote: read footer: %w", err)
	}
	// A Parquet footer longer than the tail: fetch the rest, so the whole
	// footer is served from memory.
	if len(tail) >= 8 && string(tail[len(tail)-4:]) == parquetMagic {
		flen := int64(binary.LittleEndian.Uint32(tail[len(tail)-8:]))
		if need := flen + 8; need > n && need <= info.Size {
			head, err := f.fetch(info.Size-need, need-n)
			if err != nil {
				return nil, fmt.Errorf("open remote: read footer: %w", err)
			}
			tail = append(head, tail...)
			n = need
		}
	}
	f.tailOff, f.tail = info.Size-n, tail
	if opts.Footers != nil {
		opts.Footers.put(f.id, f.tailOff, tail)
	}
	return f, nil
}

// Size returns the object's size.
func (f *RemoteFile) Size() int64 { return f.info.Size }

// Info returns the object's info (from Stat or RemoteOptions.Info).
func (f *RemoteFile) Info() ObjectInfo { return f.info }

// Close releases nothing today; it is there so RemoteFile can stand where
// an *os.File did.
func (f *RemoteFile) Close() error { return nil }

// fetch GETs exactly n bytes at off.
func (f *RemoteFile) fetch(off, n int64) ([]byte, error) {
	rc, err := f.store.GetRange(f.ctx, f.info.Key, off, n)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	_, err = io.ReadFull(rc, buf)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = opError("read", f.info.Key, ErrUnavailable, fmt.Errorf("range [%d,+%d) ended early: %w", off, n, err))
		}
		return nil, err
	}
	return buf, nil
}

// ReadAt implements io.ReaderAt.
func (f *RemoteFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, opError("read", f.info.Key, ErrInvalid, fmt.Errorf("negative offset %d", off))
	}
	if off >= f.info.Size {
		return 0, io.EOF
	}
	want := len(p)
	n := min(int64(want), f.info.Size-off)
	if err := f.readAt(p[:n], off); err != nil {
		return 0, fmt.Errorf("read %s [%d,+%d): %w", f.info.Key, off, n, err)
	}
	if int(n) < want {
		return int(n), io.EOF // io.ReaderAt: a short read says why
	}
	return int(n), nil
}

func (f *RemoteFile) readAt(p []byte, off int64) error {
	end := off + int64(len(p))
	// The footer part, from memory.
	if end > f.tailOff {
		from := max(off, f.tailOff)
		copy(p[from-off:], f.tail[from-f.tailOff:end-f.tailOff])
		if off >= f.tailOff {
			return nil
		}
		p, end = p[:f.tailOff-off], f.tailOff
	}
	if f.cache == nil {
		b, err := f.fetch(off, end-off)
		if err != nil {
			return err
		}
		copy(p, b)
		return nil
	}
	bs := f.cache.blockSize
	first, last := off/bs, (end-1)/bs
	blocks := make([][]byte, last-first+1)
	for i := first; i <= last; i++ {
		if b, ok := f.cache.get(blockName(f.id, i), int(f.blockLen(i))); ok {
			blocks[i-first] = b
		}
	}
	// Claim the missing blocks: a block another reader is fetching is
	// waited for, not fetched twice. One GET per run of claimed blocks.
	flights := make([]*flight, len(blocks))
	owned := make([]bool, len(blocks))
	defer func() {
		// Whatever happened, release the claims (waiters then see the
		// error and fetch nothing themselves).
		for k, fl := range flights {
			if owned[k] && !fl.finished() {
				fl.finish(nil, errors.New("block fetch abandoned"))
			}
		}
	}()
	for i := first; i <= last; i++ {
		if blocks[i-first] == nil {
			flights[i-first], owned[i-first] = f.cache.claim(blockName(f.id, i))
		}
	}
	for i := first; i <= last; {
		if !owned[i-first] {
			i++
			continue
		}
		j := i
		for j+1 <= last && owned[j+1-first] {
			j++
		}
		start, stop := i*bs, min((j+1)*bs, f.info.Size)
		b, err := f.fetch(start, stop-start)
		for k := i; k <= j; k++ {
			if err != nil {
				flights[k-first].finish(nil, err)
				continue
			}
			blk := b[(k-i)*bs : min((k-i+1)*bs, int64(len(b)))]
			blocks[k-first] = blk
			f.cache.put(blockName(f.id, k), blk)
			flights[k-first].finish(blk, nil)
		}
		if err != nil {
			return err
		}
		i = j + 1
	}
	for k, fl := range flights {
		if fl != nil && !owned[k] {
			blk, err := fl.wait(f.ctx)
			if err != nil {
				return err
			}
			blocks[k] = blk
		}
	}
	for i := first; i <= last; i++ {
		bstart := i * bs
		lo, hi := max(off, bstart), min(end, bstart+int64(len(blocks[i-first])))
		copy(p[lo-off:hi-off], blocks[i-first][lo-bstart:hi-bstart])
	}
	return nil
}

// blockLen is the length of block i (the last one may be short).
func (f *RemoteFile) blockLen(i int64) int64 {
	bs := f.cache.blockSize
	return min(bs, f.info.Size-i*bs)
}

// Read implements io.Reader at the Seek position.
func (f *RemoteFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

// Seek implements io.Seeker.
func (f *RemoteFile) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.pos + offset
	case io.SeekEnd:
		abs = f.info.Size + offset
	default:
		return 0, opError("seek", f.info.Key, ErrInvalid, fmt.Errorf("whence %d", whence))
	}
	if abs < 0 {
		return 0, opError("seek", f.info.Key, ErrInvalid, fmt.Errorf("negative position %d", abs))
	}
	f.pos = abs
	return abs, nil
}
