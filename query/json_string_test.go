package query

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// TestAppendJSONStringMatchesMarshal: strings of every kind of byte, and
// the timestamps WriteJSON quotes, come out as Marshal and Quote write them.
func TestAppendJSONStringMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	strs := []string{"", "host_7", `a"b`, `a\b`, "<&>", "é", "\u2028", "\x00", "\x7f", "\xff", "a b/c"}
	for range 5000 {
		s := make([]byte, r.IntN(8))
		for i := range s {
			s[i] = byte(r.IntN(256))
		}
		strs = append(strs, string(s))
	}
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: %s, Marshal writes %s", s, got[1:], want)
		}
	}
	for range 1000 {
		ts := time.Unix(0, r.Int64N(1<<62)-1<<61).In(time.FixedZone("x", 3600))
		want := strconv.AppendQuote(nil, ts.UTC().Format(time.RFC3339Nano))
		if got := appendJSONValue(nil, ts); string(got) != string(want) {
			t.Fatalf("%v: %s, want %s", ts, got, want)
		}
	}
}
