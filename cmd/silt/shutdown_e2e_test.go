package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A server stopped while writers are writing: from the moment it starts
// shutting down, every write is refused with 503 "shutting-down" (not
// acknowledged later, not a closed port while the heads are flushed),
// /ready says so and queries are still answered; every write it
// acknowledged is in the data directory after a restart, and is there
// from the final flush (the restart replays nothing). The shutdown is held
// between refusing writes and flushing (SILT_TEST_SHUTDOWN_HOLD) until
// every writer has seen a refusal, so the test waits on behaviour, not
// time.
func TestShutdownRefusesWritesKeepsAcked(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	hold := filepath.Join(h.dir, "release-shutdown")
	t.Setenv("SILT_TEST_SHUTDOWN_HOLD", hold)
	dataDir := filepath.Join(h.dir, "data")
	flags := []string{"--pg-addr", "", "--flight-addr", "", "--flush-interval", "1h"}
	p := h.start(dataDir, flags...)

	const writers, lines = 4, 50
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var (
		mu      sync.Mutex
		want    = map[pointKey]string{} // acknowledged points
		ackedN  [writers]atomic.Int64
		refused = make(chan int, writers) // a writer's first refusal
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seenRefusal := false
			for i := 0; ; i++ {
				var body bytes.Buffer
				for k := range lines {
					fmt.Fprintf(&body, "shut,w=%d v=%di %d\n", w, i, base+int64(i*lines+k))
				}
				code, resp, _, err := p.write("db", body.Bytes())
				switch {
				case err != nil && seenRefusal:
					return // the listener closed after the final flush
				case err != nil:
					t.Errorf("writer %d, batch %d: %v before any refusal", w, i, err)
					return
				case code == http.StatusNoContent && seenRefusal:
					t.Errorf("writer %d, batch %d acknowledged after a write was refused for the shutdown", w, i)
					return
				case code == http.StatusNoContent:
					mu.Lock()
					for k := range lines {
						want[pointKey{Table: "shut", Series: fmt.Sprintf("w=%d", w), Time: base + int64(i*lines+k)}] = fmt.Sprintf("v=%di", i)
					}
					mu.Unlock()
					ackedN[w].Add(1)
				case code == http.StatusServiceUnavailable && strings.Contains(string(resp), `"code":"shutting-down"`):
					if !seenRefusal {
						seenRefusal = true
						refused <- w
					}
				default:
					t.Errorf("writer %d, batch %d: status %d: %s", w, i, code, resp)
					return
				}
			}
		}()
	}
	// Every writer acknowledged a few batches, then the stop.
	for w := range writers {
		for ackedN[w].Load() < 5 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range writers {
		select {
		case <-refused:
		case <-time.After(2 * time.Minute): // hang guard only
			t.Fatalf("writers were still acknowledged two minutes after SIGTERM; log:\n%s", tailLines(p.log(), 40))
		}
	}
	// Held before the final flush: refusing writes, answering queries.
	code, body, err := p.get("/ready")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"shutting-down"`) {
		t.Errorf("/ready while shutting down: %d %s %v; want 503 shutting-down", code, body, err)
	}
	mu.Lock()
	acked := len(want)
	mu.Unlock()
	got, err := p.export("db", "shut")
	if err != nil {
		t.Fatalf("export while shutting down: %v", err)
	}
	if len(got) != acked {
		t.Errorf("export while shutting down: %d points, %d acknowledged", len(got), acked)
	}
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute): // hang guard only
		t.Fatalf("silt did not exit after the shutdown was released; log:\n%s", tailLines(p.log(), 40))
	}
	p.checkLogClean()
	if c := p.state.ExitCode(); c != 0 {
		t.Fatalf("exit code %d; log:\n%s", c, tailLines(p.log(), 40))
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	q := h.start(dataDir, flags...)
	if l := q.log(); !strings.Contains(l, "rows_replayed=0") {
		t.Errorf("the restart replayed rows: the final flush left acknowledged writes to the WAL; log:\n%s", tailLines(l, 20))
	}
	got, err = q.export("db", "shut")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("after the restart: %d points, %d acknowledged", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("acknowledged point %v: %q after the restart, want %q", k, got[k], v)
		}
	}
	if code := q.term(); code != 0 {
		t.Fatalf("second stop: exit code %d", code)
	}
}
