package segment

import (
	"fmt"
	"math"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// Every spanBlocks sealed blocks with partials combine them into a span's
// partials, of sparse series (50 hosts, a row each every 10 s: hourly
// spans) and of a dense stream (4 hosts, a row each every 10 ms: spans of
// one-second partials); reads at widths the spans nest in give the
// aggregates of the rows, over ranges that cut spans and blocks.
func TestHeadSpanRollups(t *testing.T) {
	for _, c := range []struct {
		name   string
		hosts  int
		step   int64 // between two rows of one host
		rows   int
		span   int64 // the spans' width
		widths []int64
	}{
		{"sparse", 50, 10e9, 2*spanBlocks*blockRows + 300, 3600e9, []int64{3600e9, 86400e9}},
		{"dense", 4, 1e7, spanBlocks*blockRows + 500, 1e9, []int64{1e9, 10e9}},
	} {
		s := columnar.NewTableSchema()
		h := NewHead(s)
		var b columnar.Batch
		for i := range c.rows {
			b.StartRow([]byte("cpu"), i+1)
			b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", i%c.hosts))
			b.AddFloat([]byte("usage"), float64(i%997)/3)
			b.EndRow(int64(i/c.hosts) * c.step)
		}
		admitAll(t, s, h, &b)
		if len(h.spans) == 0 || h.spans[0] == nil || h.spans[0].roll.width != c.span {
			t.Fatalf("%s: no span of width %d (spans %d)", c.name, c.span, len(h.spans))
		}
		for _, width := range c.widths {
			for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {width, 3 * width}} {
				for _, tags := range []map[string][]string{nil, {"host": {"h01", "h03"}}} {
					for _, perSeries := range []bool{true, false} {
						name := fmt.Sprintf("%s width=%d range=%v tags=%v perSeries=%v", c.name, width, r, tags, perSeries)
						checkRollup(t, name, h, tags, perSeries, r[0], r[1], width)
					}
				}
			}
		}
	}
}

// BenchmarkHeadScanRollup reads hourly partials of one field by host over
// 12 hours of a head of TSBS-shaped rows (100 hosts, a row each every
// 10 s, a day): TSBS's double-groupby-1 over the head, from the span
// rollups and, for comparison, from the blocks' alone.
func BenchmarkHeadScanRollup(b *testing.B) {
	const hosts = 100
	h := tsbsShapedHead(b, hosts, "usage_user")
	for _, mode := range []string{"spans", "blocks"} {
		b.Run(mode, func(b *testing.B) {
			v := h.View()
			if mode == "blocks" {
				v.spans = nil
			}
			for b.Loop() {
				n := 0
				err := v.ScanRollup([]string{"hostname", "usage_user"}, nil, 4*3600e9, 16*3600e9, 3600e9, 1024, func(cb *columnar.ColumnBatch) error {
					n += cb.Len
					return nil
				})
				if err != nil || n != hosts*12 {
					b.Fatalf("%d partials, %v", n, err)
				}
			}
		})
	}
}

// tsbsShapedHead is a head of TSBS-shaped rows: hosts hosts, a row each
// every 10 s for a day, with the float fields named.
func tsbsShapedHead(b *testing.B, hosts int, fields ...string) *Head {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var batch columnar.Batch
	const steps = 8640
	for i := range hosts * steps {
		batch.StartRow([]byte("cpu"), i+1)
		batch.AddTag([]byte("hostname"), fmt.Appendf(nil, "host_%d", i%hosts))
		for _, f := range fields {
			batch.AddFloat([]byte(f), float64(i%997)/3)
		}
		batch.EndRow(int64(i/hosts) * 10e9)
	}
	admitAll(b, s, h, &batch)
	return h
}
