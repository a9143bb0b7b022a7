package influxql

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendJSONRowMatchesMarshal checks the row encoder against
// encoding/json on values of every type and magnitude, strings with every
// kind of byte, and the values Marshal refuses.
func TestAppendJSONRowMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vals := []any{nil, "", "host_7", "a\"b", `a\b`, "<&>", "é", "\u2028", "\x00\x1f\x7f", "\xff", true, false,
		int64(0), int64(math.MinInt64), int64(math.MaxInt64), uint64(math.MaxUint64),
		0.0, math.Copysign(0, -1), 1.0, -1.5, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 1e20, 1e21, 1.2345e22, -1e300, math.SmallestNonzeroFloat64, math.MaxFloat64, 90.00000000000001,
		time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC), int32(5), []int{1}}
	for range 2000 {
		vals = append(vals, math.Float64frombits(r.Uint64()), r.NormFloat64()*math.Pow(10, float64(r.IntN(60)-30)), r.Int64()-r.Int64())
		s := make([]byte, r.IntN(6))
		for i := range s {
			s[i] = byte(r.IntN(256))
		}
		vals = append(vals, string(s))
	}
	for i, v := range vals {
		row := []any{v, "x", v}
		want, werr := json.Marshal(row)
		got, gerr := appendJSONRow(nil, row)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("value %d (%#v): error %v, Marshal's %v", i, v, gerr, werr)
		}
		if werr == nil && string(got) != string(want) {
			t.Fatalf("value %d (%#v): %s, Marshal writes %s", i, v, got, want)
		}
	}
}

// BenchmarkAppendJSONRow encodes a TSBS cpu row (time, ten tags, ten
// integer fields) as /query writes it, against encoding/json.
func BenchmarkAppendJSONRow(b *testing.B) {
	row := []any{int64(1451606400000000000)}
	for range 10 {
		row = append(row, "host_7")
	}
	for i := range 10 {
		row = append(row, float64(i*11))
	}
	b.Run("append", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = appendJSONRow(buf[:0], row)
		}
	})
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(row)
		}
	})
}
