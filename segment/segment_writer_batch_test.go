package segment

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// A SegmentWriter cuts pages and row groups at the same rows whatever its
// batch, so the engine's rollup writers batch a page of rows rather than a
// row group: the files are the same bytes.
func TestSegmentWriterBatchKeepsBytes(t *testing.T) {
	s := RollupSchema([]string{"host"}, []columnar.FieldSchema{{Name: "a", Type: columnar.FieldFloat}, {Name: "n", Type: columnar.FieldInt}})
	write := func(batch int) []byte {
		p := filepath.Join(t.TempDir(), "x.parquet")
		sw, err := NewSegmentWriter(p, "db", "t", s, batch)
		if err != nil {
			t.Fatal(err)
		}
		var pt columnar.Point
		for h := range 7 { // more rows than a row group, series across pages
			for i := range 11000 {
				pt.Time = int64(i) * 1e9
				pt.Tags = append(pt.Tags[:0], columnar.TagValue{Key: "host", Value: fmt.Sprint("h", h)})
				pt.Fields = append(pt.Fields[:0],
					columnar.FieldValue{Key: RollupRows, Type: columnar.FieldInt, Num: uint64(i%5 + 1)},
					columnar.FieldValue{Key: RollupColumn("a", PartCount), Type: columnar.FieldInt, Num: uint64(i % 3)},
					columnar.FieldValue{Key: RollupColumn("a", PartSum), Type: columnar.FieldFloat, Num: uint64(i * 7)})
				if err := sw.Append(&pt); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := sw.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if a, b := write(RowGroupRows), write(PageRows); !bytes.Equal(a, b) {
		t.Fatalf("batches of a row group wrote %d bytes, of a page %d, not the same", len(a), len(b))
	}
}
