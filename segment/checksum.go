package segment

import (
	"encoding/base64"
	"encoding/binary"
	"hash"
	"io"
	"os"

	"github.com/minio/crc64nvme"
)

// A segment's checksum is the CRC-64/NVME of the whole file, computed while
// it is written and kept in SegmentMeta.Checksum: `silt check` compares it
// with the file (the page CRCs leave page headers, statistics and the
// footer uncovered), backups compare it to skip unchanged segments, and it
// is the same value the object store computes when the segment is tiered
// (tiering.ObjectInfo.Checksum), so a tiered segment keeps it.

// hashingFile passes writes to the file and the checksum.
type hashingFile struct {
	f *os.File
	h hash.Hash64
}

func newHashingFile(f *os.File) *hashingFile { return &hashingFile{f: f, h: crc64nvme.New()} }

func (w *hashingFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	return n, err
}

// sum returns the checksum of everything written, encoded as
// SegmentMeta.Checksum.
func (w *hashingFile) sum() string { return encodeChecksum(w.h.Sum64()) }

// encodeChecksum is the encoding of tiering.EncodeChecksum (S3's
// x-amz-checksum-crc64nvme): base64 of the big-endian value.
func encodeChecksum(sum uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], sum)
	return base64.StdEncoding.EncodeToString(b[:])
}

// FileChecksum returns the checksum of the segment bytes r yields, encoded
// as SegmentMeta.Checksum.
func FileChecksum(r io.Reader) (string, error) {
	h := crc64nvme.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return encodeChecksum(h.Sum64()), nil
}
