package influxql

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/siltdb/silt/query"
)

// appendJSONRow appends row as encoding/json's Marshal writes a []any,
// byte for byte, without its reflection and per-row buffer: a large
// /query answer (SELECT * over hours of many hosts) is tens of thousands
// of rows. Values of the types queries produce — nil, strings, float64,
// int64, uint64, bool — are written here; anything else, and anything
// Marshal would escape or refuse (HTML characters, control or non-ASCII
// bytes, NaN), goes through Marshal itself.
func appendJSONRow(b []byte, row []any) ([]byte, error) {
	b = append(b, '[')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		b, ok = appendJSONValue(b, v)
		if !ok {
			var err error
			if b, err = appendMarshal(b, v); err != nil {
				return b, err
			}
		}
	}
	return append(b, ']'), nil
}

// appendJSONValue appends v as Marshal would, or reports false (b
// unchanged) for a value it leaves to Marshal.
func appendJSONValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return query.AppendJSONString(b, x), true
	case float64:
		return appendJSONFloat(b, x)
	case int64:
		return appendJSONInt(b, x), true
	case uint64:
		return strconv.AppendUint(b, x, 10), true
	case bool:
		return strconv.AppendBool(b, x), true
	}
	return b, false
}

func appendJSONInt(b []byte, x int64) []byte { return strconv.AppendInt(b, x, 10) }

// appendJSONFloat appends x as Marshal would, or reports false (b
// unchanged) for NaN and infinities, which Marshal refuses.
func appendJSONFloat(b []byte, x float64) ([]byte, bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return b, false
	}
	// encoding/json's float format: shortest 'f', or 'e' for very
	// small and very large magnitudes, with a one-digit exponent
	// left unpadded (1e-07 → 1e-7).
	format := byte('f')
	if a := math.Abs(x); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, x, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendMarshal appends v as Marshal writes it, with its error for a
// value Marshal refuses.
func appendMarshal(b []byte, v any) ([]byte, error) {
	enc, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}
