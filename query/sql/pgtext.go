package sql

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Text forms of values as PostgreSQL 15 prints them (casts to text, ||,
// concat, and interval results), with the session in UTC.

// FormatFloat8 is double precision output: the shortest text that reads
// back exactly, in exponent form below 1e-4 and from 1e15 on.
func FormatFloat8(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0"
		}
		return "0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp < -4 || exp >= 15 {
		mant := e[:i]
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		es := strconv.Itoa(exp)
		if len(es) < 2 {
			es = "0" + es
		}
		return mant + "e" + sign + es
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// FormatTimestamptz is timestamptz output in UTC: "2026-01-02
// 03:04:05.123456+00" (the fraction trimmed of trailing zeros; Silt's
// nanoseconds beyond the microsecond are kept).
func FormatTimestamptz(ns int64) string {
	switch ns {
	case math.MinInt64:
		return "-infinity"
	case math.MaxInt64:
		return "infinity"
	}
	t := time.Unix(0, ns).UTC()
	return t.Format("2006-01-02 15:04:05.999999999") + "+00"
}

// FormatInterval is interval output in PostgreSQL's default style:
// "1 year 2 mons 3 days 04:05:06.5", "-1 days -02:00:00", "00:00:00".
func FormatInterval(months, days, nanos int64) string {
	var parts []string
	if y := months / 12; y != 0 {
		parts = append(parts, plural(y, "year"))
	}
	if m := months % 12; m != 0 {
		parts = append(parts, plural(m, "mon"))
	}
	if days != 0 {
		parts = append(parts, plural(days, "day"))
	}
	if nanos != 0 || len(parts) == 0 {
		neg := nanos < 0
		u := uint64(nanos)
		if neg {
			u = uint64(-nanos)
		}
		h := u / uint64(time.Hour)
		u -= h * uint64(time.Hour)
		m := u / uint64(time.Minute)
		u -= m * uint64(time.Minute)
		s := u / uint64(time.Second)
		frac := u - s*uint64(time.Second)
		var b strings.Builder
		if neg {
			b.WriteByte('-')
		} else if len(parts) > 0 && (months < 0 || days < 0) {
			b.WriteByte('+')
		}
		b.WriteString(pad2(h))
		b.WriteByte(':')
		b.WriteString(pad2(m))
		b.WriteByte(':')
		b.WriteString(pad2(s))
		if frac != 0 {
			f := strconv.FormatUint(frac+uint64(time.Second), 10)[1:] // 9 digits
			b.WriteByte('.')
			b.WriteString(strings.TrimRight(f, "0"))
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " ")
}

func plural(n int64, unit string) string {
	s := strconv.FormatInt(n, 10) + " " + unit
	if n != 1 {
		s += "s"
	}
	return s
}

func pad2(n uint64) string {
	if n < 10 {
		return "0" + strconv.FormatUint(n, 10)
	}
	return strconv.FormatUint(n, 10)
}

// FormatBool is boolean output as text ("true"/"false").
func FormatBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
