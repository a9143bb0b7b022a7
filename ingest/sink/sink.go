// Package sink is the write contract between the stream sources
// (ingest/kafka, ingest/nats) and the storage engine: the Sink interface the
// engine implements, the provenance a write carries (source offsets and
// per-partition row spans), the outcome of a write, the errors a source
// retries on, and the validation of database and table names that every
// entry point applies.
//
// It is a leaf: it imports only the standard library and the data model
// (columnar), so sources depend on it and not on the engine, and the engine
// depends on it rather than on its sources.
package sink

import (
	"errors"
	"syscall"

	"github.com/siltdb/silt/columnar"
)

// Sink is what a stream source writes to (the engine). All methods are safe
// for concurrent use.
type Sink interface {
	// WriteFrom admits b's rows into database db and logs offs, the
	// positions the rows bring their sources to, in the same WAL record.
	// When it returns nil the offsets are durable even if every row was
	// rejected. On a retryable error (IsRetryable) nothing is written and
	// the caller retries the same rows and offsets later.
	WriteFrom(db string, b *columnar.Batch, offs SourceOffsets) (WriteResult, error)
	// WriteParts is WriteFrom with per-partition row spans: the positions
	// are the parts' Next values (those >= 0), logged atomically with the
	// rows and the spans, so a restart can drop the rows a later owner of a
	// partition consumed again.
	WriteParts(db string, b *columnar.Batch, parts []SourcePart) (WriteResult, error)
	// SourceOffsets returns the durable positions of the sources whose
	// keys start with prefix.
	SourceOffsets(prefix string) SourceOffsets
}

// WriteResult reports the outcome of a write: rows stored, and rows the
// schema refused (each with its line and reason).
type WriteResult struct {
	Written  int
	Rejected []columnar.LineError
}

// Errors of a write that callers branch on (the HTTP layer maps each to a
// stable code).
var (
	// ErrBackpressure: the engine's heads are at their memory bound;
	// nothing was written, retry after a flush frees memory.
	ErrBackpressure = errors.New("head memory is full; retry after the flush catches up")
	// ErrBadName: a database or table name is not acceptable (see
	// ValidateName).
	ErrBadName = errors.New("bad name")
)

// IsDiskFull reports whether err comes from a full disk (or quota).
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// IsRetryable reports whether a write that failed with err wrote nothing
// and may succeed later unchanged: backpressure (including compaction
// falling behind, which wraps ErrBackpressure) or a full disk.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrBackpressure) || IsDiskFull(err)
}
