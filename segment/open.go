package segment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// OpenSegmentReader opens a segment whose bytes r serves — a local file, or
// a cold segment read through ranged GETs — and parses its footer: the
// Parquet metadata, Silt's segment info and the tag index. Nothing else is
// read, so a cold segment costs only the footer until columns are scanned.
// name is what Path returns (errors and caches use it); src, if not nil, is
// closed with the segment (also when the open fails).
func OpenSegmentReader(r parquet.ReaderAtSeeker, name string, src io.Closer) (*Segment, error) {
	fail := func(err error) (*Segment, error) {
		if src != nil {
			err = errors.Join(err, src.Close())
		}
		return nil, err
	}
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return fail(fmt.Errorf("size of segment %s: %w", name, err))
	}
	// Column chunks are read through the scans' recycling allocator.
	rdr, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(segmentAlloc)))
	if err != nil {
		return fail(fmt.Errorf("open parquet %s: %w", name, err))
	}
	// ra and size let other readers (compaction's streaming one) share
	// the source.
	s := &Segment{src: src, ra: r, size: size, name: name, rdr: rdr, gen: segmentGen.Add(1)}
	kv := rdr.MetaData().KeyValueMetadata()
	raw := kv.FindValue(MetaKeyInfo)
	if raw == nil {
		return fail(fmt.Errorf("segment %s has no %s metadata", name, MetaKeyInfo))
	}
	if err := json.Unmarshal([]byte(*raw), &s.Info); err != nil {
		return fail(fmt.Errorf("parse %s of %s: %w", MetaKeyInfo, name, err))
	}
	if raw := kv.FindValue(MetaKeyIndex); raw != nil {
		if s.Index, err = DecodeTagIndex(*raw); err != nil {
			return fail(fmt.Errorf("segment %s: %w", name, err))
		}
	}
	return s, nil
}
