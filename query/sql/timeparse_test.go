package sql

import (
	"math"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	good := []struct{ in, want string }{
		{"2026-01-01", "2026-01-01T00:00:00Z"},
		{"2026-1-2", "2026-01-02T00:00:00Z"},
		{"2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"2026-01-01T12:34:56.789Z", "2026-01-01T12:34:56.789Z"},
		{"2026-01-01T12:34:56.123456789Z", "2026-01-01T12:34:56.123456789Z"},
		{"2026-01-01T12:34:56.1234567891Z", "2026-01-01T12:34:56.123456789Z"},
		{"2026-01-01 12:34", "2026-01-01T12:34:00Z"},
		{"2026-01-01 12:34:56", "2026-01-01T12:34:56Z"},
		{"2026-01-01t12:34:56z", "2026-01-01T12:34:56Z"},
		{"2026-01-01 00:00:00+02", "2025-12-31T22:00:00Z"},
		{"2026-01-01 00:00:00 +05:30", "2025-12-31T18:30:00Z"},
		{"2026-01-01T00:00:00-0130", "2026-01-01T01:30:00Z"},
		{"2026-01-01 00:00:00 UTC", "2026-01-01T00:00:00Z"},
		{" 2026-01-01 ", "2026-01-01T00:00:00Z"},
		{"2024-02-29", "2024-02-29T00:00:00Z"},
		{"2026-01-01 24:00:00", "2026-01-02T00:00:00Z"},
		{"1970-01-01", "1970-01-01T00:00:00Z"},
		{"1900-01-01", "1900-01-01T00:00:00Z"},
	}
	for _, c := range good {
		ns, err := parseTimestamp(c.in, testNow)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := time.Unix(0, ns).UTC().Format(time.RFC3339Nano); got != c.want {
			t.Errorf("%q: %s, want %s", c.in, got, c.want)
		}
	}
	special := map[string]int64{"epoch": 0, "now": testNow.UnixNano(), "infinity": math.MaxInt64, "-infinity": math.MinInt64, "EPOCH": 0}
	for in, want := range special {
		if got, err := parseTimestamp(in, testNow); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	bad := []string{"", "garbage", "2026", "2026-01", "2026-13-01", "2026-02-30", "2025-02-29", "2026-01-01T", "2026-01-01T25:00",
		"2026-01-01 12", "2026-01-01 12:3", "2026-01-01 12:00:00.", "2026-01-01 12:00:00 +", "2026-01-01 12:00:00 PST",
		"2026-01-01 12:00:60.5x", "2026-01-01 24:00:01", "2026-01-01 12:60", "20260101", "2026-01-01 12:00:00+16", "3000-01-01", "1600-01-01"}
	for _, in := range bad {
		if ns, err := parseTimestamp(in, testNow); err == nil {
			t.Errorf("%q: accepted as %s", in, time.Unix(0, ns).UTC())
		}
	}
}

func TestParseInterval(t *testing.T) {
	const h, m, s = int64(time.Hour), int64(time.Minute), int64(time.Second)
	good := []struct {
		in   string
		want Interval
	}{
		{"1 hour", Interval{Nanos: h}},
		{"1 HOUR", Interval{Nanos: h}},
		{"2 hours", Interval{Nanos: 2 * h}},
		{"1h", Interval{Nanos: h}},
		{"1h30m", Interval{Nanos: h + 30*m}},
		{"1 hour 30 minutes", Interval{Nanos: h + 30*m}},
		{"1.5 hours", Interval{Nanos: h + 30*m}},
		{"90 s", Interval{Nanos: 90 * s}},
		{"90", Interval{Nanos: 90 * s}},
		{"5 min", Interval{Nanos: 5 * m}},
		{"5m", Interval{Nanos: 5 * m}},
		{"2 mins", Interval{Nanos: 2 * m}},
		{"3 ms", Interval{Nanos: 3e6}},
		{"4 us", Interval{Nanos: 4e3}},
		{"7 ns", Interval{Nanos: 7}},
		{"1 d", Interval{Days: 1}},
		{"1 day", Interval{Days: 1}},
		{"1.5 days", Interval{Days: 1, Nanos: 12 * h}},
		{"1 week", Interval{Days: 7}},
		{"2w", Interval{Days: 14}},
		{"1 mon", Interval{Months: 1}},
		{"1 month", Interval{Months: 1}},
		{"1.5 months", Interval{Months: 1, Days: 15}},
		{"1 year", Interval{Months: 12}},
		{"2 years 3 months", Interval{Months: 27}},
		{"-1 hour", Interval{Nanos: -h}},
		{"1 day -1 hour", Interval{Days: 1, Nanos: -h}},
		{"01:30", Interval{Nanos: h + 30*m}},
		{"01:30:15.5", Interval{Nanos: h + 30*m + 15*s + 5e8}},
		{"-01:30", Interval{Nanos: -(h + 30*m)}},
		{"1 day 02:00:00", Interval{Days: 1, Nanos: 2 * h}},
		{"@ 2 days ago", Interval{Days: -2}},
		{"1 hour ago", Interval{Nanos: -h}},
		{"PT1H", Interval{Nanos: h}},
		{"PT1H30M", Interval{Nanos: h + 30*m}},
		{"P1DT2H", Interval{Days: 1, Nanos: 2 * h}},
		{"P1Y2M3W4D", Interval{Months: 14, Days: 25}},
		{"PT0.5S", Interval{Nanos: 5e8}},
	}
	for _, c := range good {
		got, err := parseInterval(c.in)
		if err != nil || got != c.want {
			t.Errorf("%q: %+v %v, want %+v", c.in, got, err, c.want)
		}
	}
	bad := []string{"", "hour", "1 fortnight", "1 hour x", "1..5 h", "P", "PT", "P1H", "PT1D", "1:2:3:4", "-", "1e400 s", "99999999999 years", "@", "ago"}
	for _, in := range bad {
		if got, err := parseInterval(in); err == nil {
			t.Errorf("%q: accepted as %+v", in, got)
		}
	}
}

func TestAddInterval(t *testing.T) {
	cases := []struct {
		t    string
		iv   Interval
		sign int64
		want string
	}{
		{"2026-01-31T00:00:00Z", Interval{Months: 1}, 1, "2026-02-28T00:00:00Z"},
		{"2024-01-31T10:00:00Z", Interval{Months: 1}, 1, "2024-02-29T10:00:00Z"},
		{"2026-03-31T00:00:00Z", Interval{Months: 1}, -1, "2026-02-28T00:00:00Z"},
		{"2026-01-01T00:00:00Z", Interval{Months: 13}, 1, "2027-02-01T00:00:00Z"},
		{"2026-01-01T00:00:00Z", Interval{Months: 1}, -1, "2025-12-01T00:00:00Z"},
		{"2026-01-01T00:00:00Z", Interval{Days: 1, Nanos: int64(time.Hour)}, -1, "2025-12-30T23:00:00Z"},
		{"2026-02-28T12:00:00.5Z", Interval{Months: 1, Days: 1, Nanos: 1}, 1, "2026-03-29T12:00:00.500000001Z"},
	}
	for _, c := range cases {
		got, ok := addInterval(ts(c.t), c.iv, c.sign)
		if !ok || time.Unix(0, got).UTC().Format(time.RFC3339Nano) != c.want {
			t.Errorf("%s %+d×%+v: %s %v, want %s", c.t, c.sign, c.iv, time.Unix(0, got).UTC(), ok, c.want)
		}
	}
	if _, ok := addInterval(ts("2200-01-01T00:00:00Z"), Interval{Months: 12 * 100}, 1); ok {
		t.Error("overflow accepted")
	}
	if got, ok := addInterval(math.MaxInt64, Interval{Days: 1}, 1); !ok || got != math.MaxInt64 {
		t.Error("infinity moved")
	}
}

func TestBucketStart(t *testing.T) {
	cases := []struct {
		b    Bucket
		t    string
		want string
	}{
		{Bucket{60e9, 0}, "2026-01-01T00:00:59.999Z", "2026-01-01T00:00:00Z"},
		{Bucket{60e9, 0}, "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z"},
		{Bucket{3600e9, origin2000}, "1999-12-31T23:30:00Z", "1999-12-31T23:00:00Z"},
		{Bucket{int64(25 * time.Hour), origin2000}, "2026-01-02T03:00:00Z", "2026-01-01T22:00:00Z"}, // PostgreSQL agrees
		{Bucket{7 * 86400e9, 4 * 86400e9}, "2026-01-07T12:00:00Z", "2026-01-05T00:00:00Z"},
		{Bucket{15 * 60e9, ts("2000-01-01T00:05:00Z")}, "2026-01-01T00:04:00Z", "2025-12-31T23:50:00Z"},
		{Bucket{1, 0}, "2026-01-01T00:00:00.000000007Z", "2026-01-01T00:00:00.000000007Z"},
		{Bucket{60e9, 0}, "1969-12-31T23:59:30Z", "1969-12-31T23:59:00Z"},
	}
	for _, c := range cases {
		if got := formatTime(c.b.Start(ts(c.t))); got != c.want {
			t.Errorf("%v of %s: %s, want %s", c.b, c.t, got, c.want)
		}
	}
	// Extremes do not panic.
	_ = Bucket{60e9, math.MaxInt64 - 5}.Start(math.MinInt64 + 5)
	_ = Bucket{math.MaxInt64, math.MinInt64}.Start(math.MaxInt64)
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"t": true, "true": true, "TRUE": true, "y": true, "yes": true, "on": true, "1": true,
		"f": false, "false": false, "n": false, "no": false, "off": false, "of": false, "0": false, "tr": true, "fa": false} {
		if got, ok := parseBool(in); !ok || got != want {
			t.Errorf("%q: %v %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "o", "maybe", "truee", "2", "nope"} {
		if _, ok := parseBool(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}
