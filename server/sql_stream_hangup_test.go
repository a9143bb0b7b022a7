package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSQLStreamedAnswersUnderHangups: many large SQL answers streamed at
// once through setBodyWriterTo (/api/v1/sql JSON and CSV, /api/v3/query_sql
// json, jsonl and csv, typed and from rows), their clients hanging up
// after a random part of the answer or reading it whole. Every answer read whole is the
// answer of the same query asked alone; once all are done, the shared
// query memory holds nothing and the per-client budget no slot, and an
// access line was logged for each streamed answer (with --access-log,
// whose writer wraps the stream's; and without). Run with -race
// (make test-race) it checks the stream's hand-offs between the handler,
// fasthttp's writer and the encoders.
func TestSQLStreamedAnswersUnderHangups(t *testing.T) {
	for _, accessLog := range []bool{true, false} {
		t.Run(fmt.Sprintf("access-log=%v", accessLog), func(t *testing.T) { sqlStreamHangups(t, accessLog) })
	}
}

func sqlStreamHangups(t *testing.T, accessLog bool) {
	var logged bytes.Buffer
	var mu sync.Mutex
	s := startServerWith(t, Config{QueryMaxMemoryTotal: 1 << 30, AccessLog: accessLog, MaxRequestsPerClient: 64,
		Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logged}, nil))})
	lp := typedSQLRows(12000, 23)
	half := strings.Index(lp[len(lp)/2:], "\n") + len(lp)/2 + 1
	if code, _, b := s.post(t, "/write?db=d", lp[:half]); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	if code, _, b := s.post(t, "/write?db=d", lp[half:]); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	q := url.QueryEscape("SELECT * FROM t ORDER BY time, host")
	paths := []string{
		"/api/v1/sql?db=d&q=" + q,
		"/api/v1/sql?db=d&format=csv&q=" + q,
		"/api/v3/query_sql?db=d&format=json&q=" + q,
		"/api/v3/query_sql?db=d&format=jsonl&q=" + q,
		"/api/v3/query_sql?db=d&format=csv&q=" + q,
	}
	// Each answer asked alone, as the reference for those read whole.
	want := map[string][]byte{}
	for _, p := range paths {
		code, body := s.get(t, p)
		if code != 200 || len(body) < 4*writeToBufBytes {
			t.Fatalf("%s: %d, %d bytes: want 200 and an answer of several chunks", p, code, len(body))
		}
		want[p] = elapsedMs.ReplaceAll(body, []byte(`"elapsed_ms":0`)) // ORDER BY time: one order
	}
	released := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for s.srv.QueryMemoryReserved() != 0 || s.srv.budget.slots() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d bytes of query memory and %d client slots still held", what, s.srv.QueryMemoryReserved(), s.srv.budget.slots())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	released("answers asked alone")

	const requests, parallel = 40, 4
	r := rand.New(rand.NewPCG(7, 7))
	type job struct {
		path     string
		rowsOnly bool
		read     int // bytes read before hanging up; -1: all
	}
	jobs := make(chan job, requests)
	for k := range requests {
		j := job{path: paths[r.IntN(len(paths))], read: r.IntN(6 * writeToBufBytes)}
		if k%4 == 1 {
			j.read = -1
		}
		j.rowsOnly = k%5 == 2
		jobs <- j
	}
	close(jobs)
	// Some answers from rows, by switching the server as the request is
	// sent (which of the two a racing request gets does not matter: they
	// are the same bytes, TestSQLTypedAnswerIsTheRowAnswer).
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s.srv.sqlRowsOnly.Store(j.rowsOnly)
				if err := hangupRequest(s.url, j.path, j.read, want); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	released("after the hang-ups")
	mu.Lock()
	lines := strings.Count(logged.String(), `"path":"/api/v`)
	mu.Unlock()
	t.Logf("%d access lines of queries", lines)
	if accessLog && lines < requests {
		t.Errorf("%d access lines of queries logged, want at least %d", lines, requests)
	}
}

// hangupRequest sends GET path on a connection of its own and reads
// read bytes of the answer before closing it, or (read -1) the whole
// answer, then compared with want[path].
func hangupRequest(base, path string, read int, want map[string][]byte) error {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path); err != nil {
		return err
	}
	if read >= 0 {
		_, err := io.CopyN(io.Discard, conn, int64(read))
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: reading %d bytes: %w", path, read, err)
		}
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("%s: %d %v", path, resp.StatusCode, err)
	}
	if got := elapsedMs.ReplaceAll(body, []byte(`"elapsed_ms":0`)); !bytes.Equal(got, want[path]) {
		return fmt.Errorf("%s: the answer read whole (%d bytes) is not the answer asked alone", path, len(body))
	}
	return nil
}
