package exec

import (
	"slices"

	"github.com/siltdb/silt/query/sql"
)

// Materialize grows the table's columns together, by reserve, rather than
// each by append: appends double every array on their own and the
// budget saw only the arrays kept, never the old ones being copied from
// (a table of millions of raw rows held, while it grew, its columns and
// their doubled copies beside them). reserve sizes every column to one
// capacity, past a million rows grows it by half rather than double, and
// charges the new arrays to the shared budget before it allocates them,
// the old ones still counted until they are copied.

// rowCapBytes is what one row of capacity takes in the table's columns,
// as heldBytes counts it: time, a dictionary id and a null flag per tag,
// a value and a null flag per field.
func (t *table) rowCapBytes() int64 {
	n := int64(8 + 5*len(t.tags))
	for _, fc := range t.flds {
		n += 1 + elemBytes(fc.typ)
	}
	return n
}

// elemBytes is the size of a value of a field column of type typ.
func elemBytes(typ sql.Type) int64 {
	switch typ {
	case sql.TypeBool:
		return 1
	case sql.TypeString:
		return 16
	case sql.TypeFloat64, sql.TypeInt64, sql.TypeUint64:
		return 8
	}
	return 0
}

// bigTable is the row count past which columns grow by half, not double:
// over a million rows, the old arrays and the new are both held while
// one is copied to the other, and a doubling also leaves up to half of
// the new one spare.
const bigTable = 1 << 20

// nextCap is the capacity to grow columns of capacity have to, to hold
// need rows.
func nextCap(have, need int) int {
	c := 2 * have
	if have >= bigTable {
		c = have + have/2
	}
	return max(c, need)
}

// reserve makes every column of t hold at least need rows without
// reallocating. The new capacity is charged to the query's part of the
// shared budget before it is allocated, on top of the old columns (both
// are held while they are copied), and is at most what the query's own
// limit allows when need fits in it (the limit is then not missed for
// capacity the rows never use).
func (t *table) reserve(need int, lim Limits) error {
	if need <= t.capRows {
		return nil
	}
	per := t.rowCapBytes()
	c := nextCap(cap(t.time), need)
	exact := false // when the limit clamps c: no rounding past it
	if lim.MaxMemoryBytes > 0 {
		if most := int(lim.MaxMemoryBytes / per); c > most || int64(c)*per > lim.MaxMemoryBytes/2 {
			c, exact = min(c, max(most, need)), true
		}
	}
	add := int64(c) * per
	if err := lim.res.grow(add); err != nil {
		return err
	}
	// Each array is rounded up to its allocation's size class (as
	// append rounds): the rows of a ragged end, after a batch of
	// partials, then mostly fit in what was allocated anyway.
	t.time = growTo(t.time, c, exact)
	rows := cap(t.time)
	for _, tc := range t.tags {
		tc.ids, tc.null = growTo(tc.ids, c, exact), growTo(tc.null, c, exact)
		rows = min(rows, cap(tc.ids), cap(tc.null))
	}
	for _, fc := range t.flds {
		fc.null = growTo(fc.null, c, exact)
		rows = min(rows, cap(fc.null))
		switch fc.typ {
		case sql.TypeFloat64:
			fc.f = growTo(fc.f, c, exact)
			rows = min(rows, cap(fc.f))
		case sql.TypeInt64:
			fc.i = growTo(fc.i, c, exact)
			rows = min(rows, cap(fc.i))
		case sql.TypeUint64:
			fc.u = growTo(fc.u, c, exact)
			rows = min(rows, cap(fc.u))
		case sql.TypeBool:
			fc.b = growTo(fc.b, c, exact)
			rows = min(rows, cap(fc.b))
		case sql.TypeString:
			fc.s = growTo(fc.s, c, exact)
			rows = min(rows, cap(fc.s))
		}
	}
	t.capRows = rows
	// The old arrays are garbage now: the reservation keeps what the
	// columns hold (heldBytes, as the caller charges it per batch).
	held := t.heldBytes()
	if over := t.bytes + add - held; over > 0 {
		lim.res.Shrink(over)
	} else if err := lim.res.grow(-over); err != nil {
		return err
	}
	t.bytes = held
	return nil
}

// growTo returns s with capacity at least c (s itself when it has that
// already): c exactly when exact, else c rounded up to the size class of
// its allocation.
func growTo[T any](s []T, c int, exact bool) []T {
	if cap(s) >= c {
		return s
	}
	var out []T
	if exact {
		out = make([]T, len(s), c)
	} else {
		// Grown from empty, append allocates c rounded up to the size
		// class, no more (from s it would add its own growth on top).
		out = slices.Grow(out, c)[:len(s)]
	}
	copy(out, s)
	return out
}
