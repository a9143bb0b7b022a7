package tiering

import (
	"bytes"
	"testing"

	"github.com/siltdb/silt/segment"
)

// A segment's recorded checksum must be the value the object store reports
// once it is tiered: the tierer keeps it, check and backup compare them.
func TestSegmentChecksumIsObjectChecksum(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("PAR1"), bytes.Repeat([]byte("silt segment "), 10000)} {
		got, err := segment.FileChecksum(bytes.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		if want := ChecksumBytes(p); got != want {
			t.Fatalf("%d bytes: segment checksum %s, object checksum %s", len(p), got, want)
		}
	}
}
