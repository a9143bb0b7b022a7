package query

import "errors"

// ErrMemoryLimit is the error of a query that would hold more memory than
// its limit (--query-max-memory) or than all running queries may hold
// together (--query-max-memory-total), in every query language and over
// every protocol: one errors.Is tells them all.
var ErrMemoryLimit = errors.New("query needs more memory than its limit")

// Hold is memory reserved of what all running queries share
// (--query-max-memory-total) for something a query holds beyond its run:
// its answer while it is sent, what a protocol builds from it. Grow
// fails, wrapping ErrMemoryLimit, when the shared budget has not n bytes
// left; Shrink gives back n of what is held, Release all of it.
type Hold interface {
	Grow(n int64) error
	Shrink(n int64)
	Release()
}
