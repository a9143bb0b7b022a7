package pgwire

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// PostgreSQL type OIDs (pg_type.dat) of the types Silt answers with.
const (
	oidBool        = 16
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidFloat4      = 700
	oidFloat8      = 701
	oidVarchar     = 1043
	oidDate        = 1082
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidNumeric     = 1700
	oidName        = 19
	oidChar        = 18
)

// column is one result column: its name and PostgreSQL type.
type column struct {
	name string
	oid  uint32
}

// typeOID maps a result column type (query.Type*) to the PostgreSQL type
// clients see. uint64 is numeric: int8 cannot hold values past 2^63-1,
// and numeric is what PostgreSQL itself uses for wider integers.
func typeOID(t string) uint32 {
	switch t {
	case query.TypeTimestamp:
		return oidTimestamptz
	case query.TypeInteger:
		return oidInt8
	case query.TypeUnsigned:
		return oidNumeric
	case query.TypeFloat:
		return oidFloat8
	case query.TypeBoolean:
		return oidBool
	}
	return oidText
}

// planOID is typeOID for a planner type, for describing a statement
// before it runs.
func planOID(t sql.Type) uint32 {
	switch t {
	case sql.TypeTimestamp:
		return oidTimestamptz
	case sql.TypeInt64:
		return oidInt8
	case sql.TypeUint64:
		return oidNumeric
	case sql.TypeFloat64:
		return oidFloat8
	case sql.TypeBool:
		return oidBool
	}
	return oidText
}

// typeSize is pg_type.typlen: the width of fixed-size types, -1 for
// variable ones.
func typeSize(oid uint32) int16 {
	switch oid {
	case oidBool, oidChar:
		return 1
	case oidInt2:
		return 2
	case oidInt4, oidFloat4, oidOID, oidDate:
		return 4
	case oidInt8, oidFloat8, oidTimestamp, oidTimestamptz:
		return 8
	case oidName:
		return 64
	}
	return -1
}

// binaryOK reports whether values of oid have a binary encoding here;
// a client asking binary for another type gets text (which every client
// that asks binary by OID also decodes).
func binaryOK(oid uint32) bool {
	switch oid {
	case oidBool, oidInt8, oidFloat8, oidText, oidTimestamptz, oidNumeric, oidInt4, oidOID, oidName, oidVarchar:
		return true
	}
	return false
}

// pgEpoch is PostgreSQL's timestamp origin: binary timestamps count
// microseconds from it.
var pgEpochMicros = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// appendText appends v in PostgreSQL's text output format for oid (with
// DateStyle ISO and TimeZone UTC, the settings the session reports).
func appendText(dst []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(dst, x...)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case float64:
		return appendFloat8(dst, x)
	case bool:
		if x {
			return append(dst, 't')
		}
		return append(dst, 'f')
	case time.Time:
		return appendTimestamptz(dst, x)
	case int32:
		return strconv.AppendInt(dst, int64(x), 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10)
	}
	return append(dst, query.FormatValue(v)...)
}

// appendFloat8 writes a float8 as PostgreSQL 12 and later do with the
// default extra_float_digits: the shortest text that reads back to the
// same value, in exponent form below 1e-4 and from 1e15 on, with
// "Infinity", "-Infinity" and "NaN" spelled out.
func appendFloat8(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e15) {
		return strconv.AppendFloat(dst, f, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// appendTimestamptz writes t as PostgreSQL's ISO output in UTC:
// "2024-01-02 03:04:05.123456789+00". Silt keeps nanoseconds, PostgreSQL
// microseconds: the fraction has as many digits as it needs, up to nine.
func appendTimestamptz(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y < 1 {
		// Year 0 is 1 BC, as PostgreSQL writes it.
		dst = t.AddDate(1-2*y, 0, 0).AppendFormat(dst, "2006-01-02 15:04:05.999999999")
		return append(dst, "+00 BC"...)
	}
	dst = t.AppendFormat(dst, "2006-01-02 15:04:05.999999999")
	return append(dst, "+00"...)
}

// appendBinary appends v's binary encoding for oid (without the length
// word); ok is false when v has none here, and the caller sends text.
func appendBinary(dst []byte, oid uint32, v any) ([]byte, bool) {
	switch x := v.(type) {
	case int64:
		switch oid {
		case oidInt8:
			return binary.BigEndian.AppendUint64(dst, uint64(x)), true
		case oidNumeric:
			if x >= 0 {
				return appendNumericUint(dst, uint64(x)), true
			}
		}
	case uint64:
		if oid == oidNumeric {
			return appendNumericUint(dst, x), true
		}
		if oid == oidInt8 && x <= math.MaxInt64 {
			return binary.BigEndian.AppendUint64(dst, x), true
		}
	case float64:
		if oid == oidFloat8 {
			if x != x {
				// PostgreSQL's one NaN (Go's math.NaN has another payload).
				return binary.BigEndian.AppendUint64(dst, 0x7ff8000000000000), true
			}
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(x)), true
		}
	case bool:
		if oid == oidBool {
			if x {
				return append(dst, 1), true
			}
			return append(dst, 0), true
		}
	case time.Time:
		if oid == oidTimestamptz {
			// Microseconds, PostgreSQL's resolution: the nanoseconds
			// below are dropped (floor, as UnixMicro does).
			us := x.UnixMicro() - pgEpochMicros
			return binary.BigEndian.AppendUint64(dst, uint64(us)), true
		}
	case string:
		if oid == oidText || oid == oidVarchar || oid == oidName {
			return append(dst, x...), true
		}
	case uint32:
		if oid == oidOID {
			return binary.BigEndian.AppendUint32(dst, x), true
		}
	case int32:
		if oid == oidInt4 {
			return binary.BigEndian.AppendUint32(dst, uint32(x)), true
		}
	}
	return dst, false
}

// appendNumericUint appends the binary numeric of a non-negative integer:
// ndigits, weight, sign, dscale (int16 each), then base-10000 digits, most
// significant first, without trailing zero digits.
func appendNumericUint(dst []byte, u uint64) []byte {
	var digits [5]uint16 // 2^64 has 20 decimal digits: five base-10000 digits
	n := 0
	for v := u; v > 0; v /= 10000 {
		digits[n] = uint16(v % 10000)
		n++
	}
	weight := n - 1
	// Trailing (least significant) zero digits are implied by weight.
	lo := 0
	for lo < n && digits[lo] == 0 {
		lo++
	}
	nd := n - lo
	dst = binary.BigEndian.AppendUint16(dst, uint16(nd))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(max(weight, 0))))
	dst = binary.BigEndian.AppendUint16(dst, 0) // positive
	dst = binary.BigEndian.AppendUint16(dst, 0) // dscale: no fraction
	for i := n - 1; i >= lo; i-- {
		dst = binary.BigEndian.AppendUint16(dst, digits[i])
	}
	return dst
}
