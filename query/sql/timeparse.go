package sql

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

var errBadTime = errors.New("bad time")

// parseTimestamp parses a timestamp literal into nanoseconds since the
// epoch. Accepted: 'YYYY-MM-DD', optionally followed by 'T' or a space and
// 'HH:MM[:SS[.fraction]]', optionally followed by a zone: 'Z', 'UTC',
// 'GMT', '+HH', '+HHMM', '+HH:MM' (or '-'). No zone means UTC. Also
// 'epoch', 'now', 'infinity' and '-infinity' (as PostgreSQL). The fraction
// keeps up to nanoseconds (PostgreSQL rounds to microseconds).
func parseTimestamp(s string, now time.Time) (int64, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "epoch":
		return 0, nil
	case "now":
		return now.UnixNano(), nil
	case "infinity", "+infinity":
		return math.MaxInt64, nil
	case "-infinity":
		return math.MinInt64, nil
	}
	p := &tparser{s: t}
	year, ok1 := p.digits(4, 4)
	ok2 := p.lit('-')
	month, ok3 := p.digits(1, 2)
	ok4 := p.lit('-')
	day, ok5 := p.digits(1, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return 0, errBadTime
	}
	var hour, min, sec, nanos int
	if p.lit('T') || p.lit('t') || (p.peekSpaceDigit() && p.lit(' ')) {
		var ok bool
		if hour, ok = p.digits(1, 2); !ok || !p.lit(':') {
			return 0, errBadTime
		}
		if min, ok = p.digits(2, 2); !ok {
			return 0, errBadTime
		}
		if p.lit(':') {
			if sec, ok = p.digits(2, 2); !ok {
				return 0, errBadTime
			}
			if p.lit('.') {
				start := p.i
				for p.i < len(p.s) && isDigit(p.s[p.i]) {
					p.i++
				}
				frac := p.s[start:p.i]
				if frac == "" {
					return 0, errBadTime
				}
				if len(frac) > 9 {
					frac = frac[:9]
				}
				n, _ := strconv.Atoi(frac)
				for i := len(frac); i < 9; i++ {
					n *= 10
				}
				nanos = n
			}
		}
	}
	offset := 0
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
	rest := p.s[p.i:]
	switch {
	case rest == "":
	case rest == "Z" || rest == "z" || strings.EqualFold(rest, "UTC") || strings.EqualFold(rest, "GMT"):
	case rest[0] == '+' || rest[0] == '-':
		sign := 1
		if rest[0] == '-' {
			sign = -1
		}
		q := &tparser{s: rest[1:]}
		oh, ok := q.digits(1, 2)
		if !ok {
			return 0, errBadTime
		}
		om := 0
		if q.i < len(q.s) {
			q.lit(':')
			if om, ok = q.digits(2, 2); !ok || q.i != len(q.s) {
				return 0, errBadTime
			}
		}
		if oh > 15 || om > 59 {
			return 0, errBadTime
		}
		offset = sign * (oh*3600 + om*60)
	default:
		return 0, errBadTime
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, time.Month(month)) ||
		hour > 24 || min > 59 || sec > 60 || (hour == 24 && (min != 0 || sec != 0 || nanos != 0)) {
		return 0, errBadTime
	}
	tm := time.Date(year, time.Month(month), day, hour, min, sec, nanos, time.UTC).Add(-time.Duration(offset) * time.Second)
	if tm.Year() < 1678 || tm.Year() > 2261 {
		return 0, errors.New("timestamp out of range")
	}
	return tm.UnixNano(), nil
}

type tparser struct {
	s string
	i int
}

func (p *tparser) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *tparser) peekSpaceDigit() bool {
	return p.i+1 < len(p.s) && p.s[p.i] == ' ' && isDigit(p.s[p.i+1])
}

func (p *tparser) digits(min, max int) (int, bool) {
	start := p.i
	for p.i < len(p.s) && p.i-start < max && isDigit(p.s[p.i]) {
		p.i++
	}
	if p.i-start < min {
		return 0, false
	}
	n, err := strconv.Atoi(p.s[start:p.i])
	return n, err == nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// unit is an interval or date_trunc unit.
type unit struct {
	months int64 // for month-based units
	days   int64
	nanos  int64
}

var units = map[string]unit{}

func init() {
	add := func(u unit, names ...string) {
		for _, n := range names {
			units[n] = u
		}
	}
	add(unit{nanos: 1}, "ns", "nsec", "nsecs", "nanosecond", "nanoseconds") // Silt extension
	add(unit{nanos: 1e3}, "us", "usec", "usecs", "microsecond", "microseconds", "microsecon")
	add(unit{nanos: 1e6}, "ms", "msec", "msecs", "millisecond", "milliseconds", "millisecon")
	add(unit{nanos: 1e9}, "s", "sec", "secs", "second", "seconds")
	add(unit{nanos: 60e9}, "m", "min", "mins", "minute", "minutes")
	add(unit{nanos: 3600e9}, "h", "hr", "hrs", "hour", "hours")
	add(unit{days: 1}, "d", "day", "days")
	add(unit{days: 7}, "w", "week", "weeks")
	add(unit{months: 1}, "mon", "mons", "month", "months")
	add(unit{months: 3}, "quarter", "quarters")
	add(unit{months: 12}, "y", "yr", "yrs", "year", "years")
	add(unit{months: 120}, "decade", "decades")
	add(unit{months: 1200}, "century", "centuries")
	add(unit{months: 12000}, "millennium", "millennia", "millenniums")
}

// parseInterval parses an interval literal as PostgreSQL's interval input
// does for the common forms: '1 hour', '1h30m', '1 day 2 hours', '1.5
// hours', '-1 hour', '01:30', '1 day 01:30:00', '@ 2 days ago', ISO 8601
// 'PT1H30M' / 'P1DT2H'. A bare number is seconds. Months and years stay
// calendar units.
func parseInterval(s string) (Interval, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return Interval{}, errBadTime
	}
	if t[0] == 'p' {
		return parseISOInterval(t[1:])
	}
	t = strings.TrimSpace(strings.TrimPrefix(t, "@"))
	ago := false
	if strings.HasSuffix(t, "ago") {
		ago = true
		t = strings.TrimSpace(strings.TrimSuffix(t, "ago"))
	}
	var acc ivAcc
	i := 0
	any := false
	for {
		for i < len(t) && (t[i] == ' ' || t[i] == '\t' || t[i] == ',') {
			i++
		}
		if i >= len(t) {
			break
		}
		start := i
		if t[i] == '+' || t[i] == '-' {
			i++
		}
		for i < len(t) && (isDigit(t[i]) || t[i] == '.') {
			i++
		}
		num := t[start:i]
		if num == "" || num == "+" || num == "-" {
			return Interval{}, errBadTime
		}
		if i < len(t) && t[i] == ':' { // hh:mm[:ss[.frac]]
			for i < len(t) && (isDigit(t[i]) || t[i] == ':' || t[i] == '.') {
				i++
			}
			if err := acc.clock(t[start:i]); err != nil {
				return Interval{}, err
			}
			any = true
			continue
		}
		for i < len(t) && t[i] == ' ' {
			i++
		}
		ustart := i
		for i < len(t) && t[i] >= 'a' && t[i] <= 'z' {
			i++
		}
		name := t[ustart:i]
		u := unit{nanos: 1e9} // a bare number is seconds
		if name != "" {
			var ok bool
			if u, ok = units[name]; !ok {
				return Interval{}, errBadTime
			}
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return Interval{}, errBadTime
		}
		if err := acc.add(f, u); err != nil {
			return Interval{}, err
		}
		any = true
	}
	if !any {
		return Interval{}, errBadTime
	}
	iv, err := acc.result()
	if err != nil {
		return Interval{}, err
	}
	if ago {
		iv = Interval{Months: -iv.Months, Days: -iv.Days, Nanos: -iv.Nanos}
	}
	return iv, nil
}

func parseISOInterval(t string) (Interval, error) {
	var acc ivAcc
	inTime := false
	i := 0
	any := false
	for i < len(t) {
		if t[i] == 't' {
			inTime = true
			i++
			continue
		}
		start := i
		if t[i] == '-' || t[i] == '+' {
			i++
		}
		for i < len(t) && (isDigit(t[i]) || t[i] == '.') {
			i++
		}
		if i == start || i >= len(t) {
			return Interval{}, errBadTime
		}
		f, err := strconv.ParseFloat(t[start:i], 64)
		if err != nil {
			return Interval{}, errBadTime
		}
		var u unit
		switch c := t[i]; {
		case c == 'y' && !inTime:
			u = units["year"]
		case c == 'm' && !inTime:
			u = units["month"]
		case c == 'w' && !inTime:
			u = units["week"]
		case c == 'd' && !inTime:
			u = units["day"]
		case c == 'h' && inTime:
			u = units["hour"]
		case c == 'm' && inTime:
			u = units["minute"]
		case c == 's' && inTime:
			u = units["second"]
		default:
			return Interval{}, errBadTime
		}
		i++
		if err := acc.add(f, u); err != nil {
			return Interval{}, err
		}
		any = true
	}
	if !any {
		return Interval{}, errBadTime
	}
	return acc.result()
}

// ivAcc accumulates interval parts in floating point, spilling fractions
// down as PostgreSQL does (a fractional month is 30 days, a fractional day
// 24 hours).
type ivAcc struct {
	months, days, nanos float64
}

func (a *ivAcc) add(f float64, u unit) error {
	switch {
	case u.months != 0:
		m := f * float64(u.months)
		whole := math.Trunc(m)
		a.months += whole
		a.add(m-whole, unit{days: 30})
	case u.days != 0:
		d := f * float64(u.days)
		whole := math.Trunc(d)
		a.days += whole
		a.nanos += math.Round((d - whole) * 24 * 3600e9)
	default:
		a.nanos += math.Round(f * float64(u.nanos))
	}
	return nil
}

func (a *ivAcc) clock(s string) error {
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return errBadTime
	}
	var total float64
	mult := []float64{3600e9, 60e9, 1e9}
	for i, p := range parts {
		if p == "" || (i < len(parts)-1 && strings.Contains(p, ".")) {
			return errBadTime
		}
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 {
			return errBadTime
		}
		total += f * mult[i]
	}
	if neg {
		total = -total
	}
	a.nanos += math.Round(total)
	return nil
}

func (a *ivAcc) result() (Interval, error) {
	const lim = 1 << 62
	if math.Abs(a.months) > 1e7 || math.Abs(a.days) > 1e9 || math.Abs(a.nanos) >= lim || math.IsNaN(a.nanos) {
		return Interval{}, errors.New("interval out of range")
	}
	return Interval{Months: int64(a.months), Days: int64(a.days), Nanos: int64(a.nanos)}, nil
}

// addInterval returns t + sign*iv with PostgreSQL's calendar rules: months
// first (clamping the day to the month's length), then days, then the
// time part. ok is false when the result leaves the int64 range.
func addInterval(t int64, iv Interval, sign int64) (int64, bool) {
	if t == math.MinInt64 || t == math.MaxInt64 { // ±infinity stays
		return t, true
	}
	months, days, nanos := sign*iv.Months, sign*iv.Days, sign*iv.Nanos
	tm := time.Unix(0, t).UTC()
	if months != 0 {
		y, m, d := tm.Date()
		total := int64(y)*12 + int64(m-1) + months
		if total < 1000*12 || total > 3000*12 {
			return 0, false
		}
		ny, nm := int(total/12), time.Month(total%12+1)
		if dd := daysIn(ny, nm); d > dd {
			d = dd
		}
		h, mi, s := tm.Clock()
		tm = time.Date(ny, nm, d, h, mi, s, tm.Nanosecond(), time.UTC)
	}
	if days != 0 {
		if days > 1e6 || days < -1e6 {
			return 0, false
		}
		tm = tm.AddDate(0, 0, int(days))
	}
	if tm.Year() < 1678 || tm.Year() > 2262 {
		return 0, false
	}
	base := tm.UnixNano()
	r := base + nanos
	if (nanos > 0 && r < base) || (nanos < 0 && r > base) {
		return 0, false
	}
	return r, true
}
