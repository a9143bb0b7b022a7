package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// span is one record's place in a file.
type span struct{ off, n int }

// recordSpans parses a clean file and returns where its records are.
func recordSpans(t testing.TB, name string) []span {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []span
	for off := 0; off < len(data); {
		_, n, reason := parseRecord(data[off:])
		if reason != "" {
			t.Fatalf("%s@%d: %s in a file expected to be clean", name, off, reason)
		}
		out = append(out, span{off, n})
		off += n
	}
	return out
}

// buildLog writes files*perFile records, rotating after each perFile, and
// returns the payloads and the directory.
func buildLog(t testing.TB, files, perFile int) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{})
	var want [][]byte
	for f := range files {
		if f > 0 {
			if _, err := w.Rotate(); err != nil {
				t.Fatal(err)
			}
		}
		for j := range perFile {
			// Payloads of a few hundred bytes, partly compressible;
			// none empty so every record has a body to damage.
			p := append(fmt.Appendf(nil, "file %d record %d|", f, j), testPayload(f*100+j%36)...)
			p = append(p, bytes.Repeat([]byte("tail."), 40)...)
			mustAppend(t, w, p)
			want = append(want, p)
		}
	}
	mustClose(t, w)
	return dir, want
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func fileSize(t testing.TB, name string) int64 {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// without returns want minus the record at index i.
func without(want [][]byte, i int) [][]byte {
	out := append([][]byte(nil), want[:i]...)
	return append(out, want[i+1:]...)
}

// TestTornTail cuts the last file at every byte offset inside its last
// record: replay must return all earlier records, truncate the tail for
// good, and leave a log that takes appends again.
func TestTornTail(t *testing.T) {
	base, want := buildLog(t, 2, 5)
	lastName := fileName(base, 2)
	spans := recordSpans(t, lastName)
	last := spans[len(spans)-1]
	full, err := os.ReadFile(lastName)
	if err != nil {
		t.Fatal(err)
	}
	if last.off+last.n != len(full) {
		t.Fatal("fixture: last record does not end the file")
	}
	earlier := want[:len(want)-1]
	extra := []byte("appended after the torn tail")

	for cut := last.off + 1; cut < last.off+last.n; cut++ {
		dir := copyDir(t, base)
		name := fileName(dir, 2)
		if err := os.WriteFile(name, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}

		got, st := replayAll(t, dir)
		checkRecords(t, got, earlier)
		if st.TornTail != int64(cut-last.off) || len(st.Corrupted) != 0 {
			t.Fatalf("cut at %d: TornTail=%d (want %d), Corrupted=%v", cut, st.TornTail, cut-last.off, st.Corrupted)
		}
		if sz := fileSize(t, name); sz != int64(last.off) {
			t.Fatalf("cut at %d: file is %d bytes after replay, want %d", cut, sz, last.off)
		}

		got, st = replayAll(t, dir)
		checkRecords(t, got, earlier)
		if st.TornTail != 0 || len(st.Corrupted) != 0 {
			t.Fatalf("cut at %d, second replay: TornTail=%d Corrupted=%v", cut, st.TornTail, st.Corrupted)
		}

		w := mustOpen(t, dir, Options{})
		mustSync(t, w, mustAppend(t, w, extra))
		mustClose(t, w)
		got, st = replayAll(t, dir)
		checkRecords(t, got, append(earlier[:len(earlier):len(earlier)], extra))
		if st.TornTail != 0 || len(st.Corrupted) != 0 {
			t.Fatalf("cut at %d, after reopen: TornTail=%d Corrupted=%v", cut, st.TornTail, st.Corrupted)
		}
		if s := got[len(got)-1].seq; s != 3 {
			t.Fatalf("cut at %d: new record in file %d, want 3", cut, s)
		}
	}
}

// TestTornTailZeros: a crash can leave a file size that reached the disk
// before the data did, so the tail reads as zeros.
func TestTornTailZeros(t *testing.T) {
	base, want := buildLog(t, 1, 4)
	full, err := os.ReadFile(fileName(base, 1))
	if err != nil {
		t.Fatal(err)
	}
	spans := recordSpans(t, fileName(base, 1))
	last := spans[len(spans)-1]
	zeroFrom := func(from, size int) []byte {
		b := make([]byte, size)
		copy(b, full[:from])
		return b
	}
	cases := []struct {
		name     string
		data     []byte
		keep     int // bytes left after truncation
		wantRecs [][]byte
	}{
		{"record body zeroed", zeroFrom(last.off+headerSize+3, len(full)), last.off, want[:3]},
		{"record header partly zeroed", zeroFrom(last.off+5, len(full)), last.off, want[:3]},
		{"whole record zeroed", zeroFrom(last.off, len(full)), last.off, want[:3]},
		{"zero page after the last record", zeroFrom(len(full), len(full)+4096), len(full), want},
		{"torn record then zero page", zeroFrom(last.off+20, len(full)+4096), last.off, want[:3]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			name := fileName(dir, 1)
			if err := os.WriteFile(name, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, st := replayAll(t, dir)
			checkRecords(t, got, c.wantRecs)
			if st.TornTail != int64(len(c.data)-c.keep) || len(st.Corrupted) != 0 {
				t.Fatalf("TornTail=%d (want %d) Corrupted=%v", st.TornTail, len(c.data)-c.keep, st.Corrupted)
			}
			if sz := fileSize(t, name); sz != int64(c.keep) {
				t.Fatalf("file is %d bytes, want %d", sz, c.keep)
			}
		})
	}
}

// damage kinds for a record starting at off with length n.
var damages = []struct {
	name string
	at   func(s span) int
	xor  byte
}{
	{"payload byte", func(s span) int { return s.off + headerSize + (s.n-headerSize)/2 }, 0x20},
	{"length low byte", func(s span) int { return s.off + 4 }, 0x01},
	{"length high byte", func(s span) int { return s.off + 7 }, 0x80},
	{"magic byte", func(s span) int { return s.off + 1 }, 0xff},
	{"checksum byte", func(s span) int { return s.off + 9 }, 0x10},
}

// TestCorruptMiddle damages one record inside a file, in a non-last and in
// the last file: replay reports exactly that record as one Corruption,
// returns every other record (those after it included) and truncates
// nothing.
func TestCorruptMiddle(t *testing.T) {
	const files, perFile = 3, 6
	base, want := buildLog(t, files, perFile)
	for _, file := range []uint64{2, 3} {
		spans := recordSpans(t, fileName(base, file))
		const victim = 2 // a record in the middle of the file
		index := int(file-1)*perFile + victim
		for _, d := range damages {
			t.Run(fmt.Sprintf("file %d %s", file, d.name), func(t *testing.T) {
				dir := copyDir(t, base)
				name := fileName(dir, file)
				data, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				data[d.at(spans[victim])] ^= d.xor
				if err := os.WriteFile(name, data, 0o644); err != nil {
					t.Fatal(err)
				}
				got, st := replayAll(t, dir)
				checkRecords(t, got, without(want, index))
				if st.TornTail != 0 {
					t.Fatalf("TornTail=%d for damage in the middle", st.TornTail)
				}
				if len(st.Corrupted) != 1 {
					t.Fatalf("Corrupted=%v, want exactly one", st.Corrupted)
				}
				c := st.Corrupted[0]
				if c.File != name || c.Offset != int64(spans[victim].off) || c.Bytes != int64(spans[victim].n) || c.Reason == "" {
					t.Fatalf("Corruption %+v, want file %s offset %d bytes %d", c, name, spans[victim].off, spans[victim].n)
				}
				if sz := fileSize(t, name); sz != int64(len(data)) {
					t.Fatalf("damaged file changed size: %d, want %d", sz, len(data))
				}
				// Reported, not repaired: a second replay says the same.
				got2, st2 := replayAll(t, dir)
				checkRecords(t, got2, without(want, index))
				if len(st2.Corrupted) != 1 || st2.Corrupted[0] != c {
					t.Fatalf("second replay: Corrupted=%v, want %v", st2.Corrupted, c)
				}
			})
		}
	}
}

// TestCorruptNonLastTail: a record cut short at the end of a file that is
// not the last one cannot be a write a crash interrupted (rotation fsyncs
// the old file first), so it is reported and left alone.
func TestCorruptNonLastTail(t *testing.T) {
	base, want := buildLog(t, 2, 4)
	spans := recordSpans(t, fileName(base, 1))
	last := spans[len(spans)-1]
	for _, c := range []struct {
		name string
		data func(full []byte) []byte
	}{
		{"cut short", func(full []byte) []byte { return full[:last.off+last.n/2] }},
		{"zero tail", func(full []byte) []byte { return append(full[:len(full):len(full)], make([]byte, 4096)...) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, base)
			name := fileName(dir, 1)
			full, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			data := c.data(full)
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
			lost := 3 // index of the damaged record, if any
			if len(data) > len(full) {
				lost = -1
			}
			got, st := replayAll(t, dir)
			wantRecs := want
			damagedAt := len(full)
			if lost >= 0 {
				wantRecs = without(want, lost)
				damagedAt = last.off
			}
			checkRecords(t, got, wantRecs)
			if st.TornTail != 0 || len(st.Corrupted) != 1 {
				t.Fatalf("TornTail=%d Corrupted=%v, want one corruption and no torn tail", st.TornTail, st.Corrupted)
			}
			if cr := st.Corrupted[0]; cr.File != name || cr.Offset != int64(damagedAt) || cr.Bytes != int64(len(data)-damagedAt) {
				t.Fatalf("Corruption %+v, want %s@%d, %d bytes", cr, name, damagedAt, len(data)-damagedAt)
			}
			if sz := fileSize(t, name); sz != int64(len(data)) {
				t.Fatalf("non-last file truncated to %d bytes, want %d", sz, len(data))
			}
		})
	}
}

// TestCorruptLastRecordKept: the last record of the last file is complete
// but fails its checksum. A crash does not produce that, and the record may
// have been acknowledged, so it is reported as corruption, not silently
// truncated as a torn tail.
func TestCorruptLastRecordKept(t *testing.T) {
	base, want := buildLog(t, 2, 4)
	dir := copyDir(t, base)
	name := fileName(dir, 2)
	spans := recordSpans(t, name)
	last := spans[len(spans)-1]
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if data[len(data)-1] == 0 {
		t.Fatal("fixture: last record ends in a zero byte, which reads as a zero-filled torn write")
	}
	data[last.off+headerSize+5] ^= 0x04
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, st := replayAll(t, dir)
	checkRecords(t, got, want[:len(want)-1])
	if st.TornTail != 0 || len(st.Corrupted) != 1 {
		t.Fatalf("TornTail=%d Corrupted=%v, want one corruption", st.TornTail, st.Corrupted)
	}
	if c := st.Corrupted[0]; c.File != name || c.Offset != int64(last.off) || c.Bytes != int64(last.n) {
		t.Fatalf("Corruption %+v, want %s@%d, %d bytes", c, name, last.off, last.n)
	}
	if sz := fileSize(t, name); sz != int64(len(data)) {
		t.Fatalf("file truncated to %d, want %d kept", sz, len(data))
	}

	// A complete-but-corrupt record followed by a torn one: the first is
	// reported, the second truncated.
	dir2 := copyDir(t, dir)
	name2 := fileName(dir2, 2)
	torn := append(data[:len(data):len(data)], []byte("SILT\x40\x00\x00")...)
	if err := os.WriteFile(name2, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	_, st = replayAll(t, dir2)
	if st.TornTail != 7 || len(st.Corrupted) != 1 || st.Corrupted[0].Offset != int64(last.off) || st.Corrupted[0].Bytes != int64(last.n) {
		t.Fatalf("TornTail=%d Corrupted=%v, want 7 and one corruption at %d", st.TornTail, st.Corrupted, last.off)
	}
	if sz := fileSize(t, name2); sz != int64(len(data)) {
		t.Fatalf("file is %d bytes, want %d", sz, len(data))
	}

	// Appends after it still work; the damage stays reported.
	w := mustOpen(t, dir, Options{})
	extra := []byte("next")
	mustSync(t, w, mustAppend(t, w, extra))
	mustClose(t, w)
	got, st = replayAll(t, dir)
	checkRecords(t, got, append(want[:len(want)-1:len(want)-1], extra))
	if st.TornTail != 0 || len(st.Corrupted) != 1 {
		t.Fatalf("after reopen: TornTail=%d Corrupted=%v", st.TornTail, st.Corrupted)
	}
}

// TestCorruptUndecodable: a record whose checksum holds but whose payload
// is not a valid s2 block is reported like any other damage.
func TestCorruptUndecodable(t *testing.T) {
	base, want := buildLog(t, 1, 2)
	name := fileName(base, 1)
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	spans := recordSpans(t, name)
	junk := []byte{3, 0x24, 0x61, 0x62} // 3 bytes decoded from a 10-byte literal holding 2
	bad := make([]byte, headerSize, headerSize+len(junk))
	binary.LittleEndian.PutUint32(bad[0:], magic)
	binary.LittleEndian.PutUint32(bad[4:], uint32(len(junk)))
	binary.LittleEndian.PutUint32(bad[8:], crc32.Checksum(junk, castagnoli))
	bad = append(bad, junk...)
	// good, bad, good
	out := append(append(append([]byte(nil), data[:spans[1].off]...), bad...), data[spans[1].off:]...)
	if err := os.WriteFile(name, out, 0o644); err != nil {
		t.Fatal(err)
	}
	got, st := replayAll(t, base)
	checkRecords(t, got, want)
	if len(st.Corrupted) != 1 || st.TornTail != 0 {
		t.Fatalf("TornTail=%d Corrupted=%v, want one corruption", st.TornTail, st.Corrupted)
	}
	c := st.Corrupted[0]
	if c.Offset != int64(spans[1].off) || c.Bytes != int64(len(bad)) || !strings.HasPrefix(c.Reason, "decompress") {
		t.Fatalf("Corruption %+v, want %d bytes at %d, reason decompress", c, len(bad), spans[1].off)
	}
	var err2 error = c
	if !errors.Is(err2, ErrCorrupt) || !strings.Contains(err2.Error(), name) {
		t.Fatalf("Corruption as error: %v", err2)
	}
}

// TestCorruptHugeDeclaredLength: a record whose checksum holds but whose
// s2 header declares nearly 4 GiB is damage, found without allocating
// what it declares (s2.Decode alone would make a buffer of that size
// before finding the literal short).
func TestCorruptHugeDeclaredLength(t *testing.T) {
	base, want := buildLog(t, 1, 2)
	name := fileName(base, 1)
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	spans := recordSpans(t, name)
	junk := binary.AppendUvarint(nil, 1<<32-1)
	junk = append(junk, 0x04, 'a', 'b') // a 2-byte literal
	bad := make([]byte, headerSize, headerSize+len(junk))
	binary.LittleEndian.PutUint32(bad[0:], magic)
	binary.LittleEndian.PutUint32(bad[4:], uint32(len(junk)))
	binary.LittleEndian.PutUint32(bad[8:], crc32.Checksum(junk, castagnoli))
	bad = append(bad, junk...)
	out := append(append(append([]byte(nil), data[:spans[1].off]...), bad...), data[spans[1].off:]...)
	if err := os.WriteFile(name, out, 0o644); err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	got, st := replayAll(t, base)
	vst, verr := Verify(base, 0)
	runtime.ReadMemStats(&ms)
	if alloc := ms.TotalAlloc - before; alloc > 64<<20 {
		t.Errorf("replay and verify of a 2-record log allocated %d bytes: the declared length was allocated", alloc)
	}
	checkRecords(t, got, want)
	if len(st.Corrupted) != 1 || !strings.Contains(st.Corrupted[0].Reason, "declares") {
		t.Fatalf("replay Corrupted=%v, want one record declaring too many bytes", st.Corrupted)
	}
	if verr != nil || len(vst.Corrupted) != 1 || !strings.Contains(vst.Corrupted[0].Reason, "declares") {
		t.Fatalf("verify: %v %+v, want one record declaring too many bytes", verr, vst)
	}
}

func TestReplayEdgeCases(t *testing.T) {
	t.Run("missing dir", func(t *testing.T) {
		st, err := Replay(filepath.Join(t.TempDir(), "nope"), func(uint64, []byte) error {
			t.Fatal("callback called")
			return nil
		})
		if err != nil || st.Files != 0 {
			t.Fatalf("stats %+v, err %v", st, err)
		}
	})
	t.Run("empty files and strangers", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{fileName(dir, 1), fileName(dir, 2), filepath.Join(dir, "notes.txt"), filepath.Join(dir, "x.wal")} {
			if err := os.WriteFile(n, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, st := replayAll(t, dir)
		if len(got) != 0 || st.Files != 2 || st.TornTail != 0 || len(st.Corrupted) != 0 {
			t.Fatalf("stats %+v", st)
		}
		w := mustOpen(t, dir, Options{})
		mustClose(t, w)
		if files := walFiles(t, dir); len(files) != 3 || files[2] != 3 {
			t.Fatalf("Open did not start file 3: %v", files)
		}
	})
	t.Run("callback error", func(t *testing.T) {
		dir, _ := buildLog(t, 1, 3)
		boom := errors.New("boom")
		calls := 0
		st, err := Replay(dir, func(uint64, []byte) error {
			calls++
			if calls == 2 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) || st.Records != 1 {
			t.Fatalf("err %v, Records %d; want boom after 1", err, st.Records)
		}
	})
	t.Run("stats", func(t *testing.T) {
		dir, want := buildLog(t, 3, 2)
		var total int64
		for _, s := range walFiles(t, dir) {
			total += fileSize(t, fileName(dir, s))
		}
		got, st := replayAll(t, dir)
		checkRecords(t, got, want)
		if st.Files != 3 || st.Bytes != total {
			t.Fatalf("stats %+v, want 3 files, %d bytes", st, total)
		}
	})
}

// BenchmarkReplay replays 64 MiB-ish of ~64 KiB batches. MB/s counts
// uncompressed payload bytes.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	payload := tsbsBatch()
	w, err := Open(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	const records = 1024
	for range records {
		if _, err := w.Append(payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(records * len(payload)))
	for b.Loop() {
		n := 0
		if _, err := Replay(dir, func(uint64, []byte) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != records {
			b.Fatalf("replayed %d records, want %d", n, records)
		}
	}
}
