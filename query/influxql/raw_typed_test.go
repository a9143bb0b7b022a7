package influxql

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendRFC3339MatchesFormat checks the time text written from a
// cached day against time.Format(time.RFC3339Nano), in UTC and in a zone,
// for times before and after 1970, fractions of every length, runs of one
// second, of one day and across midnights.
func TestAppendRFC3339MatchesFormat(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	times := []int64{0, 1, -1, 999_999_999, 1_000_000_000, 1_451_606_400_000_000_000, 1_451_606_400_100_000_000,
		1_451_606_400_100_000_000, 1_451_606_400_000_000_010, math.MaxInt64, math.MinInt64}
	// A GROUP BY time() answer's times: every 59 s across midnights
	// (each row a new second, days reused), and the last nanosecond of
	// a day before the first of the next.
	for ns := int64(1_451_606_400_000_000_000) - 3*86400e9; ns < 1_451_606_400_000_000_000; ns += 59e9 {
		times = append(times, ns, ns+86400e9-1, ns+86400e9)
	}
	for range 5000 {
		ns := r.Int64()
		if r.IntN(2) == 0 {
			ns = -ns
		}
		if r.IntN(3) == 0 {
			ns -= ns % int64(time.Millisecond)
		}
		times = append(times, ns, ns+1) // often the same second twice
	}
	var a typedAnswer
	for _, loc := range []*time.Location{nil, paris} {
		for _, ns := range times {
			tm := time.Unix(0, ns).UTC()
			if loc != nil {
				tm = tm.In(loc)
			}
			want := tm.Format(time.RFC3339Nano)
			if got := string(a.appendRFC3339(nil, ns, loc)); got != want {
				t.Fatalf("%d in %v: %s, Format writes %s", ns, loc, got, want)
			}
		}
	}
}
