package engine

import (
	"encoding/binary"
	"fmt"
	"maps"

	"github.com/siltdb/silt/columnar"
)

// SourceOffsets are stream positions that a write covers, keyed by source
// partition ("kafka/<topic>/<partition>", "nats/<stream>/<consumer>"). The
// value is the next position to consume: the last consumed offset + 1.
//
// Offsets are logged in the same WAL record as the rows they cover and are
// written into the manifest together with the segments that hold those rows,
// so the engine's offsets can never be ahead of, or behind, its data: that
// is what makes stream ingestion exactly-once.
type SourceOffsets map[string]int64

// advance raises every position of dst to at least the one in src. A source
// never moves backwards: a position below the recorded one would be a
// re-consumed record, and the recorded position still covers it.
func (dst SourceOffsets) advance(src SourceOffsets) {
	for k, v := range src {
		if cur, ok := dst[k]; !ok || v > cur {
			dst[k] = v
		}
	}
}

// recBatchOffsets is a WAL record carrying source offsets and a batch:
//
//	type = 2 (byte) | uvarint nOffsets | offset* | uvarint len(db) | db | batch
//	offset = uvarint len(key) | key | varint position
//
// The batch may have no rows: a record made only of offsets advances a
// source past messages that yielded nothing (all rejected).
const recBatchOffsets byte = 2

// WriteFrom is Write for rows that came from stream sources: offs, the
// positions the rows bring the sources to, are logged atomically with the
// rows. When WriteFrom returns nil the offsets are durable even if every row
// was rejected. On ErrBackpressure nothing is written and the caller retries
// the same rows and offsets later.
func (e *Engine) WriteFrom(db string, b *columnar.Batch, offs SourceOffsets) (WriteResult, error) {
	return e.write(db, b, offs)
}

// SourceOffsets returns a copy of the positions covered by all durable
// writes (the manifest's offsets advanced by the WAL records since), for the
// keys starting with prefix.
func (e *Engine) SourceOffsets(prefix string) SourceOffsets {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := SourceOffsets{}
	for k, v := range e.sources {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out[k] = v
		}
	}
	return out
}

func appendOffsetsRecord(dst []byte, db string, b *columnar.Batch, offs SourceOffsets) []byte {
	dst = append(dst, recBatchOffsets)
	dst = binary.AppendUvarint(dst, uint64(len(offs)))
	for k, v := range offs {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		dst = binary.AppendVarint(dst, v)
	}
	dst = binary.AppendUvarint(dst, uint64(len(db)))
	dst = append(dst, db...)
	return b.AppendBinary(dst)
}

// decodeAnyRecord decodes a batch record of either type; offs is filled for
// type 2 (and left empty for type 1, the records of plain writes).
func decodeAnyRecord(p []byte, b *columnar.Batch, offs SourceOffsets) (string, error) {
	clear(offs)
	if len(p) == 0 || p[0] != recBatchOffsets {
		return decodeRecord(p, b)
	}
	p = p[1:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return "", fmt.Errorf("bad wal record offset count")
	}
	p = p[k:]
	for range n {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return "", fmt.Errorf("bad wal record offset key")
		}
		key := string(p[k : k+int(l)])
		p = p[k+int(l):]
		v, k2 := binary.Varint(p)
		if k2 <= 0 {
			return "", fmt.Errorf("bad wal record offset value")
		}
		p = p[k2:]
		offs[key] = v
	}
	// The rest has the layout of a type 1 record after its type byte.
	l, k := binary.Uvarint(p)
	if k <= 0 || uint64(len(p)-k) < l {
		return "", fmt.Errorf("bad wal record database name")
	}
	return string(p[k : k+int(l)]), b.UnmarshalBinary(p[k+int(l):])
}

// cloneOffsets copies offs (nil stays nil-safe: an empty map is returned).
func cloneOffsets(offs map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(offs))
	maps.Copy(out, offs)
	return out
}
