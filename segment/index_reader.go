package segment

import (
	"encoding/binary"
	"errors"
)

// errBadIndex marks an undecodable tag index.
var errBadIndex = errors.New("bad tag index encoding")

// indexReader consumes the tag index encoding; the first failure sticks in err.
type indexReader struct {
	p   []byte
	err error
}

func (r *indexReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.err = errBadIndex
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *indexReader) byte1() byte {
	if r.err != nil || len(r.p) < 1 {
		r.err = errBadIndex
		return 0
	}
	v := r.p[0]
	r.p = r.p[1:]
	return v
}
