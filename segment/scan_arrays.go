package segment

import (
	"math"
	"sync"

	"github.com/siltdb/silt/columnar"
)

// scanArrays recycles the arrays a head's row scan gathers its batches
// into (scanRange): times, tag ids and the typed values of each field.
// A scan reuses its batch from one flush to the next already; across
// scans the arrays were new each time, and a high-cpu query over a day in
// the head spent a fifth of its CPU zeroing them (large allocations are
// cleared by the runtime, and fresh pages are faulted in on this kind of
// VM). A scan's batches are its consumers' only during their calls — the
// same contract that lets it reuse the batch between flushes — so once
// the scan returns its arrays are free.
type scanArrays struct {
	times []int64
	ids   [][]int32
	f     [][]float64
	i     [][]int64
	u     [][]uint64
	b     [][]bool
	s     [][]string
}

var scanArrayPool sync.Pool

// maxPooledScanBytes bounds what one scanArrays keeps: a scan of wider
// batches gives its arrays to the collector instead.
const maxPooledScanBytes = 4 << 20

// recycleScanArrays and poisonScanArrays are test switches: off, every scan
// makes its arrays; poisoned, arrays given back are overwritten, so that a
// batch read after its scan returned shows garbage.
var recycleScanArrays, poisonScanArrays = true, false

func takeScanArrays() *scanArrays {
	if !recycleScanArrays {
		return nil
	}
	if a, _ := scanArrayPool.Get().(*scanArrays); a != nil {
		return a
	}
	return &scanArrays{}
}

// lend gives b's vectors the arrays a holds: each vector only the slice of
// its own type (a batch's ArrayBytes must not count another type's array).
func (a *scanArrays) lend(b *columnar.ColumnBatch) {
	if a == nil {
		return
	}
	b.Time, a.times = a.times[:0], nil
	for j := range b.Tags {
		b.Tags[j].IDs = popTyped(&a.ids)
	}
	for j := range b.Fields {
		fv := &b.Fields[j]
		switch fv.Type {
		case columnar.FieldFloat:
			fv.F = popTyped(&a.f)
		case columnar.FieldInt:
			fv.I = popTyped(&a.i)
		case columnar.FieldUint:
			fv.U = popTyped(&a.u)
		case columnar.FieldBool:
			fv.B = popTyped(&a.b)
		case columnar.FieldString:
			fv.S = popTyped(&a.s)
		}
	}
}

// maxPooledScanArrays bounds the arrays of one type a scanArrays keeps.
const maxPooledScanArrays = 64

func keepTyped[T any](s [][]T, x []T) [][]T {
	if x == nil || len(s) >= maxPooledScanArrays {
		return s
	}
	return append(s, x)
}

func popTyped[T any](s *[][]T) []T {
	if n := len(*s); n > 0 {
		x := (*s)[n-1]
		*s = (*s)[:n-1]
		return x[:0]
	}
	return nil
}

// give takes b's arrays back into a and returns a to the pool, unless
// they are larger than maxPooledScanBytes. b must not be read after.
func (a *scanArrays) give(b *columnar.ColumnBatch) {
	if a == nil {
		return
	}
	size := 8 * cap(b.Time)
	for j := range b.Tags {
		size += 4 * cap(b.Tags[j].IDs)
	}
	for j := range b.Fields {
		fv := &b.Fields[j]
		size += 8*(cap(fv.F)+cap(fv.I)+cap(fv.U)) + cap(fv.B) + 16*cap(fv.S)
	}
	if size > maxPooledScanBytes {
		return
	}
	a.times = b.Time
	if poisonScanArrays {
		for i := range a.times[:cap(a.times)] {
			a.times[:cap(a.times)][i] = math.MinInt64 + 7
		}
	}
	for j := range b.Tags {
		ids := b.Tags[j].IDs
		if poisonScanArrays {
			for i := range ids[:cap(ids)] {
				ids[:cap(ids)][i] = math.MaxInt32
			}
		}
		a.ids = keepTyped(a.ids, ids)
	}
	for j := range b.Fields {
		fv := &b.Fields[j]
		if poisonScanArrays {
			for i := range fv.F[:cap(fv.F)] {
				fv.F[:cap(fv.F)][i] = math.NaN()
			}
			for i := range fv.I[:cap(fv.I)] {
				fv.I[:cap(fv.I)][i] = -424242
			}
			for i := range fv.U[:cap(fv.U)] {
				fv.U[:cap(fv.U)][i] = 424242
			}
			for i := range fv.S[:cap(fv.S)] {
				fv.S[:cap(fv.S)][i] = "poisoned"
			}
		}
		a.f = keepTyped(a.f, fv.F)
		a.i = keepTyped(a.i, fv.I)
		a.u = keepTyped(a.u, fv.U)
		a.b = keepTyped(a.b, fv.B)
		clear(fv.S[:cap(fv.S)]) // strings of the head: not kept alive
		a.s = keepTyped(a.s, fv.S)
	}
	*b = columnar.ColumnBatch{}
	scanArrayPool.Put(a)
}

// rowArrays recycles the row lists of a head's row scan: those it
// gathers (scanRange, and the rows a filtered scan keeps), the candidates
// a filtered scan tests and the positions its filter returns, up to a
// batch of each, which were a quarter megabyte apiece made new (and
// cleared) per scan. They never leave the scan.
type rowArrays struct {
	kept, cand, pos []int32
}

var rowArrayPool sync.Pool

// maxPooledRows bounds the rows of a pooled list: a scan of wider
// batches gives its lists to the collector instead.
const maxPooledRows = 1 << 20

func takeRowArrays() *rowArrays {
	if a, _ := rowArrayPool.Get().(*rowArrays); a != nil {
		return a
	}
	return &rowArrays{}
}

// give returns a to the pool; it must not be used after.
func (a *rowArrays) give() {
	if cap(a.kept) > maxPooledRows || cap(a.cand) > maxPooledRows || cap(a.pos) > maxPooledRows {
		return
	}
	rowArrayPool.Put(a)
}
