package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
)

// TestPreparedRecordDecodes: a record compressed by Prepare without its
// first prefix bytes and sealed with them decodes, with s2's own decoder,
// to the whole payload, for every prefix length and payloads empty,
// short, repetitive (back-references right after the prefix) and
// incompressible; with no prefix its bytes are s2.Encode's.
func TestPreparedRecordDecodes(t *testing.T) {
	payloads := [][]byte{{}, []byte("x"), bytes.Repeat([]byte("a"), 100), bytes.Repeat([]byte("abcdefgh"), 5000), randBytes(7, 70_000)}
	for i := range 200 {
		payloads = append(payloads, testPayload(i))
	}
	for i, p := range payloads {
		for _, prefix := range []int{0, 1, 2, 8, 9, 31, MaxPrefix} {
			if prefix > len(p) {
				continue
			}
			r, err := Prepare(p, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Seal(p[:prefix]); err != nil {
				t.Fatal(err)
			}
			rec := (*r.bp)[r.start:r.end]
			comp, got, why := parseRecord(rec)
			if why != "" || got != len(rec) {
				t.Fatalf("payload %d, prefix %d: record not parsed (%s; %d of %d bytes)", i, prefix, why, got, len(rec))
			}
			dec, err := s2.Decode(nil, comp)
			if err != nil || !bytes.Equal(dec, p) {
				t.Fatalf("payload %d (%d bytes), prefix %d: decoded %d bytes, err %v; want the payload", i, len(p), prefix, len(dec), err)
			}
			if prefix == 0 && !bytes.Equal(comp, s2.Encode(nil, p)) {
				t.Fatalf("payload %d: without a prefix the record is not s2.Encode's block", i)
			}
			r.Release()
		}
	}
	if _, err := Prepare([]byte("short"), 6); err == nil {
		t.Error("a prefix longer than the payload was prepared")
	}
	r, err := Prepare(make([]byte, 100), MaxPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Seal(make([]byte, 9)); err == nil {
		t.Error("a seal with fewer bytes than prepared succeeded")
	}
}

// TestConcurrentPreparedAppends is the engine's use under -race: writers
// compress in parallel (Prepare), then under the caller's own lock take a
// sequence number, seal it in as the prefix and append — while another
// goroutine rotates the log and others fsync. Replay must return every
// record whole, in the order the numbers were taken: the order of the
// caller's lock, whatever order the compressions finished in.
func TestConcurrentPreparedAppends(t *testing.T) {
	const goroutines, perG = 8, 200
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{SegmentBytes: 32 << 10})
	var (
		mu   sync.Mutex // the caller's lock: its order is the log's
		next uint64
	)
	got := appendWhileRotating(t, w, dir, goroutines, perG, func() bool {
		if _, err := w.Rotate(); err != nil {
			t.Errorf("Rotate: %v", err)
			return false
		}
		return true
	}, func(g, j int) bool {
		body := append(fmt.Appendf(nil, "g=%d j=%d ", g, j), testPayload(g*1000+j)...)
		payload := append(make([]byte, 8), body...)
		r, err := Prepare(payload, 8)
		if err != nil {
			t.Errorf("Prepare: %v", err)
			return false
		}
		mu.Lock()
		var seq [8]byte
		binary.LittleEndian.PutUint64(seq[:], next)
		next++
		err = r.Seal(seq[:])
		var pos Pos
		if err == nil {
			pos, err = w.AppendRecord(r)
		}
		mu.Unlock()
		r.Release()
		if err != nil {
			t.Errorf("append: %v", err)
			return false
		}
		if j%4 == 0 {
			if err := w.Sync(pos); err != nil {
				t.Errorf("Sync: %v", err)
				return false
			}
		}
		return true
	})
	for i, r := range got {
		if len(r.payload) < 8 {
			t.Fatalf("record %d: %d bytes", i, len(r.payload))
		}
		if seq := binary.LittleEndian.Uint64(r.payload); seq != uint64(i) {
			t.Fatalf("record %d of the log carries sequence %d: not the order of the caller's lock", i, seq)
		}
		var g, j int
		if _, err := fmt.Sscanf(string(r.payload[8:]), "g=%d j=%d ", &g, &j); err != nil {
			t.Fatalf("record %d: bad payload: %v", i, err)
		}
		if want := append(fmt.Appendf(nil, "g=%d j=%d ", g, j), testPayload(g*1000+j)...); !bytes.Equal(r.payload[8:], want) {
			t.Fatalf("record %d (g=%d j=%d) damaged", i, g, j)
		}
	}
}

// BenchmarkAppendCriticalSection: the time an append holds the caller's
// lock, for a record the size of a dashboard loader's write (5,000 TSBS
// cpu rows, about 1.3 MB encoded): "compress inside" is Append, all of
// it under the lock as the engine called it; "ordered step" is Seal and
// AppendRecord, what the engine now does under its lock after compressing
// with Prepare before it. The same total work; less of it serialized.
func BenchmarkAppendCriticalSection(b *testing.B) {
	var payload []byte
	for i := 0; len(payload) < 1300<<10; i++ {
		payload = fmt.Appendf(payload, "cpu,hostname=host_%d,region=eu-west-%d,datacenter=eu-west-%dc,rack=%d,os=Ubuntu16.10,arch=x64,team=SF,service=%d,service_version=1,service_environment=test usage_user=%d,usage_system=%d,usage_idle=%d,usage_nice=%d,usage_iowait=%d 1767225600%09d\n",
			i%100, i%3, i%3, i%100, i%20, i*7%100, i*13%100, i*17%100, i*3%100, i*11%100, i)
	}
	for _, inside := range []bool{true, false} {
		name := "ordered step"
		if inside {
			name = "compress inside"
		}
		b.Run(name, func(b *testing.B) {
			w := mustOpen(b, b.TempDir(), Options{NoSync: true, SegmentBytes: 64 << 20})
			defer mustClose(b, w)
			b.SetBytes(int64(len(payload)))
			var held time.Duration
			for b.Loop() {
				if inside {
					start := time.Now()
					if _, err := w.Append(payload); err != nil {
						b.Fatal(err)
					}
					held += time.Since(start)
					continue
				}
				r, err := Prepare(payload, 9)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := r.Seal(payload[:9]); err != nil {
					b.Fatal(err)
				}
				if _, err := w.AppendRecord(r); err != nil {
					b.Fatal(err)
				}
				held += time.Since(start)
				r.Release()
			}
			b.ReportMetric(float64(held.Microseconds())/float64(b.N), "µs-locked/op")
		})
	}
}
