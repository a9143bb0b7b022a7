package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

func TestMain(m *testing.M) {
	// Retry without real waiting; nothing in the tests depends on timing.
	backoffMin = time.Millisecond
	backoffMax = 2 * time.Millisecond
	retryAfterUnit = time.Millisecond
	os.Exit(m.Run())
}

// fakeServer implements the server side of the write contract. Lines
// containing "BAD" are rejected; every other line is recorded.
type fakeServer struct {
	t *testing.T

	// listErrors is how many bad lines a 400 lists in "errors"; 0 leaves
	// the list out, as the minimal contract allows.
	listErrors int

	mu sync.Mutex
	// hook, when set, runs first for every request with its 1-based
	// sequence number; returning true means it has answered.
	hook     func(n int, w http.ResponseWriter, r *http.Request) bool
	idle     *sync.Cond // signalled when active drops to zero
	active   int        // requests being handled
	requests int
	// got counts the times each line was written, by the token of the
	// request: tests tell runs apart by their token, because a request of
	// a cancelled run may still reach the handler after the run returned.
	got      map[string]map[string]int
	paths    map[string]int // URL path -> requests
	queries  []string
	problems []string
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{t: t, got: map[string]map[string]int{}, paths: map[string]int{}}
	f.idle = sync.NewCond(&f.mu)
	return f
}

// start serves f on a new httptest.Server closed at the end of the test.
func (f *fakeServer) start() *httptest.Server {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv
}

func (f *fakeServer) problem(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.active++
	n := f.requests
	hook := f.hook
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.active--; f.active == 0 {
			f.idle.Broadcast()
		}
		f.mu.Unlock()
	}()
	if hook != nil && hook(n, w, r) {
		return
	}

	if r.Method != http.MethodPost {
		f.problem("method %s", r.Method)
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		f.problem("request %d not gzip-encoded", n)
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		f.problem("request %d: %v", n, err)
		http.Error(w, `{"error":"bad gzip"}`, http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		f.problem("request %d: %v", n, err)
		return
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		f.problem("request %d: body does not end with a newline", n)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")

	var written, rejected, first int
	var errs []map[string]any
	tok := r.Header.Get("Authorization")
	f.mu.Lock()
	got := f.got[tok]
	if got == nil {
		got = map[string]int{}
		f.got[tok] = got
	}
	f.paths[r.URL.Path]++
	f.queries = append(f.queries, r.URL.RawQuery)
	for i, line := range lines {
		if strings.Contains(line, "BAD") {
			rejected++
			if first == 0 {
				first = i + 1
			}
			if len(errs) < f.listErrors {
				errs = append(errs, map[string]any{"line": i + 1, "code": "bad-line", "error": fmt.Sprintf("bad value %d", len(errs))})
			}
			continue
		}
		got[line]++
		written++
	}
	f.mu.Unlock()

	if rejected > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		resp := map[string]any{
			// Like Silt, start the message with the request line.
			"error": fmt.Sprintf("line %d: bad value 0", first), "code": "bad-line",
			"line": first, "written": written, "rejected": rejected,
		}
		if errs != nil {
			resp["errors"] = errs
		}
		json.NewEncoder(w).Encode(resp)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setHook replaces the hook.
func (f *fakeServer) setHook(h func(n int, w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	f.hook = h
	f.mu.Unlock()
}

// received returns what was written so far by requests without a token
// and resets the record.
func (f *fakeServer) received() map[string]int { return f.receivedBy("") }

// receivedBy returns what was written so far by requests with the token
// and resets the record. It first waits for requests being handled.
func (f *fakeServer) receivedBy(token string) map[string]int {
	if token != "" {
		token = "Token " + token
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.active > 0 {
		f.idle.Wait()
	}
	got := f.got[token]
	delete(f.got, token)
	if got == nil {
		got = map[string]int{}
	}
	return got
}

func (f *fakeServer) check() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.problems {
		f.t.Error("server:", p)
	}
}

// testFile describes a generated input file.
type testFile struct {
	path string
	data []byte         // uncompressed content
	line map[string]int // data line -> file line number
	bad  map[int]bool   // file line numbers of lines the server rejects
}

// genLP generates n line-protocol data lines, with blank and comment
// lines mixed in so that request and file line numbers differ, and every
// badEvery-th data line invalid (0: none).
func genLP(n, badEvery int) []string {
	var out []string
	for i := range n {
		switch {
		case i%50 == 7:
			out = append(out, "")
		case i%70 == 3:
			out = append(out, "# a comment")
		case i%90 == 5:
			out = append(out, "   ")
		}
		tag := strings.Repeat("x", i%13) // vary line lengths
		if badEvery > 0 && i%badEvery == badEvery-1 {
			out = append(out, fmt.Sprintf("cpu,host=h%d%s BAD %d", i, tag, i))
			continue
		}
		out = append(out, fmt.Sprintf("cpu,host=h%d%s usage=%di %d", i, tag, i, 1700000000000000000+i))
	}
	return out
}

// writeTestFile writes lines to dir/name, gzip-compressed in two members
// when gz is set (multi-member files are what `cat a.gz b.gz` makes).
func writeTestFile(t *testing.T, dir, name string, lines []string, gz bool) testFile {
	t.Helper()
	tf := testFile{path: filepath.Join(dir, name), line: map[string]int{}, bad: map[int]bool{}}
	tf.data = []byte(strings.Join(lines, "\n") + "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.Contains(l, "BAD") {
			tf.bad[i+1] = true
			continue
		}
		if _, dup := tf.line[l]; dup {
			t.Fatalf("generated duplicate line %q", l)
		}
		tf.line[l] = i + 1
	}
	content := tf.data
	if gz {
		var buf bytes.Buffer
		half := len(lines) / 2
		for _, part := range []string{
			strings.Join(lines[:half], "\n") + "\n",
			strings.Join(lines[half:], "\n") + "\n",
		} {
			zw := gzip.NewWriter(&buf)
			zw.Write([]byte(part))
			zw.Close()
		}
		content = buf.Bytes()
	}
	if err := os.WriteFile(tf.path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return tf
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, with a hook
// called on each write.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	onWrite func(string)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	hook := b.onWrite
	b.mu.Unlock()
	if hook != nil {
		hook(string(p))
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testConfig returns a Config for srv with its state in a temporary
// directory.
func testConfig(t *testing.T, srv *httptest.Server, log io.Writer) Config {
	cfg := DefaultConfig()
	cfg.Server = srv.URL
	cfg.DB = "testdb"
	cfg.StateDir = t.TempDir()
	cfg.Log = log
	return cfg
}

// expectExactlyOnce checks that got holds every data line of tf exactly
// once and nothing else.
func expectExactlyOnce(t *testing.T, tf testFile, got map[string]int) {
	t.Helper()
	for line, n := range got {
		if _, ok := tf.line[line]; !ok {
			t.Errorf("server received unexpected line %q (split or mangled?)", line)
		} else if n != 1 {
			t.Errorf("line %d received %d times", tf.line[line], n)
		}
	}
	for line, num := range tf.line {
		if got[line] == 0 {
			t.Errorf("line %d never received: %q", num, line)
		}
	}
}

// onlyCheckpoint loads the single checkpoint in dir.
func onlyCheckpoint(t *testing.T, dir string) *checkpoint {
	t.Helper()
	cp := maybeCheckpoint(t, dir)
	if cp == nil {
		t.Fatalf("no checkpoint in %s", dir)
	}
	return cp
}

// maybeCheckpoint loads the checkpoint in dir, if there is one: a run
// interrupted before its first chunk was acknowledged saves none.
func maybeCheckpoint(t *testing.T, dir string) *checkpoint {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(names) == 0 && err == nil {
		return nil
	}
	if err != nil || len(names) != 1 {
		t.Fatalf("want one checkpoint in %s, found %v (%v)", dir, names, err)
	}
	cp, err := loadCheckpoint(names[0])
	if err != nil || cp == nil {
		t.Fatalf("load checkpoint: %v", err)
	}
	return cp
}
