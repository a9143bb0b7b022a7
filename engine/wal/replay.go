package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"github.com/klauspost/compress/s2"
)

// Corruption describes a damaged stretch of a WAL file that replay skipped.
type Corruption struct {
	File   string
	Offset int64 // where the damage starts
	Bytes  int64 // how many bytes were skipped
	Reason string
}

// ReplayStats summarize a replay.
type ReplayStats struct {
	Files     int
	Records   int
	Bytes     int64
	TornTail  int64 // bytes truncated from the end of the last file (a write cut short by a crash)
	Corrupted []Corruption
}

// ErrCorrupt marks a damaged record; callers can test with errors.Is.
var ErrCorrupt = errors.New("wal: corrupt record")

// Error describes the damage; a Corruption is an error wrapping ErrCorrupt.
func (c Corruption) Error() string {
	return fmt.Sprintf("%v: %s@%d (%d bytes skipped): %s", ErrCorrupt, c.File, c.Offset, c.Bytes, c.Reason)
}

// Unwrap returns ErrCorrupt.
func (c Corruption) Unwrap() error { return ErrCorrupt }

// Replay reads every record in dir, oldest first, and calls fn with each
// decompressed payload (valid only during the call). It must run before Open.
//
// A record cut short at the end of the last file is a write the crash
// interrupted — it was never acknowledged — and is truncated away (durably,
// so it cannot reappear as corruption once Open has started a newer file).
// Damage anywhere else is reported in ReplayStats.Corrupted and skipped:
// replay resynchronizes on the next record header whose checksum holds.
// Damage at the end of the last file that does not look like a write cut
// short (a complete record with a bad checksum, garbage) is reported too, not
// truncated: it may have been acknowledged.
func Replay(dir string, fn func(seq uint64, payload []byte) error) (ReplayStats, error) {
	var st ReplayStats
	seqs, err := listFiles(dir)
	if err != nil {
		return st, err
	}
	var scratch []byte
	for i, seq := range seqs {
		name := fileName(dir, seq)
		data, err := os.ReadFile(name)
		if err != nil {
			return st, fmt.Errorf("read wal file %s: %w", name, err)
		}
		st.Files++
		st.Bytes += int64(len(data))
		last := i == len(seqs)-1
		off := 0
		for off < len(data) {
			payload, n, reason := parseRecord(data[off:])
			if reason == "" {
				out, err := decode(scratch, payload)
				if err != nil {
					reason = "decompress: " + err.Error()
				} else {
					scratch = out
					if err := fn(seq, out); err != nil {
						return st, fmt.Errorf("apply wal record %s@%d: %w", name, off, err)
					}
					st.Records++
					off += n
					continue
				}
			}
			if next := resync(data, off+1); next >= 0 {
				st.Corrupted = append(st.Corrupted, Corruption{File: name, Offset: int64(off), Bytes: int64(next - off), Reason: reason})
				off = next
				continue
			}
			// Nothing valid follows.
			end := len(data)
			if last {
				if t := tornStart(data, off); t >= 0 {
					end = t
				}
			}
			if end > off {
				st.Corrupted = append(st.Corrupted, Corruption{File: name, Offset: int64(off), Bytes: int64(end - off), Reason: reason})
			}
			if end < len(data) {
				st.TornTail = int64(len(data) - end)
				if err := truncateDurably(name, int64(end)); err != nil {
					return st, fmt.Errorf("truncate torn wal tail %s@%d: %w", name, end, err)
				}
			}
			break
		}
	}
	return st, nil
}

// tornStart returns where a torn tail begins in data[off:], the end of the
// last file past its last valid record, or -1 if it has none. A torn tail is
// what an interrupted append leaves: a record whose header or body stops
// before the end of the file, possibly followed or completed by zeros (a
// file size that reached the disk before the data did).
func tornStart(data []byte, off int) int {
	zeros := len(data) // start of the trailing run of zero bytes
	for zeros > off && data[zeros-1] == 0 {
		zeros--
	}
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], magic)
	for t := off; t < zeros; t++ {
		p := data[t:]
		k := min(len(p), len(m))
		if !bytes.Equal(p[:k], m[:k]) {
			continue
		}
		if len(p) < headerSize {
			return t
		}
		n := binary.LittleEndian.Uint32(p[4:])
		if n <= MaxRecord && uint64(t)+headerSize+uint64(n) > uint64(zeros) {
			return t
		}
	}
	if zeros < len(data) {
		return zeros
	}
	return -1
}

// truncateDurably cuts file name to size and fsyncs it.
func truncateDurably(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// parseRecord validates the record at the start of p and returns its
// compressed payload and total size, or a reason it is not valid.
func parseRecord(p []byte) ([]byte, int, string) {
	if len(p) < headerSize {
		return nil, 0, "short header"
	}
	if binary.LittleEndian.Uint32(p) != magic {
		return nil, 0, "bad magic"
	}
	n := binary.LittleEndian.Uint32(p[4:])
	if n > MaxRecord {
		return nil, 0, fmt.Sprintf("length %d above limit", n)
	}
	if uint64(len(p)) < headerSize+uint64(n) {
		return nil, 0, "short record"
	}
	payload := p[headerSize : headerSize+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(p[8:]) {
		return nil, 0, "checksum mismatch"
	}
	return payload, headerSize + int(n), ""
}

// resync returns the offset of the next valid record at or after from, or -1.
func resync(data []byte, from int) int {
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], magic)
	for from < len(data) {
		i := bytes.Index(data[from:], m[:])
		if i < 0 {
			return -1
		}
		at := from + i
		if _, _, reason := parseRecord(data[at:]); reason == "" {
			return at
		}
		from = at + 1
	}
	return -1
}

// decode decompresses a record's payload into scratch's room, refusing
// one that declares more than MaxPayload bytes before allocating them.
func decode(scratch, payload []byte) ([]byte, error) {
	n, err := s2.DecodedLen(payload)
	if err != nil {
		return nil, err
	}
	if n > MaxPayload {
		return nil, fmt.Errorf("declares %d bytes, more than a record's %d", n, MaxPayload)
	}
	return s2.Decode(scratch[:cap(scratch)], payload)
}
