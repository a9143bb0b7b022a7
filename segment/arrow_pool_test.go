package segment

import (
	"testing"
	"unsafe"
)

func TestArrowPool(t *testing.T) {
	p := &arrowPool{}
	aligned := func(b []byte) bool { return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%poolAlign == 0 }
	for _, size := range []int{1, 63, 64, 65, 1000, 4096, 100_000} {
		b := p.Allocate(size)
		if len(b) != size || !aligned(b) {
			t.Fatalf("Allocate(%d): len %d, aligned %v", size, len(b), aligned(b))
		}
		for i := range b {
			b[i] = 0xFF
		}
		p.Free(b)
		// A freed buffer of the class comes back zeroed (sync.Pool may
		// also drop it: either way the bytes must be zero and aligned).
		c := p.Allocate(size)
		if !aligned(c) {
			t.Fatalf("reallocated %d bytes unaligned", size)
		}
		for i, v := range c {
			if v != 0 {
				t.Fatalf("Allocate(%d) after a Free: byte %d is %#x, want 0", size, i, v)
			}
		}
		p.Free(c)
	}
	// Reallocate keeps the contents and zeroes what it adds.
	b := p.Allocate(10)
	copy(b, "0123456789")
	b = p.Reallocate(40, b)
	if string(b[:10]) != "0123456789" || len(b) != 40 {
		t.Fatalf("grown within the class: %q", b)
	}
	for _, v := range b[10:] {
		if v != 0 {
			t.Fatalf("grown bytes not zero: %v", b[10:])
		}
	}
	b = p.Reallocate(5000, b)
	if string(b[:10]) != "0123456789" || len(b) != 5000 || !aligned(b) {
		t.Fatalf("grown past the class: %q… len %d", b[:10], len(b))
	}
	// Buffers not of a class size (another allocator's) are not kept.
	p.Free(make([]byte, 100))
	if c := p.Allocate(100); cap(c) != 128 {
		t.Fatalf("Allocate(100) has cap %d, want its class's 128", cap(c))
	}
	// Poisoning fills freed buffers and never hands them out again.
	pp := &arrowPool{poison: true}
	d := pp.Allocate(256)
	pp.Free(d)
	if d[0] != 0xA5 || d[255] != 0xA5 {
		t.Fatalf("poisoned buffer holds %#x…%#x", d[0], d[255])
	}
	if e := pp.Allocate(256); &e[0] == &d[0] {
		t.Fatal("a poisoned buffer was handed out again")
	}
}
