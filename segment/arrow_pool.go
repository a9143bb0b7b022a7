package segment

import (
	"math/bits"
	"os"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arrowPool is an Arrow allocator that recycles the buffers Arrow frees.
// Decoding a segment allocates a fresh buffer per column per batch (values,
// validity, dictionary indices, decompressed pages); with Go's allocator
// every one of them is garbage a batch later, and a query decoding a
// day's raw segment spent most of its time allocating, zeroing and
// collecting them (BenchmarkRollups, the unaligned case). Buffers are kept
// in power-of-two size classes and zeroed when handed out again, as Go's
// allocator would give them; 64-byte aligned, as Arrow expects.
//
// Arrow frees a buffer when its last reference is released: ScanRowGroups's
// callers must not keep a batch's slices past the callback (its contract
// already).
type arrowPool struct {
	classes [maxPoolClass + 1]sync.Pool // of *[]byte with cap 1<<class
	// poison (SILT_DEBUG_POISON_FREED=1, for test runs) fills freed
	// buffers with 0xA5 and never hands them out again: a slice kept past
	// its release then reads garbage, and the oracle tests see it.
	poison bool
}

const (
	minPoolClass = 6  // 64 bytes
	maxPoolClass = 26 // 64 MiB; larger buffers are not kept
	poolAlign    = 64
)

// segmentAlloc is the allocator of segment scans.
var segmentAlloc memory.Allocator = &arrowPool{poison: os.Getenv("SILT_DEBUG_POISON_FREED") == "1"}

func poolClass(size int) int {
	return max(bits.Len(uint(size-1)), minPoolClass)
}

// Allocate returns size zeroed bytes, 64-byte aligned.
func (p *arrowPool) Allocate(size int) []byte {
	if size <= 0 {
		return []byte{}
	}
	c := poolClass(size)
	if c <= maxPoolClass {
		if v := p.classes[c].Get(); v != nil {
			b := (*v.(*[]byte))[:size]
			clear(b)
			return b
		}
	}
	n := size
	if c <= maxPoolClass {
		n = 1 << c
	}
	buf := make([]byte, n+poolAlign)
	shift := int(-uintptr(unsafe.Pointer(unsafe.SliceData(buf))) & (poolAlign - 1))
	return buf[shift : shift+size : shift+n]
}

// Reallocate grows or shrinks b, keeping its contents.
func (p *arrowPool) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free keeps b for a later Allocate of its class.
func (p *arrowPool) Free(b []byte) {
	b = b[:cap(b)]
	if p.poison {
		for i := range b {
			b[i] = 0xA5
		}
		return
	}
	c := bits.Len(uint(cap(b))) - 1 // the class b can serve in full
	if c < minPoolClass || c > maxPoolClass || cap(b) != 1<<c {
		return // not one of ours (or too large to keep)
	}
	p.classes[c].Put(&b)
}
