package importer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
)

func TestImportEveryLineOnce(t *testing.T) {
	for _, gz := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "gzip"}[gz]
		t.Run(name, func(t *testing.T) {
			fs := newFakeServer(t)
			srv := fs.start()
			// No extension: gzip and format are both detected from content.
			tf := writeTestFile(t, t.TempDir(), "data", genLP(2000, 0), gz)
			var log syncBuffer
			cfg := testConfig(t, srv, &log)
			cfg.BatchLines = 37
			cfg.Precision = "ns"

			res, err := Run(context.Background(), cfg, []string{tf.path})
			if err != nil {
				t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
			}
			fs.check()
			expectExactlyOnce(t, tf, fs.received())
			if res.RowsSent != 2000 || res.RowsWritten != 2000 || res.RowsRejected != 0 || len(res.Rejected) != 0 {
				t.Errorf("result %+v", res)
			}
			if res.Bytes != int64(len(tf.data)) {
				t.Errorf("Bytes = %d, want %d", res.Bytes, len(tf.data))
			}
			if fs.paths["/write"] == 0 || len(fs.paths) != 1 {
				t.Errorf("requests went to %v, want /write", fs.paths)
			}
			q, _ := url.ParseQuery(fs.queries[0])
			if q.Get("db") != "testdb" || q.Get("precision") != "ns" {
				t.Errorf("query %q", fs.queries[0])
			}
			cp := onlyCheckpoint(t, cfg.StateDir)
			if !cp.Complete || cp.Offset != int64(len(tf.data)) || cp.RowsWritten != 2000 {
				t.Errorf("checkpoint after a full import: %+v", cp)
			}
			if !strings.Contains(log.String(), "2,000 rows written") {
				t.Errorf("summary missing from log:\n%s", log.String())
			}

			// Again: already imported, nothing sent.
			log = syncBuffer{}
			res, err = Run(context.Background(), cfg, []string{tf.path})
			if err != nil {
				t.Fatal(err)
			}
			if res.RowsSent != 0 || res.FilesSkipped != 1 || len(fs.received()) != 0 {
				t.Errorf("second run sent rows: %+v", res)
			}
			if !strings.Contains(log.String(), "already imported") {
				t.Errorf("second run did not say the file was imported:\n%s", log.String())
			}

			// Without resume: everything again.
			cfg.Resume = false
			if _, err := Run(context.Background(), cfg, []string{tf.path}); err != nil {
				t.Fatal(err)
			}
			expectExactlyOnce(t, tf, fs.received())
		})
	}
}

func TestNDJSONImport(t *testing.T) {
	fs := newFakeServer(t)
	srv := fs.start()
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf(`{"time":%d,"host":"h1","v":%d}`, i, i*2))
		if i%40 == 0 {
			lines = append(lines, "")
		}
	}
	tf := writeTestFile(t, t.TempDir(), "rows.jsonl.gz", lines, true)
	cfg := testConfig(t, srv, nil)
	cfg.Table = "events"
	cfg.BatchLines = 50
	res, err := Run(context.Background(), cfg, []string{tf.path})
	if err != nil {
		t.Fatal(err)
	}
	fs.check()
	expectExactlyOnce(t, tf, fs.received())
	if res.RowsWritten != 300 {
		t.Errorf("RowsWritten = %d", res.RowsWritten)
	}
	if fs.paths["/api/v1/ingest"] == 0 || len(fs.paths) != 1 {
		t.Errorf("requests went to %v, want /api/v1/ingest", fs.paths)
	}
	q, _ := url.ParseQuery(fs.queries[0])
	if q.Get("table") != "events" || q.Get("db") != "testdb" {
		t.Errorf("query %q", fs.queries[0])
	}
}

func TestRejectedLineNumbers(t *testing.T) {
	for _, listed := range []int{0, 3} {
		t.Run(fmt.Sprintf("listed=%d", listed), func(t *testing.T) {
			fs := newFakeServer(t)
			fs.listErrors = listed
			srv := fs.start()
			const batch = 10
			tf := writeTestFile(t, t.TempDir(), "with-bad.lp", genLP(500, 4), false)
			cfg := testConfig(t, srv, nil)
			cfg.BatchLines = batch
			cfg.Workers = 3

			res, err := Run(context.Background(), cfg, []string{tf.path})
			if err != nil {
				t.Fatal(err) // rejected lines do not fail the import
			}
			fs.check()
			expectExactlyOnce(t, tf, fs.received())

			// Chunks hold `batch` data lines each; the server reports the
			// first max(1, listed) bad lines of each.
			var dataLines []int
			for num := range tf.bad {
				dataLines = append(dataLines, num)
			}
			for _, num := range tf.line {
				dataLines = append(dataLines, num)
			}
			sort.Ints(dataLines)
			var want []int
			for i := 0; i < len(dataLines); i += batch {
				n := 0
				for _, num := range dataLines[i:min(i+batch, len(dataLines))] {
					if tf.bad[num] && n < max(1, listed) {
						want = append(want, num)
						n++
					}
				}
			}
			var got []int
			for _, rl := range res.Rejected {
				got = append(got, int(rl.Line))
				if rl.File != tf.path || rl.Code != "bad-line" || !strings.HasPrefix(rl.Reason, "bad value ") {
					t.Errorf("rejected line %+v", rl)
				}
			}
			sort.Ints(got)
			if !equalInts(got, want) {
				t.Errorf("rejected file lines\n got %v\nwant %v", got, want)
			}
			if res.RowsRejected != int64(len(tf.bad)) || res.RowsWritten != int64(len(tf.line)) {
				t.Errorf("rejected %d written %d, want %d and %d", res.RowsRejected, res.RowsWritten, len(tf.bad), len(tf.line))
			}
			if cp := onlyCheckpoint(t, cfg.StateDir); !cp.Complete || cp.RowsRejected != int64(len(tf.bad)) {
				t.Errorf("checkpoint %+v", cp)
			}
		})
	}
}

func TestRetryWhenBusy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, "1"},
		{"503 without Retry-After", http.StatusServiceUnavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t)
			fs.setHook(func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n > 12 || n%2 == 0 { // busy for half of the first requests
					return false
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				return true
			})
			srv := fs.start()
			tf := writeTestFile(t, t.TempDir(), "busy.lp", genLP(400, 0), false)
			var log syncBuffer
			cfg := testConfig(t, srv, &log)
			cfg.BatchLines = 25
			if _, err := Run(context.Background(), cfg, []string{tf.path}); err != nil {
				t.Fatal(err)
			}
			fs.check()
			expectExactlyOnce(t, tf, fs.received())
			if n := strings.Count(log.String(), "server is busy"); n != 1 {
				t.Errorf("busy notice printed %d times, want once:\n%s", n, log.String())
			}
		})
	}
}

// The server drops connections for a while (as when it crashes and
// restarts); the import keeps retrying and completes on its own.
func TestServerDiesMidway(t *testing.T) {
	fs := newFakeServer(t)
	fs.setHook(func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n < 5 || n > 25 {
			return false
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return true
		}
		conn.Close() // no response at all
		return true
	})
	srv := fs.start()
	tf := writeTestFile(t, t.TempDir(), "dies.lp", genLP(600, 0), false)
	var log syncBuffer
	cfg := testConfig(t, srv, &log)
	cfg.BatchLines = 20
	if _, err := Run(context.Background(), cfg, []string{tf.path}); err != nil {
		t.Fatal(err)
	}
	fs.check()
	expectExactlyOnce(t, tf, fs.received())
	if n := strings.Count(log.String(), "cannot reach the server"); n != 1 {
		t.Errorf("unreachable notice printed %d times, want once:\n%s", n, log.String())
	}
}

// The server goes away for good: the import retries until cancelled, and a
// later run against the server back on the same address finishes the job
// without losing a line.
func TestServerGoneThenResume(t *testing.T) {
	fs := newFakeServer(t)
	kill := make(chan struct{})
	fs.setHook(func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 6 {
			close(kill)
		}
		return false
	})
	srv := httptest.NewServer(fs)
	addr := srv.Listener.Addr().String()
	go func() {
		<-kill
		srv.Close()
	}()

	tf := writeTestFile(t, t.TempDir(), "gone.lp", genLP(1000, 0), false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &syncBuffer{onWrite: func(s string) {
		if strings.Contains(s, "cannot reach the server") {
			cancel()
		}
	}}
	cfg := testConfig(t, srv, log)
	cfg.BatchLines = 20
	cfg.Workers = 2
	cfg.Token = "run1" // tells the runs' requests apart in the server
	_, err := Run(ctx, cfg, []string{tf.path})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want cancellation", err)
	}
	first := fs.receivedBy("run1")
	cp := maybeCheckpoint(t, cfg.StateDir)
	if cp == nil {
		// The first chunk was not through yet (its worker was slow to
		// start, say) though later ones were.
		cp = &checkpoint{}
	}
	if cp.Complete {
		t.Fatal("checkpoint complete after an interrupted import")
	}

	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	fs.setHook(nil)
	srv2 := &httptest.Server{Listener: l, Config: &http.Server{Handler: fs}}
	srv2.Start()
	defer srv2.Close()
	cfg.Log = nil
	cfg.Token = "run2"
	if _, err := Run(context.Background(), cfg, []string{tf.path}); err != nil {
		t.Fatal(err)
	}
	checkResumed(t, tf, cp, first, fs.receivedBy("run2"))
}

// An import cancelled midway resumes from its checkpoint: the second run
// sends only lines after the checkpoint, and nothing is lost.
func TestResumeAfterCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gz      bool
		workers int
	}{
		{"plain", false, 1},
		{"gzip", true, 1},
		{"plain concurrent", false, 4},
		{"gzip concurrent", true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeServer(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fs.setHook(func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 8 {
					cancel() // this request is written but likely not acknowledged
				}
				return false
			})
			srv := fs.start()
			tf := writeTestFile(t, t.TempDir(), "resume.lp", genLP(3000, 0), tc.gz)
			cfg := testConfig(t, srv, nil)
			cfg.BatchLines = 30
			cfg.Workers = tc.workers
			// Tell the runs' requests apart in the server: one of the
			// first run may reach it after the run has returned.
			cfg.Token = "run1"

			res, err := Run(ctx, cfg, []string{tf.path})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want cancellation", err)
			}
			first := fs.receivedBy("run1")
			cp := maybeCheckpoint(t, cfg.StateDir)
			if cp == nil {
				cp = &checkpoint{} // nothing acknowledged in order yet
			}
			if cp.Complete || cp.Offset >= int64(len(tf.data)) {
				t.Fatalf("checkpoint %+v after cancelling", cp)
			}
			if tc.workers == 1 && cp.Line == 0 {
				t.Errorf("no progress saved although 7 requests were acknowledged (result %+v)", res)
			}

			fs.setHook(nil)
			var log syncBuffer
			cfg.Log = &log
			cfg.Token = "run2"
			if _, err := Run(context.Background(), cfg, []string{tf.path}); err != nil {
				t.Fatal(err)
			}
			fs.check()
			if cp.Line > 0 && !strings.Contains(log.String(), "resuming "+tf.path+" at line "+groupThousands(cp.Line+1)) {
				t.Errorf("no resume notice:\n%s", log.String())
			}
			checkResumed(t, tf, cp, first, fs.receivedBy("run2"))
			if cp := onlyCheckpoint(t, cfg.StateDir); !cp.Complete {
				t.Errorf("checkpoint not complete after the second run: %+v", cp)
			}
		})
	}
}

// checkResumed checks a run that resumed from cp: lines up to cp.Line
// reached the server in the first run and were not sent again, every
// later line arrived exactly once in the second run.
func checkResumed(t *testing.T, tf testFile, cp *checkpoint, first, second map[string]int) {
	t.Helper()
	for line, num := range tf.line {
		if int64(num) <= cp.Line {
			if first[line] == 0 {
				t.Errorf("line %d is before the checkpoint (line %d) but was never received", num, cp.Line)
			}
			if second[line] != 0 {
				t.Errorf("line %d is before the checkpoint (line %d) but was sent again", num, cp.Line)
			}
		} else if second[line] != 1 {
			t.Errorf("line %d is after the checkpoint (line %d) and was received %d times by the second run", num, cp.Line, second[line])
		}
	}
	for line := range second {
		if _, ok := tf.line[line]; !ok {
			t.Errorf("unexpected line %q", line)
		}
	}
}

func TestFatalResponses(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{http.StatusUnauthorized, `{"error":"token required","code":"unauthorized"}`, "SILT_TOKEN"},
		{http.StatusRequestEntityTooLarge, `{"error":"body too large"}`, "--batch-lines"},
		{http.StatusInsufficientStorage, `{"error":"disk full"}`, "out of disk space"},
		{http.StatusBadRequest, `{"error":"database not found","code":"no-db"}`, "database not found"},
		{http.StatusNotFound, `404 page not found`, "database name"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			fs := newFakeServer(t)
			fs.setHook(func(n int, w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
				return true
			})
			srv := fs.start()
			tf := writeTestFile(t, t.TempDir(), "x.lp", genLP(1000, 0), false)
			cfg := testConfig(t, srv, nil)
			cfg.BatchLines = 10
			res, err := Run(context.Background(), cfg, []string{tf.path})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error mentioning %q", err, tc.want)
			}
			if res.RowsSent != 0 {
				t.Errorf("rows counted as sent: %+v", res)
			}
			if errors.Is(err, context.Canceled) {
				t.Errorf("fatal error reported as an interruption: %v", err)
			}
		})
	}
}

func TestTokenHeader(t *testing.T) {
	fs := newFakeServer(t)
	fs.setHook(func(n int, w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Token s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	})
	srv := fs.start()
	tf := writeTestFile(t, t.TempDir(), "x.lp", genLP(10, 0), false)
	cfg := testConfig(t, srv, nil)
	cfg.Token = "s3cret"
	if _, err := Run(context.Background(), cfg, []string{tf.path}); err != nil {
		t.Fatal(err)
	}
	expectExactlyOnce(t, tf, fs.receivedBy("s3cret"))
}

func TestMissingFileFailsBeforeSending(t *testing.T) {
	fs := newFakeServer(t)
	srv := fs.start()
	tf := writeTestFile(t, t.TempDir(), "x.lp", genLP(10, 0), false)
	cfg := testConfig(t, srv, nil)
	_, err := Run(context.Background(), cfg, []string{tf.path, tf.path + ".missing"})
	if err == nil || !strings.Contains(err.Error(), ".missing") {
		t.Fatalf("Run = %v, want an error naming the missing file", err)
	}
	if n := len(fs.received()); n != 0 {
		t.Errorf("%d lines sent before the missing file was noticed", n)
	}
}

func TestProgressBar(t *testing.T) {
	fs := newFakeServer(t)
	srv := fs.start()
	dir := t.TempDir()
	a := writeTestFile(t, dir, "a.lp", genLP(500, 0), false)
	b := writeTestFile(t, dir, "b.lp.gz", genLP(500, 0), true)
	var out syncBuffer
	cfg := testConfig(t, srv, nil)
	cfg.Progress = &out // and, as Log is nil, the notices and summary
	cfg.BatchLines = 40
	res, err := Run(context.Background(), cfg, []string{a.path, b.path})
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsWritten != 1000 {
		t.Errorf("RowsWritten = %d", res.RowsWritten)
	}
	s := out.String()
	if !strings.Contains(s, "100%") || !strings.Contains(s, "1,000 rows written") {
		t.Errorf("progress output lacks the full bar or the summary:\n%q", s)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestServerErrors(t *testing.T) {
	// A few 500s and 502s are ridden out.
	fs := newFakeServer(t)
	fs.setHook(func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 2, 3:
			w.WriteHeader(http.StatusInternalServerError)
		case 4, 5, 6, 7, 8, 9:
			w.WriteHeader(http.StatusBadGateway)
		default:
			return false
		}
		return true
	})
	srv := fs.start()
	tf := writeTestFile(t, t.TempDir(), "x.lp", genLP(200, 0), false)
	cfg := testConfig(t, srv, nil)
	cfg.BatchLines = 10
	cfg.Workers = 1
	if _, err := Run(context.Background(), cfg, []string{tf.path}); err != nil {
		t.Fatal(err)
	}
	expectExactlyOnce(t, tf, fs.received())

	// A chunk that keeps failing with 500 stops the import.
	fs.setHook(func(n int, w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":"boom","code":"internal"}`))
		return true
	})
	cfg.Resume = false
	_, err := Run(context.Background(), cfg, []string{tf.path})
	if err == nil || !strings.Contains(err.Error(), "gave up") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Run = %v, want giving up on a persistent 500", err)
	}
}
