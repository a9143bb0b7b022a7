// Package wal is Silt's write-ahead log: append-only, checksummed, compressed
// records in numbered files, with group commit.
//
// A WAL directory holds files named by a 20-digit sequence number
// (00000000000000000001.wal, ...). Records never span files. Each record is
//
//	+---------+---------+---------+----------------------------+
//	| magic   | length  | crc32c  | payload (s2 block, length) |
//	| 4 bytes | 4 bytes | 4 bytes |                            |
//	+---------+---------+---------+----------------------------+
//
// little endian, crc32c (Castagnoli) over the compressed payload. The magic
// lets replay find the next record after a corrupt one.
//
// Durability contract: Append writes the record to the file (page cache) and
// returns its position; Sync(pos) returns once everything up to pos is on
// stable storage. Callers acknowledge a write only after Sync returns nil.
// Concurrent Sync calls share fsyncs (group commit): one caller fsyncs while
// the others wait, and the next fsync covers everything appended meanwhile.
//
// An fsync error is sticky: the kernel may have dropped the dirty pages, so
// the log can no longer promise anything and every later call fails until the
// process restarts and replays. A failed write (for example ENOSPC) is undone
// by truncating the file back, and the log stays usable; if the undo itself
// fails the log is broken as after an fsync error.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/siltdb/silt/internal/fileutil"
)

const (
	magic      = 0x544c4953 // "SILT" little endian
	headerSize = 12
	// MaxRecord bounds one record's compressed payload; a length above it in
	// a header is treated as corruption.
	MaxRecord = 256 << 20
	// MaxPayload bounds one record's payload before compression. Writers
	// refuse a larger one, and replay and verify treat a record that says
	// it decompresses to more as damaged rather than allocate what its
	// header declares: s2's uvarint length can claim up to 4 GiB in a few
	// bytes, and a record can hold a valid checksum over a bad length.
	MaxPayload = 1 << 30
	suffix     = ".wal"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sentinel errors.
var (
	// ErrBroken means an earlier fsync (or the undo of a failed write)
	// failed; the log refuses all writes until the process restarts.
	ErrBroken = errors.New("wal: broken by an earlier fsync failure, restart to recover")
	// ErrClosed is returned by calls after Close.
	ErrClosed = errors.New("wal: closed")
	// ErrTooLarge is returned for a record above MaxRecord, or a payload
	// above MaxPayload.
	ErrTooLarge = errors.New("wal: record too large")
)

// Metrics receives WAL timings. Implementations must be safe for concurrent
// use; nil methods are not allowed, use NopMetrics.
type Metrics interface {
	ObserveFsync(d time.Duration)
}

// NopMetrics discards observations.
type NopMetrics struct{}

// ObserveFsync implements Metrics.
func (NopMetrics) ObserveFsync(time.Duration) {}

// Options configure a WAL.
type Options struct {
	// SegmentBytes starts a new file once the current one exceeds it.
	SegmentBytes int64
	Metrics      Metrics
	// NoSync skips fsync (tests and ack level "none" only).
	NoSync bool
}

// WAL is an open write-ahead log. It is safe for concurrent use.
type WAL struct {
	dir  string
	opts Options

	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	seq     uint64 // number of the file being appended to
	size    int64  // bytes in the current file
	written uint64 // logical position: bytes appended since open, across files
	synced  uint64 // logical position known to be durable
	syncing bool
	err     error // sticky, wraps ErrBroken
	closed  bool
}

// bufPool holds record buffers. Records are built outside the lock, so a
// goroutine that waits inside Append (for an fsync to finish before a
// rotation) never has its record overwritten by another appender.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf keeps one huge record from pinning its buffer forever.
const maxPooledBuf = 8 << 20

// Pos is a logical position in the log, returned by Append for Sync.
type Pos uint64

// Open opens the log in dir for appending, creating dir if needed. It always
// starts a new file after the existing ones, so Replay of the old
// files and appends never touch the same file.
func Open(dir string, opts Options) (*WAL, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.Metrics == nil {
		opts.Metrics = NopMetrics{}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create wal dir %s: %w", dir, err)
	}
	seqs, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	w := &WAL{dir: dir, opts: opts}
	w.cond = sync.NewCond(&w.mu)
	next := uint64(1)
	if len(seqs) > 0 {
		next = seqs[len(seqs)-1] + 1
	}
	f, err := w.createFile(next)
	if err != nil {
		return nil, err
	}
	w.f, w.seq = f, next
	return w, nil
}

func fileName(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", seq, suffix))
}

// listFiles returns the sequence numbers of the log files in dir, ascending.
func listFiles(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list wal dir %s: %w", dir, err)
	}
	var seqs []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, suffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, suffix), 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, n)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// errDirSync marks a createFile failure in the directory fsync, after the
// file was created; the caller decides whether that breaks the log.
var errDirSync = errors.New("wal: directory fsync failed")

// createFile creates log file seq and makes its directory entry durable.
func (w *WAL) createFile(seq uint64) (*os.File, error) {
	f, err := os.OpenFile(fileName(w.dir, seq), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create wal file: %w", err)
	}
	if !w.opts.NoSync {
		if err := syncDir(w.dir); err != nil {
			return nil, errors.Join(fmt.Errorf("%w: %w", errDirSync, err), f.Close())
		}
	}
	return f, nil
}

// syncDir makes creations and removals in dir durable.
var syncDir = fileutil.SyncDir

// Append compresses payload into one record and writes it to the current
// file. The record is not durable until Sync(pos) returns nil. Records are
// replayed in the order Append was called.
func (w *WAL) Append(payload []byte) (Pos, error) {
	r, err := Prepare(payload, 0)
	if err != nil {
		return 0, err
	}
	defer r.Release()
	if err := r.Seal(nil); err != nil {
		return 0, err
	}
	return w.AppendRecord(r)
}

// MaxPrefix bounds the payload bytes Prepare leaves out of the compression
// for Seal to fill: one s2 literal of up to 60 bytes.
const MaxPrefix = 60

// Record is a record compressed ahead of its append, so that a caller
// that must append under its own lock (the engine, whose log order is its
// heads' order) compresses before taking it: Prepare compresses all of the
// payload but its first prefix bytes, outside any lock; Seal writes those
// bytes (a header known only under the caller's lock, such as a write
// stamp) and frames the record; AppendRecord writes it in the log's order.
//
// The bytes are those Append writes, and replay reads them as any record:
// an s2 block is its decompressed length (a uvarint) and then literals and
// back-references, and a reference is a distance back from where it is
// decoded. So the prefix as one literal, then the elements s2 made of the
// rest, decode to the whole payload: a literal changes nothing a later
// element depends on, and each distance still reaches the bytes it named.
type Record struct {
	bp     *[]byte // from bufPool
	body   int     // where the s2 elements of payload[prefix:] start in *bp
	end    int     // where they end
	prefix int
	total  int // the payload's length
	start  int // where the framed record starts, once sealed
	sealed bool
}

// Prepare compresses payload[prefix:] into a record that Seal completes
// with payload[:prefix] (prefix at most MaxPrefix). The record owns its
// buffer (payload is not kept) until Release.
func Prepare(payload []byte, prefix int) (*Record, error) {
	if prefix < 0 || prefix > MaxPrefix || prefix > len(payload) {
		return nil, fmt.Errorf("wal: prefix of %d bytes of a %d-byte payload (at most %d)", prefix, len(payload), MaxPrefix)
	}
	rest := payload[prefix:]
	maxLen := s2.MaxEncodedLen(len(rest))
	if maxLen < 0 || len(payload) > MaxPayload {
		return nil, ErrTooLarge
	}
	// Room before the elements: the frame's header, the whole payload's
	// uvarint length, the literal's tag and the prefix. s2 writes the
	// rest's own uvarint length just before its elements, over that room.
	room := headerSize + binary.MaxVarintLen64 + 1 + prefix
	restVar := uvarintLen(uint64(len(rest)))
	bp := bufPool.Get().(*[]byte)
	need := room + maxLen
	if cap(*bp) < need {
		*bp = make([]byte, need)
	}
	buf := (*bp)[:need]
	// Compress outside any lock: appenders compress in parallel and the
	// buffer belongs to this record alone.
	comp := s2.Encode(buf[room-restVar:], rest)
	return &Record{bp: bp, body: room, end: room - restVar + len(comp), prefix: prefix, total: len(payload)}, nil
}

// Seal writes prefix (as long as Prepare was told) in front of the
// compressed rest and frames the record: length and checksum. Call it
// once, before AppendRecord.
func (r *Record) Seal(prefix []byte) error {
	if len(prefix) != r.prefix || r.sealed {
		return fmt.Errorf("wal: seal of a record prepared for a %d-byte prefix with %d bytes (sealed before: %v)", r.prefix, len(prefix), r.sealed)
	}
	buf := *r.bp
	pos := r.body
	if r.prefix > 0 {
		pos -= r.prefix
		copy(buf[pos:], prefix)
		pos--
		buf[pos] = byte(r.prefix-1) << 2 // a literal of r.prefix bytes
	}
	pos -= uvarintLen(uint64(r.total))
	binary.PutUvarint(buf[pos:], uint64(r.total))
	comp := buf[pos:r.end]
	if len(comp) > MaxRecord {
		return ErrTooLarge
	}
	pos -= headerSize
	binary.LittleEndian.PutUint32(buf[pos:], magic)
	binary.LittleEndian.PutUint32(buf[pos+4:], uint32(len(comp)))
	binary.LittleEndian.PutUint32(buf[pos+8:], crc32.Checksum(comp, castagnoli))
	r.start, r.sealed = pos, true
	return nil
}

// Release gives the record's buffer back for later records. The record
// must not be used after.
func (r *Record) Release() {
	if r.bp != nil && cap(*r.bp) <= maxPooledBuf {
		bufPool.Put(r.bp)
	}
	r.bp = nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// AppendRecord writes a sealed record to the current file: the ordered
// step of an append, the only one under the log's lock. The record is not
// durable until Sync(pos) returns nil; records are replayed in the order
// AppendRecord was called.
func (w *WAL) AppendRecord(r *Record) (Pos, error) {
	if !r.sealed {
		return 0, errors.New("wal: append of a record not sealed")
	}
	rec := (*r.bp)[r.start:r.end]

	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if err := w.usable(); err != nil {
			return 0, err
		}
		if w.size == 0 || w.size+int64(len(rec)) <= w.opts.SegmentBytes {
			break
		}
		if w.syncing {
			// Rotation closes the file an fsync is running on. Wait,
			// then decide again: meanwhile the log may have been
			// closed, broken or rotated by another appender.
			w.cond.Wait()
			continue
		}
		if err := w.rotateLocked(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(rec)
	if err != nil {
		werr := fmt.Errorf("append to wal file %s: %w", w.f.Name(), err)
		// Undo the partial record so the file stays a clean sequence of
		// records; if even that fails the log cannot be trusted.
		// The error then is ErrBroken alone, not also the write's error
		// (say ENOSPC, which callers may treat as retryable).
		if n > 0 {
			if terr := w.f.Truncate(w.size); terr != nil {
				w.err = fmt.Errorf("%w: %v; truncate after it: %v", ErrBroken, werr, terr)
			} else if _, serr := w.f.Seek(w.size, io.SeekStart); serr != nil {
				w.err = fmt.Errorf("%w: %v; seek after it: %v", ErrBroken, werr, serr)
			}
			if w.err != nil {
				w.cond.Broadcast()
				return 0, w.err
			}
		}
		return 0, werr
	}
	w.size += int64(n)
	w.written += uint64(n)
	return Pos(w.written), nil
}

func (w *WAL) usable() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	return nil
}

// Sync returns once every record up to pos is durable, sharing fsyncs with
// concurrent callers.
func (w *WAL) Sync(pos Pos) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if uint64(pos) > w.written {
		// Not a position of this log (say, from before a restart): a
		// leader's target could never reach it and Sync would spin on
		// fsyncs forever. Sync everything instead.
		pos = Pos(w.written)
	}
	for {
		switch {
		case uint64(pos) <= w.synced:
			return nil
		case w.err != nil:
			return w.err
		case w.closed:
			return ErrClosed
		case w.syncing:
			w.cond.Wait()
			continue
		}
		// Lead this round: one fsync covers everything written so far.
		// Earlier files were fsynced when they were rotated out, and no
		// rotation (nor Close) happens until this round ends, so f stays
		// open and holds every byte up to target not yet durable. Records
		// appended meanwhile are covered by the next round.
		w.syncing = true
		target, f := w.written, w.f
		w.mu.Unlock()
		start := time.Now()
		var err error
		if !w.opts.NoSync {
			err = f.Sync()
			w.opts.Metrics.ObserveFsync(time.Since(start))
		}
		w.mu.Lock()
		w.syncing = false
		if err != nil {
			w.err = fmt.Errorf("%w: fsync %s: %v", ErrBroken, f.Name(), err)
		} else if target > w.synced {
			w.synced = target
		}
		w.cond.Broadcast()
	}
}

// rotateLocked makes the current file durable and starts the next one. If
// the next file cannot be created the current one stays in use and the log
// stays usable; only fsync failures break it.
func (w *WAL) rotateLocked() error {
	// Wait for an in-flight fsync of the old file before closing it.
	for w.syncing {
		w.cond.Wait()
	}
	if err := w.usable(); err != nil {
		return err
	}
	old := w.f
	if !w.opts.NoSync {
		start := time.Now()
		err := old.Sync()
		w.opts.Metrics.ObserveFsync(time.Since(start))
		if err != nil {
			w.err = fmt.Errorf("%w: fsync %s: %v", ErrBroken, old.Name(), err)
			w.cond.Broadcast()
			return w.err
		}
	}
	w.synced = w.written
	w.cond.Broadcast()
	f, err := w.createFile(w.seq + 1)
	if err != nil {
		if errors.Is(err, errDirSync) {
			w.err = fmt.Errorf("%w: %v", ErrBroken, err)
			w.cond.Broadcast()
			return w.err
		}
		return err
	}
	w.f, w.seq, w.size = f, w.seq+1, 0
	if err := old.Close(); err != nil {
		// Its data is already durable; the new file is in use.
		return fmt.Errorf("close wal file %s: %w", old.Name(), err)
	}
	return nil
}

// Rotate closes the current file and starts a new one, returning the new
// file's sequence number: every record appended before Rotate lives in a file
// numbered below it. Used at flush time with RemoveBefore.
func (w *WAL) Rotate() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	if err := w.rotateLocked(); err != nil {
		return 0, err
	}
	return w.seq, nil
}

// RemoveBefore deletes the files numbered below seq. Call it only once the
// data they hold is durable elsewhere (segments named by a durable manifest).
// The file being appended to is never removed, whatever seq says.
func (w *WAL) RemoveBefore(seq uint64) error {
	w.mu.Lock()
	seq = min(seq, w.seq)
	w.mu.Unlock()
	seqs, err := listFiles(w.dir)
	if err != nil {
		return err
	}
	removed := false
	for _, s := range seqs {
		if s >= seq {
			break
		}
		if err := os.Remove(fileName(w.dir, s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove wal file: %w", err)
		}
		removed = true
	}
	if removed && !w.opts.NoSync {
		return syncDir(w.dir)
	}
	return nil
}

// Size returns the bytes in all WAL files.
func (w *WAL) Size() int64 {
	seqs, _ := listFiles(w.dir)
	var n int64
	for _, s := range seqs {
		if st, err := os.Stat(fileName(w.dir, s)); err == nil {
			n += st.Size()
		}
	}
	return n
}

// Close syncs and closes the current file. Sync calls waiting for records
// that Close made durable return nil; later calls return ErrClosed.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.closed {
			return nil
		}
		if !w.syncing {
			break
		}
		// Another Close may win while this one waits.
		w.cond.Wait()
	}
	var err error
	if w.err == nil {
		if !w.opts.NoSync {
			start := time.Now()
			err = w.f.Sync()
			w.opts.Metrics.ObserveFsync(time.Since(start))
		}
		if err != nil {
			w.err = fmt.Errorf("%w: fsync %s: %v", ErrBroken, w.f.Name(), err)
			err = w.err
		} else {
			w.synced = w.written
		}
	}
	w.closed = true
	w.cond.Broadcast()
	return errors.Join(err, w.f.Close())
}
