package engine

import (
	"encoding/binary"
	"fmt"
	"maps"
	"sort"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
)

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
// was rejected. On sink.ErrBackpressure nothing is written and the caller retries
// the same rows and offsets later.
func (e *Engine) WriteFrom(db string, b *columnar.Batch, offs sink.SourceOffsets) (sink.WriteResult, error) {
	return e.write(db, b, offs)
}

// SourceOffsets returns a copy of the positions covered by all durable
// writes (the manifest's offsets advanced by the WAL records since), for the
// keys starting with prefix.
func (e *Engine) SourceOffsets(prefix string) sink.SourceOffsets {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := sink.SourceOffsets{}
	for k, v := range e.sources {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out[k] = v
		}
	}
	return out
}

func appendOffsetsRecord(dst []byte, db string, b *columnar.Batch, offs sink.SourceOffsets) []byte {
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
func decodeAnyRecord(p []byte, b *columnar.Batch, offs sink.SourceOffsets) (string, error) {
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

// recSourceParts is a WAL record carrying, besides the batch, which rows
// came from which source partition under which tenure:
//
//	type = 4 (byte) | uvarint nParts | part* | uvarint len(db) | db | batch
//	part = uvarint len(key) | key | varint next | varint tenure |
//	       uvarint firstLine | uvarint nLines | uvarint offsetDelta*
//
// next is -1 when the record does not move the position; offsetDelta is
// each line's message offset minus the previous one's (the first minus 0).
const recSourceParts byte = 4

// WriteParts is WriteFrom with per-partition row spans: the positions are
// the parts' Next values (those >= 0), logged atomically with the rows and
// the spans in one WAL record.
func (e *Engine) WriteParts(db string, b *columnar.Batch, parts []sink.SourcePart) (sink.WriteResult, error) {
	offs := sink.SourceOffsets{}
	for _, p := range parts {
		if p.Next >= 0 {
			offs[p.Key] = p.Next
		}
	}
	return e.writeRecord(db, b, offs, func(dst []byte) []byte { return appendPartsRecord(dst, db, b, parts) })
}

func appendPartsRecord(dst []byte, db string, b *columnar.Batch, parts []sink.SourcePart) []byte {
	dst = append(dst, recSourceParts)
	dst = binary.AppendUvarint(dst, uint64(len(parts)))
	for _, p := range parts {
		dst = binary.AppendUvarint(dst, uint64(len(p.Key)))
		dst = append(dst, p.Key...)
		dst = binary.AppendVarint(dst, p.Next)
		dst = binary.AppendVarint(dst, p.Tenure)
		dst = binary.AppendUvarint(dst, uint64(p.FirstLine))
		dst = binary.AppendUvarint(dst, uint64(len(p.Offsets)))
		prev := int64(0)
		for _, o := range p.Offsets {
			dst = binary.AppendUvarint(dst, uint64(o-prev))
			prev = o
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(db)))
	dst = append(dst, db...)
	return b.AppendBinary(dst)
}

// decodeParts decodes a type 4 record into parts (reusing its memory) and
// b, returning the database.
func decodeParts(p []byte, b *columnar.Batch, parts *[]sink.SourcePart) (string, error) {
	p = p[1:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return "", fmt.Errorf("bad wal record part count")
	}
	p = p[k:]
	*parts = (*parts)[:0]
	for range n {
		var sp sink.SourcePart
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return "", fmt.Errorf("bad wal record part key")
		}
		sp.Key = string(p[k : k+int(l)])
		p = p[k+int(l):]
		var vals [2]int64
		for i := range vals {
			v, k := binary.Varint(p)
			if k <= 0 {
				return "", fmt.Errorf("bad wal record part position")
			}
			vals[i] = v
			p = p[k:]
		}
		sp.Next, sp.Tenure = vals[0], vals[1]
		first, k := binary.Uvarint(p)
		if k <= 0 {
			return "", fmt.Errorf("bad wal record part lines")
		}
		p = p[k:]
		nl, k := binary.Uvarint(p)
		if k <= 0 || nl > uint64(len(p)) {
			return "", fmt.Errorf("bad wal record part lines")
		}
		p = p[k:]
		sp.FirstLine = int(first)
		sp.Offsets = make([]int64, nl)
		prev := int64(0)
		for i := range sp.Offsets {
			d, k := binary.Uvarint(p)
			if k <= 0 {
				return "", fmt.Errorf("bad wal record part offsets")
			}
			p = p[k:]
			prev += int64(d)
			sp.Offsets[i] = prev
		}
		*parts = append(*parts, sp)
	}
	l, k := binary.Uvarint(p)
	if k <= 0 || uint64(len(p)-k) < l {
		return "", fmt.Errorf("bad wal record database name")
	}
	return string(p[k : k+int(l)]), b.UnmarshalBinary(p[k+int(l):])
}

// replayLimits applies the source hooks to a decoded type 4 record: rows at
// or past their partition's limit are removed from b, and offs receives the
// parts' positions, each capped at its limit. It returns the rows removed;
// capped records the lowest limit that cut each key's position.
func (e *Engine) replayLimits(b *columnar.Batch, parts []sink.SourcePart, offs sink.SourceOffsets, capped map[string]int64) int {
	limits := make([]int64, len(parts))
	for i, p := range parts {
		limits[i] = -1 // no limit
		if e.cfg.Sources != nil {
			if l, ok := e.cfg.Sources.ReplayLimit(p.Key, p.Tenure); ok {
				limits[i] = l
			}
		}
		if p.Next < 0 {
			continue
		}
		next := p.Next
		if limits[i] >= 0 && next > limits[i] {
			next = limits[i]
			if c, ok := capped[p.Key]; !ok || next < c {
				capped[p.Key] = next
			}
		}
		if cur, ok := offs[p.Key]; !ok || next > cur {
			offs[p.Key] = next
		}
	}
	// Parts are in line order (the consumer writes them so): a binary
	// search finds each row's message.
	kept, dropped := b.Rows[:0], 0
	for _, r := range b.Rows {
		line := int(r.Line)
		pi := sort.Search(len(parts), func(i int) bool { return parts[i].FirstLine+len(parts[i].Offsets) > line })
		if pi < len(parts) && line >= parts[pi].FirstLine && limits[pi] >= 0 &&
			parts[pi].Offsets[line-parts[pi].FirstLine] >= limits[pi] {
			dropped++
			continue
		}
		kept = append(kept, r)
	}
	b.Rows = kept
	return dropped
}

// awaitSourcesCommitted is the flush's call of sink.SourceHooks.AwaitCommitted.
func (e *Engine) awaitSourcesCommitted(offs map[string]int64) error {
	if e.cfg.Sources == nil || len(offs) == 0 {
		return nil
	}
	if err := e.cfg.Sources.AwaitCommitted(offs); err != nil {
		e.metrics.FlushesRefusedBySource.Inc()
		return fmt.Errorf("stream source refused the flush: %w", err)
	}
	return nil
}

// logReplayLimits reports what the replay limits removed, and the one case
// they cannot repair: rows already in segments (the manifest's positions)
// past the point where a later owner took the partition over.
func (e *Engine) logReplayLimits(flushed map[string]int64, capped map[string]int64, dropped int) {
	if dropped > 0 || len(capped) > 0 {
		e.log.Info("wal replay dropped rows that a later owner of their partition consumed again",
			"rows", dropped, "positions_capped", capped)
	}
	for k, limit := range capped {
		if f, ok := flushed[k]; ok && f > limit {
			e.log.Error("rows already in segments lie past the point where a later owner took the partition over: they are on both nodes",
				"source", k, "flushed_to", f, "handed_over_at", limit)
		}
	}
}
