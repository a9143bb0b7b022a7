package ndjson

import (
	"testing"

	"github.com/siltdb/silt/columnar"
)

// BenchmarkDecode decodes 1000 TSBS cpu rows (10 string tags, 10 float
// fields, nanosecond integer times) per op, nested and flat.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
		opt  Options
	}{
		{"nested", tsbsCPU(1000, true), Options{Now: now}},
		{"flat", tsbsCPU(1000, false), Options{Now: now}},
		{"flat-tagkeys", tsbsCPU(1000, false), Options{Now: now, TagKeys: tsbsTagKeys}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var batch columnar.Batch
			fail := func(e columnar.LineError) { b.Fatalf("line %d: %s", e.Line, e.Reason) }
			Decode(bc.body, &batch, bc.opt, fail) // grow the batch outside the measurement
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				batch.Reset()
				if n := Decode(bc.body, &batch, bc.opt, fail); n != 1000 {
					b.Fatalf("decoded %d rows", n)
				}
			}
		})
	}
}
