package engine

import (
	"encoding/binary"
	"fmt"
)

// recStamped wraps a batch record (type 1, 2 or 4) with the write stamp
// of its batch, so that a crash keeps the stamps of the rows it replays:
//
//	type = 5 (byte) | stamp (int64, little endian) | the batch record
//
// The stamp is the node's write clock (clock.go) when the batch was
// admitted; every row of the batch carries it (a head keeps runs of rows
// with one stamp, a segment a stamp column: docs/scaling.md, "Per-point
// write stamps"). Records written before stamps were logged (types 1, 2
// and 4 unwrapped) replay with a stamp taken at recovery: they were
// written before it, but after every stamp the manifest records, and
// among themselves they keep their log order.
const recStamped byte = 5

// stampedLen is the bytes recStamped adds before the batch record.
const stampedLen = 1 + 8

// appendStampHeader starts a type 5 record of stamp st in dst.
func appendStampHeader(dst []byte, st int64) []byte {
	dst = append(dst, recStamped)
	return binary.LittleEndian.AppendUint64(dst, uint64(st))
}

// putStampHeader writes the type 5 header of stamp st over the first
// stampedLen bytes of rec, a record encoded before its stamp was taken
// (with appendStampHeader's room at its start).
func putStampHeader(rec []byte, st int64) {
	rec[0] = recStamped
	binary.LittleEndian.PutUint64(rec[1:stampedLen], uint64(st))
}

// unwrapStamp returns the batch record inside a type 5 record and its
// stamp; any other record is returned as it is with stamp 0 (unknown).
func unwrapStamp(p []byte) ([]byte, int64, error) {
	if len(p) == 0 || p[0] != recStamped {
		return p, 0, nil
	}
	if len(p) < stampedLen {
		return nil, 0, fmt.Errorf("stamped wal record of %d bytes", len(p))
	}
	st := int64(binary.LittleEndian.Uint64(p[1:]))
	if st <= 0 {
		return nil, 0, fmt.Errorf("stamped wal record with stamp %d", st)
	}
	return p[stampedLen:], st, nil
}
