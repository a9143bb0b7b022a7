package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// refusingServer refuses each body's first refuse sends (answer writes
// the refusal) and then stores it with a 204, recording every send.
type refusingServer struct {
	mu      sync.Mutex
	refuse  int
	answer  func(w http.ResponseWriter, n int) // the n-th refusal of a body (0-based)
	sends   map[string]int                     // body -> times sent
	stored  []string                           // bodies acknowledged, in order
	expects int                                // requests that sent Expect: 100-continue
}

func (s *refusingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Expect") == "100-continue" {
		s.expects++
	}
	n := s.sends[string(b)]
	s.sends[string(b)] = n + 1
	if n < s.refuse {
		s.answer(w, n)
		return
	}
	s.stored = append(s.stored, string(b))
	w.WriteHeader(http.StatusNoContent)
}

func testBodies(n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, fmt.Appendf(nil, "cpu,hostname=host_%d usage_user=%di 1\ncpu,hostname=host_%d usage_user=%di 2\n", i, i, i, i))
	}
	return out
}

// recordWaits replaces Load's sleep with a record of what it was asked to
// wait (no test waits for real).
func recordWaits(cfg *LoadConfig) *[]time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	cfg.wait = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return nil
	}
	return &waits
}

// 503 and 429 answers are waited out for their Retry-After (seconds or an
// HTTP date) and the same body is sent again: every body is stored once,
// and the retries and their waits are what the server asked for.
func TestLoadRetriesHonourRetryAfter(t *testing.T) {
	srv := &refusingServer{refuse: 2, sends: map[string]int{}}
	srv.answer = func(w http.ResponseWriter, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "3")
			http.Error(w, `{"error":"shutting down","code":"shutting-down"}`, http.StatusServiceUnavailable)
			return
		}
		// An HTTP date 7 s ahead (to the second: the date has no finer
		// unit); the wait is measured from when the answer is read.
		w.Header().Set("Retry-After", time.Now().Add(7*time.Second).UTC().Format(http.TimeFormat))
		http.Error(w, `{"error":"head full","code":"head-full"}`, http.StatusTooManyRequests)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	bodies := testBodies(9)
	cfg := LoadConfig{URL: ts.URL, DB: "d", Protocol: ProtoInflux, Workers: 3, ExpectContinue: true}
	waits := recordWaits(&cfg)
	res, err := Load(context.Background(), cfg, bodies, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != int64(2*len(bodies)) {
		t.Fatalf("%d rows acknowledged, want %d", res.Rows, 2*len(bodies))
	}
	if res.Retries != int64(2*len(bodies)) {
		t.Fatalf("%d retries reported, want %d (two a body)", res.Retries, 2*len(bodies))
	}
	want := make([]string, len(bodies))
	for i, b := range bodies {
		want[i] = string(b)
		if srv.sends[string(b)] != 3 {
			t.Fatalf("body %d sent %d times, want 3", i, srv.sends[string(b)])
		}
	}
	got := slices.Clone(srv.stored)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stored bodies differ from those loaded:\n%q\nwant\n%q", got, want)
	}
	if srv.expects != 3*len(bodies) {
		t.Fatalf("%d of %d requests sent Expect: 100-continue", srv.expects, 3*len(bodies))
	}
	var threes, dates int
	var sum time.Duration
	for _, d := range *waits {
		sum += d
		switch {
		case d == 3*time.Second:
			threes++
		case d > 5*time.Second && d <= 7*time.Second: // the date's second, less the time to read it
			dates++
		default:
			t.Fatalf("waited %s; want 3s (Retry-After: 3) or about 7s (a date 7 s ahead)", d)
		}
	}
	if threes != len(bodies) || dates != len(bodies) {
		t.Fatalf("%d waits of 3s and %d of the date, want %d each", threes, dates, len(bodies))
	}
	if res.RetryWait != sum {
		t.Fatalf("reported %s waited, the waits sum to %s", res.RetryWait, sum)
	}
}

// Without Retry-After the waits double from retryBackoffStart up to
// retryBackoffMax, per body.
func TestLoadBackoffWithoutRetryAfter(t *testing.T) {
	srv := &refusingServer{refuse: 7, sends: map[string]int{}}
	srv.answer = func(w http.ResponseWriter, _ int) { http.Error(w, "busy", http.StatusTooManyRequests) }
	ts := httptest.NewServer(srv)
	defer ts.Close()
	cfg := LoadConfig{URL: ts.URL, DB: "d", Protocol: ProtoInflux, Workers: 1}
	waits := recordWaits(&cfg)
	res, err := Load(context.Background(), cfg, testBodies(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	var one []time.Duration
	for d := retryBackoffStart; len(one) < 7; d = min(2*d, retryBackoffMax) {
		one = append(one, d)
	}
	if want := append(slices.Clone(one), one...); !slices.Equal(*waits, want) {
		t.Fatalf("waits %v, want %v", *waits, want)
	}
	if res.Retries != 14 || res.Rows != 4 {
		t.Fatalf("%d retries, %d rows; want 14, 4", res.Retries, res.Rows)
	}
}

// A body refused MaxAttempts times stops the load with the server's
// answer; other errors are not retried.
func TestLoadGivesUp(t *testing.T) {
	for _, tc := range []struct {
		status, attempts, sends int
	}{
		{http.StatusServiceUnavailable, 4, 4},
		{http.StatusServiceUnavailable, 1, 1},
		{http.StatusTooManyRequests, 0, DefaultMaxAttempts},
		{http.StatusBadRequest, 4, 1},
		{http.StatusInternalServerError, 4, 1},
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.status, tc.attempts), func(t *testing.T) {
			srv := &refusingServer{refuse: 1 << 30, sends: map[string]int{}}
			srv.answer = func(w http.ResponseWriter, _ int) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "refused-for-the-test", tc.status)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			cfg := LoadConfig{URL: ts.URL, DB: "d", Protocol: ProtoInflux, Workers: 1, MaxAttempts: tc.attempts}
			waits := recordWaits(&cfg)
			bodies := testBodies(1)
			res, err := Load(context.Background(), cfg, bodies, nil)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d: refused-for-the-test", tc.status)) {
				t.Fatalf("err = %v, want the server's HTTP %d", err, tc.status)
			}
			if n := srv.sends[string(bodies[0])]; n != tc.sends {
				t.Fatalf("body sent %d times, want %d", n, tc.sends)
			}
			if res.Retries != int64(tc.sends-1) || len(*waits) != tc.sends-1 || res.Rows != 0 {
				t.Fatalf("%d retries, %d waits, %d rows; want %d, %d, 0", res.Retries, len(*waits), res.Rows, tc.sends-1, tc.sends-1)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", -1},
		{"0", 0},
		{" 2 ", 2 * time.Second},
		{"-1", -1},
		{"soon", -1},
		{"99999999999999", retryAfterMax},
		{now.Add(4 * time.Second).Format(http.TimeFormat), 4 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), retryAfterMax},
	} {
		if got := retryAfter(tc.v, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.v, got, tc.want)
		}
	}
}
