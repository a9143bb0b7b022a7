package sql

import (
	"math"
	"time"
)

// Calendar functions shared by the planner (constant folding) and the
// executor (per row). Timestamps are nanoseconds since the epoch; ±infinity
// are math.MinInt64/MaxInt64.

// extractUnits are the canonical fields of EXTRACT and date_part.
var extractUnits = map[string]bool{
	"microseconds": true, "milliseconds": true, "second": true, "minute": true, "hour": true,
	"day": true, "week": true, "month": true, "quarter": true, "year": true, "decade": true,
	"century": true, "millennium": true, "epoch": true, "dow": true, "isodow": true, "doy": true,
	"isoyear": true,
}

// truncUnits are the canonical units of date_trunc.
var truncUnits = map[string]bool{
	"microseconds": true, "milliseconds": true, "second": true, "minute": true, "hour": true,
	"day": true, "week": true, "month": true, "quarter": true, "year": true, "decade": true,
	"century": true, "millennium": true,
}

// canonicalUnit maps a field or unit name as PostgreSQL accepts it
// ("hours", "min", "y", "DOW", ...) to its canonical name.
func canonicalUnit(name string) (string, bool) {
	switch name {
	case "epoch", "dow", "isodow", "doy", "isoyear":
		return name, true
	}
	u, ok := units[name]
	if !ok {
		return "", false
	}
	switch {
	case u.months == 1:
		return "month", true
	case u.months == 3:
		return "quarter", true
	case u.months == 12:
		return "year", true
	case u.months == 120:
		return "decade", true
	case u.months == 1200:
		return "century", true
	case u.months == 12000:
		return "millennium", true
	case u.days == 1:
		return "day", true
	case u.days == 7:
		return "week", true
	case u.nanos == 1e3:
		return "microseconds", true
	case u.nanos == 1e6:
		return "milliseconds", true
	case u.nanos == 1e9:
		return "second", true
	case u.nanos == 60e9:
		return "minute", true
	case u.nanos == 3600e9:
		return "hour", true
	}
	return "", false
}

// TruncTime is date_trunc(unit, t) in loc (nil: UTC): the start of the
// unit holding t's wall-clock time there. Weeks start on Monday; decades,
// centuries and millennia as PostgreSQL counts them (centuries start in
// year 1, 101, ...). Infinity stays.
func TruncTime(t int64, unit string, loc *time.Location) int64 {
	if t == math.MinInt64 || t == math.MaxInt64 {
		return t
	}
	if loc == nil {
		loc = time.UTC
		switch unit { // fixed widths in UTC
		case "microseconds":
			return floorTo(t, 1e3)
		case "milliseconds":
			return floorTo(t, 1e6)
		case "second":
			return floorTo(t, 1e9)
		case "minute":
			return floorTo(t, 60e9)
		case "hour":
			return floorTo(t, 3600e9)
		case "day":
			return floorTo(t, 86400e9)
		}
	}
	tm := time.Unix(0, t).In(loc)
	y, m, d := tm.Date()
	h, mi, s := tm.Clock()
	ns := tm.Nanosecond()
	switch unit {
	case "microseconds":
		ns -= ns % 1000
	case "milliseconds":
		ns -= ns % 1e6
	case "second":
		ns = 0
	case "minute":
		s, ns = 0, 0
	case "hour":
		mi, s, ns = 0, 0, 0
	case "day":
		h, mi, s, ns = 0, 0, 0, 0
	case "week":
		wd := (int(tm.Weekday()) + 6) % 7 // days since Monday
		d -= wd
		h, mi, s, ns = 0, 0, 0, 0
	case "month":
		d, h, mi, s, ns = 1, 0, 0, 0, 0
	case "quarter":
		m = time.Month((int(m)-1)/3*3 + 1)
		d, h, mi, s, ns = 1, 0, 0, 0, 0
	case "year":
		m, d, h, mi, s, ns = 1, 1, 0, 0, 0, 0
	case "decade":
		y -= mod(y, 10)
		m, d, h, mi, s, ns = 1, 1, 0, 0, 0, 0
	case "century":
		y = (y-1)/100*100 + 1
		m, d, h, mi, s, ns = 1, 1, 0, 0, 0, 0
	case "millennium":
		y = (y-1)/1000*1000 + 1
		m, d, h, mi, s, ns = 1, 1, 0, 0, 0, 0
	}
	return time.Date(y, m, d, h, mi, s, ns, loc).UnixNano()
}

func floorTo(t, w int64) int64 {
	r := t % w
	if r < 0 {
		r += w
	}
	return t - r
}

func mod(a, b int) int { return ((a % b) + b) % b }

// ExtractTime is EXTRACT(unit FROM t) for a timestamptz in UTC, as a
// float64 (seconds and epoch carry the fraction).
func ExtractTime(t int64, unit string) float64 {
	switch t {
	case math.MaxInt64:
		if unit == "epoch" || unit == "year" || unit == "isoyear" || unit == "decade" || unit == "century" || unit == "millennium" || unit == "julian" {
			return math.Inf(1)
		}
		return math.NaN()
	case math.MinInt64:
		if unit == "epoch" || unit == "year" || unit == "isoyear" || unit == "decade" || unit == "century" || unit == "millennium" {
			return math.Inf(-1)
		}
		return math.NaN()
	}
	if unit == "epoch" {
		return float64(t/1e9) + float64(t%1e9)/1e9
	}
	tm := time.Unix(0, t).UTC()
	secs := float64(tm.Second()) + float64(tm.Nanosecond())/1e9
	switch unit {
	case "microseconds":
		return float64(tm.Second())*1e6 + float64(tm.Nanosecond())/1e3
	case "milliseconds":
		return float64(tm.Second())*1e3 + float64(tm.Nanosecond())/1e6
	case "second":
		return secs
	case "minute":
		return float64(tm.Minute())
	case "hour":
		return float64(tm.Hour())
	case "day":
		return float64(tm.Day())
	case "month":
		return float64(tm.Month())
	case "quarter":
		return float64((int(tm.Month())-1)/3 + 1)
	case "year":
		return float64(tm.Year())
	case "decade":
		return float64(floorDiv(tm.Year(), 10))
	case "century":
		y := tm.Year()
		if y > 0 {
			return float64((y + 99) / 100)
		}
		return float64(-((99 - (y - 1)) / 100))
	case "millennium":
		y := tm.Year()
		if y > 0 {
			return float64((y + 999) / 1000)
		}
		return float64(-((999 - (y - 1)) / 1000))
	case "dow":
		return float64(tm.Weekday())
	case "isodow":
		wd := int(tm.Weekday())
		if wd == 0 {
			wd = 7
		}
		return float64(wd)
	case "doy":
		return float64(tm.YearDay())
	case "week":
		_, w := tm.ISOWeek()
		return float64(w)
	case "isoyear":
		y, _ := tm.ISOWeek()
		return float64(y)
	}
	return math.NaN()
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// intervalUnits are the fields EXTRACT takes from an interval (the
// intervals Silt computes: timestamp differences, days and time).
var intervalUnits = map[string]bool{"epoch": true, "day": true, "hour": true, "minute": true,
	"second": true, "milliseconds": true, "microseconds": true}

// ExtractInterval is EXTRACT(unit FROM iv) for an interval of nanos
// nanoseconds justified into days and time (as timestamp − timestamp
// gives it).
func ExtractInterval(nanos int64, unit string) float64 {
	if unit == "epoch" {
		return float64(nanos) / 1e9
	}
	days := nanos / 86400e9
	rest := nanos - days*86400e9
	switch unit {
	case "day":
		return float64(days)
	case "hour":
		return float64(rest / 3600e9)
	case "minute":
		return float64(rest % 3600e9 / 60e9)
	case "second":
		return float64(rest%60e9) / 1e9
	case "milliseconds":
		return float64(rest%60e9) / 1e6
	case "microseconds":
		return float64(rest%60e9) / 1e3
	}
	return math.NaN()
}

// ToLocal is timestamptz AT TIME ZONE loc: the wall-clock time there, as a
// timestamp read in UTC.
func ToLocal(t int64, loc *time.Location) int64 {
	if t == math.MinInt64 || t == math.MaxInt64 {
		return t
	}
	_, off := time.Unix(0, t).In(loc).Zone()
	return t + int64(off)*1e9
}

// FromLocal is timestamp AT TIME ZONE loc: the instant whose wall-clock
// time in loc is t (read in UTC).
func FromLocal(t int64, loc *time.Location) int64 {
	if t == math.MinInt64 || t == math.MaxInt64 {
		return t
	}
	w := time.Unix(0, t).UTC()
	y, m, d := w.Date()
	h, mi, s := w.Clock()
	return time.Date(y, m, d, h, mi, s, w.Nanosecond(), loc).UnixNano()
}
