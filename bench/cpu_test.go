package bench

import (
	"bytes"
	"testing"
	"time"
)

func TestCPUDeterministicAndShaped(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := NewCPU(50, start, 10*time.Second, 7).AppendInterval(nil)
	b := NewCPU(50, start, 10*time.Second, 7).AppendInterval(nil)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different bytes")
	}
	if c := NewCPU(50, start, 10*time.Second, 8).AppendInterval(nil); bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same bytes")
	}
	lines := bytes.Split(bytes.TrimSuffix(a, []byte("\n")), []byte("\n"))
	if len(lines) != 50 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if n := bytes.Count(l, []byte(",")); n != 19 {
			t.Fatalf("line has %d commas, want 10 tags + 10 fields: %s", n, l)
		}
	}
	avg := len(a) / len(lines)
	if avg < 280 || avg > 400 {
		t.Errorf("average line %d bytes, TSBS cpu rows are about 345", avg)
	}
	for _, l := range lines {
		_, fields, _ := bytes.Cut(l, []byte(" "))
		fields, _, _ = bytes.Cut(fields, []byte(" "))
		if n := bytes.Count(fields, []byte("i,")) + bytes.Count(fields[len(fields)-1:], []byte("i")); n != 10 {
			t.Fatalf("%d integer fields, want TSBS's 10 (usage_user=58i): %s", n, fields)
		}
	}
}
