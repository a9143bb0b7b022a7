package segment

import (
	"fmt"
	"math"
	"testing"
	"unsafe"

	"github.com/siltdb/silt/columnar"
)

// A chunked column keeps every value across chunk cuts, a view taken
// before a cut keeps its rows, a duplicate key on a chunk's first row
// rewrites that row, and the bytes push reports are exactly the chunks'
// arrays plus their list entries.
func TestFieldColumnChunks(t *testing.T) {
	for _, typ := range []columnar.FieldType{columnar.FieldFloat, columnar.FieldString} {
		t.Run(typ.String(), func(t *testing.T) {
			var b columnar.Batch
			c := &fieldColumn{typ: typ}
			var accounted int64
			value := func(i int) string { return fmt.Sprint("v", i) }
			add := func(i int) {
				if i%3 == 0 {
					accounted += c.push(0, nil, false)
					return
				}
				b.Reset()
				b.StartRow([]byte("m"), 0)
				if typ == columnar.FieldString {
					b.AddString([]byte("f"), []byte(value(i)))
				} else {
					b.AddFloat([]byte("f"), float64(i))
				}
				b.EndRow(0)
				f := b.RowFields(&b.Rows[0])[0]
				accounted += c.append(&b, &f)
			}
			check := func(c *fieldColumn, n int) {
				t.Helper()
				for i := 0; i < n+3; i++ {
					has := i < n && i%3 != 0
					if c.isValid(i) != has {
						t.Fatalf("row %d of %d: valid %v", i, n, !has)
					}
					if !has {
						continue
					}
					if typ == columnar.FieldString {
						if got := string(c.strAt(i)); got != value(i) {
							t.Fatalf("row %d: %q", i, got)
						}
					} else if got := c.numAt(i); got != math.Float64bits(float64(i)) {
						t.Fatalf("row %d: %x", i, got)
					}
				}
			}
			const before = chunkRows + 70
			for i := 0; i < before; i++ {
				add(i)
			}
			v := new(fieldColumn)
			c.viewTo(v)
			const n = 3*chunkRows + 5
			for i := before; i < n; i++ {
				add(i)
			}
			check(c, n)
			check(v, before)
			if len(c.full) != 3 {
				t.Fatalf("%d full chunks, want 3", len(c.full))
			}
			want := chunkBytes(&c.cur)
			for _, ch := range c.full {
				want += chunkBytes(ch) + int64(unsafe.Sizeof(colChunk{})) + 8
			}
			if accounted != want {
				t.Fatalf("accounted %d bytes, the chunks hold %d", accounted, want)
			}
			// A duplicate key on the first row of a chunk.
			for c.n < 4*chunkRows+1 {
				add(c.n)
			}
			b.Reset()
			b.StartRow([]byte("m"), 0)
			if typ == columnar.FieldString {
				b.AddString([]byte("f"), []byte("again"))
			} else {
				b.AddFloat([]byte("f"), -1)
			}
			b.EndRow(0)
			f := b.RowFields(&b.Rows[0])[0]
			c.setLast(&b, &f)
			last := c.n - 1
			if typ == columnar.FieldString && string(c.strAt(last)) != "again" ||
				typ != columnar.FieldString && c.numAt(last) != math.Float64bits(-1) {
				t.Fatalf("setLast on row %d did not rewrite it", last)
			}
		})
	}
}
