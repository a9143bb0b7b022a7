package wal

import (
	"errors"
	"fmt"
	"os"
)

// VerifyStats is what Verify found in a WAL directory.
type VerifyStats struct {
	Files   int
	Records int
	Bytes   int64
	// Corrupted lists damaged stretches: records whose checksum, length or
	// compression does not hold, wherever they are.
	Corrupted []Corruption
	// Torn is the partial record at the end of the newest file, if any
	// (Bytes 0 when there is none): what a crash mid-append leaves, or a
	// file cut short. Replay truncates it.
	Torn Corruption
}

// Verify reads every record in dir the way Replay does — header, length,
// CRC-32C of the compressed payload, decompression — but changes nothing:
// it may run next to a live log (whose newest file can then end in a
// record being written) or on a copy. Files numbered below from are
// skipped (the manifest's segments cover them).
func Verify(dir string, from uint64) (VerifyStats, error) {
	var st VerifyStats
	seqs, err := listFiles(dir)
	if err != nil {
		return st, err
	}
	var scratch []byte
	for i, seq := range seqs {
		if seq < from {
			continue
		}
		name := fileName(dir, seq)
		data, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed by a live log's flush since the listing
		}
		if err != nil {
			return st, fmt.Errorf("read wal file %s: %w", name, err)
		}
		st.Files++
		st.Bytes += int64(len(data))
		last := i == len(seqs)-1
		off := 0
		for off < len(data) {
			payload, n, reason := parseRecord(data[off:])
			if reason == "" {
				out, err := decode(scratch, payload)
				if err == nil {
					scratch = out
					st.Records++
					off += n
					continue
				}
				reason = "decompress: " + err.Error()
			}
			if next := resync(data, off+1); next >= 0 {
				st.Corrupted = append(st.Corrupted, Corruption{File: name, Offset: int64(off), Bytes: int64(next - off), Reason: reason})
				off = next
				continue
			}
			end := len(data)
			if last {
				if t := tornStart(data, off); t >= 0 {
					end = t
				}
			}
			if end > off {
				if !last {
					reason += " (a file before the newest one ends inside a record: it was cut short)"
				}
				st.Corrupted = append(st.Corrupted, Corruption{File: name, Offset: int64(off), Bytes: int64(end - off), Reason: reason})
			}
			if end < len(data) {
				st.Torn = Corruption{File: name, Offset: int64(end), Bytes: int64(len(data) - end),
					Reason: "the newest file ends inside a record"}
			}
			break
		}
	}
	return st, nil
}
