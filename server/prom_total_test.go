package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// promTotalServer is a server whose queries may hold 64 MiB each and
// 32 MiB together, holding 200 series × 2,000 samples of m (6.4 MB at
// 16 bytes a sample).
func promTotalServer(t *testing.T) (*testServer, func(q string, step int) (int, []byte)) {
	t.Helper()
	s := startServerWith(t, Config{QueryMaxMemory: 64 << 20, QueryMaxMemoryTotal: 32 << 20})
	const series, samples = 200, 2000
	if code, body := s.remoteWrite(t, "/api/v1/write", promMemoryRequest(series, samples)); code != 204 {
		t.Fatalf("remote write: %d %s", code, body)
	}
	end := 1000 + (samples-1)*15
	return s, func(q string, step int) (int, []byte) {
		t.Helper()
		code, _, body := s.post(t, "/api/v1/query_range", promRangeForm(q, end, step), "Content-Type", "application/x-www-form-urlencoded")
		return code, body
	}
}

func promRangeForm(q string, end, step int) string {
	return url.Values{"query": {q}, "start": {"1000"}, "end": {fmt.Sprint(end)}, "step": {fmt.Sprint(step)}}.Encode()
}

// wantTotalRefusal checks a PromQL refusal for --query-max-memory-total:
// Prometheus' execution error with Silt's code.
func wantTotalRefusal(t *testing.T, what string, code int, body []byte) {
	t.Helper()
	var a promAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s: %v: %.300s", what, err, body)
	}
	if code != 422 || a.ErrorType != "execution" || promCode(t, body) != "query-memory-limit" ||
		!strings.Contains(a.Error, "--query-max-memory-total") {
		t.Fatalf("%s: got %d %.300s, want 422 execution query-memory-limit naming --query-max-memory-total", what, code, body)
	}
}

// waitQueryMemFree waits until running queries hold nothing of the
// shared budget: a streamed answer gives its reservation back once its
// last byte is written, just after the client has read it.
func waitQueryMemFree(t *testing.T, s *testServer, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.srv.queryMem.Used() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d bytes still reserved of --query-max-memory-total", what, s.srv.queryMem.Used())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// What Prometheus' engine may hold while it evaluates a query is
// reserved from --query-max-memory-total before it does: a query the
// engine could evaluate is refused while the other running queries
// leave too little of it, and answers once they end; a query that needs
// more samples than the first level allows is evaluated again with more.
func TestPromQLEvaluationChargesTotal(t *testing.T) {
	s, rangeQuery := promTotalServer(t)

	// The engine's levels: 1, 4 and 16 MiB (half the total), 32,768,
	// 131,072 and 524,288 samples. 22 series at 9,996 steps are 220,000
	// samples held by the engine: more than the first two levels allow,
	// fewer than the last. Its selection is 0.6 MB.
	code, body := rangeQuery(`m{s=~"s1.?|s2.?"}`, 3)
	var a promAnswer
	if err := json.Unmarshal(body, &a); err != nil || code != 200 || len(a.Data.Result) != 22 || len(a.Data.Result[0].Values) != 9996 {
		t.Fatalf("a query past the first level: %d %.300s", code, body)
	}
	waitQueryMemFree(t, s, "after a query evaluated twice")

	// Other queries hold all but 512 KiB of the 32 MiB: one series'
	// 2,000 samples (32 KB) fit in what is left, the engine's first
	// level does not, and is reserved before anything is selected.
	other := s.srv.queryMem.Reserve()
	const others = 32<<20 - 512<<10
	if err := other.Grow(others); err != nil {
		t.Fatal(err)
	}
	code, body = rangeQuery(`m{s="s1"}`, 60)
	wantTotalRefusal(t, "evaluation while the total is taken", code, body)
	if !strings.Contains(string(body), "its evaluation may hold") {
		t.Fatalf("refused for another reason than the evaluation's reservation: %.300s", body)
	}
	if got := s.srv.queryMem.Used(); got != others {
		t.Fatalf("after the refusal %d bytes reserved, want the others' %d", got, others)
	}
	other.Release()
	code, body = rangeQuery(`m{s="s1"}`, 60)
	if code != 200 {
		t.Fatalf("the same query once the others end: %d %.300s", code, body)
	}
	waitQueryMemFree(t, s, "after the queries")

	// 8 at once, each reserving up to 16 MiB for its evaluation, then
	// 10.6 MB for its answer: those that do not fit are refused with the
	// documented error, the server stays up, nothing stays reserved.
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := promRangeForm(`m{s=~"s1.?|s2.?"}`, 1000+1999*15, 3)
			resp, err := http.Post(s.url+"/api/v1/query_range", "application/x-www-form-urlencoded", strings.NewReader(req))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == 200 {
				return
			}
			var a promAnswer
			if json.Unmarshal(b, &a) != nil || resp.StatusCode != 422 || a.ErrorType != "execution" || !strings.Contains(string(b), `"code":"query-memory-limit"`) {
				errs <- fmt.Sprintf("%d %.300s", resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent query: %s, want 200 or 422 query-memory-limit", e)
	}
	waitQueryMemFree(t, s, "after 8 concurrent queries")
	if code, body := rangeQuery(`m{s="s1"}`, 60); code != 200 {
		t.Fatalf("a query after them: %d %.300s", code, body)
	}
}

// A PromQL answer stays reserved of --query-max-memory-total until it is
// sent: while a client reads a large one slowly, the same query from
// another client does not fit; once the first hangs up, it does.
func TestPromQLAnswerHeldUntilSent(t *testing.T) {
	s, rangeQuery := promTotalServer(t)
	// A small receive buffer, so that the server's writes block soon.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Every series at every sample: 400,000 points, 19 MB as charged,
	// about 11 MB of JSON.
	form := promRangeForm(`m`, 1000+1999*15, 15)
	if _, err := fmt.Fprintf(conn, "POST /api/v1/query_range HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(form), form); err != nil {
		t.Fatal(err)
	}
	// The answer has begun: its handler has returned.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the slow client's query: %v %v", resp, err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if used := s.srv.queryMem.Used(); used < 16<<20 {
		t.Fatalf("while the answer is sent %d bytes are reserved, want its 19 MB", used)
	}
	code, body := rangeQuery(`m`, 15)
	wantTotalRefusal(t, "the same query while the first answer is sent", code, body)

	conn.Close()
	waitQueryMemFree(t, s, "after the slow client hung up")
	if code, body := rangeQuery(`m`, 15); code != 200 {
		t.Fatalf("the same query once the first client has gone: %d %.300s", code, body)
	}
	waitQueryMemFree(t, s, "after the second answer")
}

// Concurrent PromQL queries answer what a query alone answers: an
// answer's points are not handed back to the engine's pool, for another
// query to overwrite, before they are encoded and sent.
func TestPromQLConcurrentAnswersIntact(t *testing.T) {
	s := startServerWith(t, Config{})
	const series, samples = 100, 2000
	if code, body := s.remoteWrite(t, "/api/v1/write", promMemoryRequest(series, samples)); code != 204 {
		t.Fatalf("remote write: %d %s", code, body)
	}
	// 100 series at 3,332 steps: 333,200 points an answer.
	form := url.Values{"query": {"m"}, "start": {"1000"}, "end": {fmt.Sprint(1000 + (samples-1)*15)}, "step": {"9"}}.Encode()
	code, _, want := s.post(t, "/api/v1/query_range", form, "Content-Type", "application/x-www-form-urlencoded")
	if code != 200 {
		t.Fatalf("alone: %d %.300s", code, want)
	}
	const concurrent = 8
	got := make([][]byte, concurrent)
	codes := make([]int, concurrent)
	var wg sync.WaitGroup
	for i := range concurrent {
		wg.Go(func() {
			resp, err := http.Post(s.url+"/api/v1/query_range", "application/x-www-form-urlencoded", strings.NewReader(form))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			codes[i] = resp.StatusCode
			got[i], _ = io.ReadAll(resp.Body)
		})
	}
	wg.Wait()
	for i := range concurrent {
		if codes[i] != 200 || string(got[i]) != string(want) {
			t.Errorf("query %d of %d at once: %d, %d bytes, differs from the %d bytes it answers alone", i, concurrent, codes[i], len(got[i]), len(want))
		}
	}
	waitQueryMemFree(t, s, "after the queries")
}
