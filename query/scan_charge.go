package query

import (
	"runtime"

	"github.com/siltdb/silt/columnar"
)

// ChargeScan returns fn wrapped so that what the readers of the scan
// feeding it hold — each worker's batch, as large as the largest batch
// seen so far, and its decoding scratch, counted as much again — is
// reserved of h (the memory all running queries share) while the scan
// runs; done gives it back once the scan is over and its buffers are
// back in the readers' pool. The scan decodes on up to GOMAXPROCS
// workers at once, each into its own batch: the charge is that many
// times the largest batch. A batch that would pass what h may hold stops
// the scan with h's error (wrapping ErrMemoryLimit). A nil h charges
// nothing. The wrapped fn must not be called concurrently, as scans
// never do.
func ChargeScan(h Hold, fn func(*columnar.ColumnBatch) error) (func(*columnar.ColumnBatch) error, func()) {
	if h == nil {
		return fn, func() {}
	}
	workers := int64(runtime.GOMAXPROCS(0))
	var largest, charged int64
	wrapped := func(b *columnar.ColumnBatch) error {
		if n := BatchBytes(b); n > largest {
			largest = n
			if want := 2 * workers * largest; want > charged {
				if err := h.Grow(want - charged); err != nil {
					return err
				}
				charged = want
			}
		}
		return fn(b)
	}
	return wrapped, func() {
		h.Shrink(charged)
		charged = 0
	}
}

// BatchBytes is what b's arrays hold, by capacity: its columns' values,
// null flags and tag ids, and its dictionaries' string headers (their
// bytes are the segment's or the head's, shared).
func BatchBytes(b *columnar.ColumnBatch) int64 {
	n := int64(cap(b.Time))*8 + int64(cap(b.Sel))*4
	for i := range b.Tags {
		t := &b.Tags[i]
		n += int64(cap(t.IDs))*4 + int64(cap(t.Dict))*16
	}
	for i := range b.Fields {
		f := &b.Fields[i]
		n += int64(cap(f.Null)) + int64(cap(f.B)) +
			8*int64(cap(f.F)+cap(f.I)+cap(f.U)) + 16*int64(cap(f.S))
	}
	return n
}
