// Package hostile throws random, malformed and oversized HTTP requests at a
// real silt serve process and checks that it survives them: the process
// never exits, no bad input gets a 5xx, every error carries Silt's JSON
// error shape, and every row acknowledged to a control database in between
// is there at the end, before and after a restart.
//
// The 5xx answers bad input may get are 503 query-timeout (a fuzzed query
// that runs past --query-timeout) and 507 disk-full (the machine's fault);
// 429 head-full and compaction-behind are 4xx and allowed like any other
// documented 4xx. Error answers must be {"error","code"} JSON, except an
// answer to HEAD (no body) and /query asked for CSV (InfluxDB's CSV error).
//
// Knobs (environment):
//
//	SILT_HOSTILE_SEED      seed of the run (default: time-based; always logged)
//	SILT_HOSTILE_REQUESTS  requests to send (default 3000; make test-hostile sends 100000)
//	SILT_HOSTILE_WORKERS   concurrent clients (default 4; 1 replays a run in order)
//	SILT_HOSTILE_KEEP      keep the data directory and server log in this directory
//	SILT_HOSTILE_HEAP      a directory: run the server with --debug.pprof and save its
//	                       heap profile (heap-<requests>.pb.gz) at each progress line,
//	                       to see what grows (go tool pprof -diff_base); for diagnosis,
//	                       as the fuzzer then also reaches the profiling endpoints
//
// Request i of a run is generated from (seed, i) alone, so the request a
// failure names is reproduced exactly by the same seed; with more than one
// worker the order of requests, and so the server's state when one
// arrives, may differ from run to run.
//
// The default run takes under a minute on a loaded 2-core machine; the long
// mode needs a generous timeout (20000 requests took about 3 minutes
// there): go test -timeout 90m ./test/hostile/, as make test-hostile does.
package hostile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// controlDB and controlTable hold the rows whose acknowledgement is
	// recorded. No generated name equals controlDB (see name).
	controlDB    = "hostile_control"
	controlTable = "ctl"

	// maxBody is the server's --max-body-bytes, small so that bodies above
	// it are cheap to send.
	maxBody = 1 << 20
)

// allowed5xx are the 5xx answers bad input may legitimately get: a query
// that runs past --query-timeout (503 query-timeout) and a full disk (507
// disk-full, the machine's fault, not the request's). 503 not-ready and
// shutting-down cannot happen while the fuzzer runs (the server is ready
// and not stopping); 500 of any kind and 503 wal-failed are bugs.
var allowed5xx = map[string]bool{"503 query-timeout": true, "507 disk-full": true}

func TestHostileHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SILT_HOSTILE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SILT_HOSTILE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	requests := envInt(t, "SILT_HOSTILE_REQUESTS", 3000)
	workers := envInt(t, "SILT_HOSTILE_WORKERS", 4)
	t.Logf("seed %d, %d requests, %d workers (reproduce with SILT_HOSTILE_SEED=%d)", seed, requests, workers, seed)

	dir := t.TempDir()
	if keep := os.Getenv("SILT_HOSTILE_KEEP"); keep != "" {
		d, err := os.MkdirTemp(keep, "hostile-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
		t.Logf("keeping data and logs in %s", dir)
	}
	bin := buildSilt(t)
	dataDir := filepath.Join(dir, "data")
	heapDir := os.Getenv("SILT_HOSTILE_HEAP")
	var extra []string
	if heapDir != "" {
		extra = append(extra, "--debug.pprof")
	}
	srv := startSilt(t, bin, dataDir, filepath.Join(dir, "server-1.log"), extra...)

	// Control rows: unique (series, time), so a count finds each exactly
	// once whatever the order of flushes and restarts.
	base := time.Now().Add(-time.Hour).UnixNano()
	var acked atomic.Int64
	stats := newStats()

	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
			defer client.CloseIdleConnections()
			for i := range work {
				r := rand.New(rand.NewPCG(seed, uint64(i)))
				if i%4 == 0 {
					n, err := controlWrite(client, srv.base, r, i, base, stats)
					if err != nil {
						t.Errorf("seed %d request %d (control write): %v", seed, i, err)
						continue
					}
					acked.Add(int64(n))
					continue
				}
				req := genRequest(r)
				if err := send(client, srv.addr, req, stats); err != nil {
					t.Errorf("seed %d request %d: %v\nrequest: %s", seed, i, err, req)
				}
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Minute) // hang guard only
	for i := 0; i < requests && time.Now().Before(deadline); i++ {
		if srv.exited() {
			t.Errorf("silt exited during the run after about %d requests (%v)", i, srv.state)
			break
		}
		if t.Failed() && stats.failures.Load() > 20 {
			break // enough to read
		}
		work <- i
		if i > 0 && i%(max(requests/10, 1000)) == 0 {
			t.Logf("%d requests sent; server RSS %s", i, procStatus(srv.cmd.Process.Pid, "VmRSS"))
			if heapDir != "" {
				saveHeap(t, srv.base, filepath.Join(heapDir, fmt.Sprintf("heap-%d.pb.gz", i)))
			}
		}
	}
	close(work)
	wg.Wait()
	if srv.exited() {
		t.Fatalf("silt exited during the run (%v); log:\n%s", srv.state, srv.tail(80))
	}
	if code, _, err := get(srv.base + "/health"); err != nil || code != 200 {
		t.Fatalf("after the run /health: %d %v", code, err)
	}
	hwm := procStatus(srv.cmd.Process.Pid, "VmHWM")
	flushErrs := metric(t, srv.base, "silt_flush_errors_total")

	want := acked.Load()
	live := countControl(t, srv.base)
	if code := srv.term(); code != 0 {
		t.Errorf("silt exited with %d after SIGTERM", code)
	}
	srv.checkLog(t)
	srv2 := startSilt(t, bin, dataDir, filepath.Join(dir, "server-2.log"))
	restarted := countControl(t, srv2.base)
	if code := srv2.term(); code != 0 {
		t.Errorf("restarted silt exited with %d after SIGTERM", code)
	}
	srv2.checkLog(t)

	t.Logf("statuses: %s", stats.histogram())
	t.Logf("acknowledged control rows %d; counted live %d, after restart %d; rows lost %d; server peak RSS (VmHWM) %s; silt_flush_errors_total %s",
		want, live, restarted, want-restarted, hwm, flushErrs)
	if live != want || restarted != want {
		t.Errorf("control rows: acknowledged %d, counted %d live and %d after a restart", want, live, restarted)
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// stats counts answers by status and code, and failures.
type stats struct {
	mu       sync.Mutex
	byStatus map[string]int
	failures atomic.Int64
}

func newStats() *stats { return &stats{byStatus: map[string]int{}} }

func (s *stats) add(key string) {
	s.mu.Lock()
	s.byStatus[key]++
	s.mu.Unlock()
}

func (s *stats) histogram() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.byStatus))
	for k := range s.byStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-40s %d", k, s.byStatus[k])
	}
	return b.String()
}

// ---- the server process ----

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildSilt builds ./cmd/silt without test tags: the hostile input goes to
// what production runs.
func buildSilt(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "silt-hostile-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "silt")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/siltdb/silt/cmd/silt").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/silt: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(binPath)) })
	return binPath
}

type proc struct {
	cmd     *exec.Cmd
	addr    string // 127.0.0.1:port
	base    string // http://addr
	logPath string
	done    chan struct{}
	state   *os.ProcessState
}

// startSilt runs silt serve and waits for /ready. A small body limit puts
// 413 within cheap reach; a short flush interval makes the fuzzed rows
// flush (and compact) while the fuzzer runs, so a row that cannot be
// flushed shows; a short query timeout bounds what a fuzzed query costs.
func startSilt(t *testing.T, bin, dataDir, logPath string, extra ...string) *proc {
	t.Helper()
	for attempt := 0; ; attempt++ {
		lf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		args := append([]string{"serve", "--data-dir", dataDir, "--http-addr", addr,
			"--max-body-bytes", strconv.Itoa(maxBody), "--flush-interval", "2s", "--query-timeout", "10s"}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = lf, lf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start silt: %v", err)
		}
		p := &proc{cmd: cmd, addr: addr, base: "http://" + addr, logPath: logPath, done: make(chan struct{})}
		go func() {
			_ = cmd.Wait()
			p.state = cmd.ProcessState
			_ = lf.Close()
			close(p.done)
		}()
		t.Cleanup(func() {
			if !p.exited() {
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			if t.Failed() {
				t.Logf("---- %s (last 60 lines) ----\n%s", filepath.Base(logPath), p.tail(60))
			}
		})
		deadline := time.Now().Add(2 * time.Minute) // hang guard only
		for time.Now().Before(deadline) && !p.exited() {
			if code, _, err := get(p.base + "/ready"); err == nil && code == 200 {
				return p
			}
			time.Sleep(10 * time.Millisecond)
		}
		if attempt < 2 && strings.Contains(p.tail(20), "listen") {
			continue // the free port was taken meanwhile
		}
		t.Fatalf("silt serve did not become ready; log:\n%s", p.tail(60))
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) tail(n int) string {
	raw, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) checkLog(t *testing.T) {
	t.Helper()
	raw, _ := os.ReadFile(p.logPath)
	for _, bad := range []string{"panic:", "fatal error:", "WARNING: DATA RACE"} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("server log %s contains %q:\n%s", filepath.Base(p.logPath), bad, p.tail(80))
		}
	}
}

// term stops the server with SIGTERM (a graceful shutdown) and returns its
// exit code.
func (p *proc) term() int {
	if p.exited() {
		return -1
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute): // hang guard only
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.state.ExitCode()
}

// procStatus is a memory figure of a process: VmRSS (resident now) or
// VmHWM (peak resident).
func procStatus(pid int, key string) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown (" + runtime.GOOS + ")"
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, key+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, key+":"))
		}
	}
	return "unknown"
}

// saveHeap writes the server's heap profile, taken after a collection.
func saveHeap(t *testing.T, base, path string) {
	code, body, err := get(base + "/debug/pprof/heap?gc=1")
	if err != nil || code != 200 {
		t.Errorf("heap profile: %d %v", code, err)
		return
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Error(err)
	}
}

func get(url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// metric returns the summed value of a Prometheus metric, as text.
func metric(t *testing.T, base, name string) string {
	code, body, err := get(base + "/metrics")
	if err != nil || code != 200 {
		t.Errorf("GET /metrics: %d %v", code, err)
		return "?"
	}
	var sum float64
	found := false
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			f, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err == nil {
				sum += f
				found = true
			}
		}
	}
	if !found {
		return "absent"
	}
	return strconv.FormatFloat(sum, 'g', -1, 64)
}

// countControl counts the control rows with SQL.
func countControl(t *testing.T, base string) int64 {
	t.Helper()
	q := "SELECT count(*) AS n FROM " + controlTable
	code, body, err := get(base + "/api/v1/sql?format=csv&db=" + controlDB + "&q=" + urlEscape(q))
	if err != nil || code != 200 {
		t.Fatalf("count control rows: %d %v %s", code, err, body)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	n, err := strconv.ParseInt(strings.TrimSpace(lines[len(lines)-1]), 10, 64)
	if err != nil {
		t.Fatalf("count control rows: answer %q", body)
	}
	return n
}

// ---- control writes ----

// controlWrite writes 1 to 20 rows that request i alone writes, through a
// randomly chosen write endpoint and encoding, and returns how many were
// acknowledged: all of them on 204, none on a 429 or 507 (nothing written,
// the documentation says). Anything else is an error.
func controlWrite(client *http.Client, base string, r *rand.Rand, i int, t0 int64, st *stats) (int, error) {
	n := 1 + r.IntN(20)
	var body bytes.Buffer
	path := "/write?db=" + controlDB
	ndjson := false
	switch r.IntN(3) {
	case 1:
		path = "/api/v2/write?org=x&bucket=" + controlDB
	case 2:
		path = "/api/v1/ingest?db=" + controlDB + "&table=" + controlTable + "&tags=w"
		ndjson = true
	}
	for j := 0; j < n; j++ {
		ts := t0 + int64(i)*1000 + int64(j)
		if ndjson {
			fmt.Fprintf(&body, `{"time":%d,"w":"w%d","v":%d}`+"\n", ts, i%8, j)
		} else { // v is a float, as NDJSON numbers are
			fmt.Fprintf(&body, "%s,w=w%d v=%d %d\n", controlTable, i%8, j, ts)
		}
	}
	payload := body.Bytes()
	gz := r.IntN(3) == 0
	if gz {
		payload = gzipBytes(payload)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %v", path, err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("POST %s: read answer: %v", path, err)
	}
	st.add(fmt.Sprintf("control %d", resp.StatusCode))
	switch resp.StatusCode {
	case 204:
		return n, nil
	case 429, 507:
		return 0, nil
	}
	st.failures.Add(1)
	return 0, fmt.Errorf("POST %s (%d rows): %d %s", path, n, resp.StatusCode, raw)
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

// ---- hostile requests ----

// request is one generated request. Raw requests are sent byte for byte on
// a fresh connection (they may not be valid HTTP); the others go through
// net/http, which frames them correctly.
type request struct {
	method  string
	target  string // path and query, possibly not valid in a URL
	headers [][2]string
	body    []byte
	raw     []byte // when set, sent as is
	// short: the raw request announces more body than it sends, so the
	// server waits for bytes that never come; its answer is not awaited
	// long.
	short bool
}

func (q request) String() string {
	if q.raw != nil {
		return fmt.Sprintf("raw %d bytes: %q", len(q.raw), clip(q.raw, 300))
	}
	return fmt.Sprintf("%s %q headers %q body %d bytes: %q", q.method, clip([]byte(q.target), 300), q.headers, len(q.body), clip(q.body, 300))
}

// validHeaders says whether net/http will send these header values.
func validHeaders(h [][2]string) bool {
	for _, kv := range h {
		for i := 0; i < len(kv[1]); i++ {
			if c := kv[1][i]; c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
	}
	return true
}

// plainRaw renders q as well-framed HTTP/1.1.
func plainRaw(q request) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: silt\r\nConnection: close\r\n", q.method, q.target)
	for _, kv := range q.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(q.body))
	b.Write(q.body)
	return b.Bytes()
}

// oversized says whether the server may refuse q before reading all of it:
// its body is above --max-body-bytes or its head above the 64 KiB limit.
func (q request) oversized() bool {
	head := len(q.target)
	for _, kv := range q.headers {
		head += len(kv[0]) + len(kv[1]) + 4
	}
	return len(q.body) > maxBody || head > 60<<10
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

var endpoints = []string{
	"/write", "/api/v2/write", "/api/v1/ingest", "/query", "/api/v1/sql",
	"/api/v1/databases", "/api/v1/tables", "/api/v1/export", "/ping", "/health",
	"/ready", "/metrics",
}

var oddPaths = []string{
	"/", "//write", "/write/", "/WRITE", "/api/v1/../write", "/api/v1/%2e%2e/write",
	"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1000",
	"/api", "/api/v1", "/api/v3/write", "/%ff%fe", "/query%00", "/metrics/extra",
}

func genRequest(r *rand.Rand) request {
	var q request
	path := endpoints[r.IntN(len(endpoints))]
	if r.IntN(12) == 0 {
		path = oddPaths[r.IntN(len(oddPaths))]
	}
	q.method = pick(r, []string{"GET", "POST", "POST", "POST"})
	if r.IntN(10) == 0 {
		q.method = pick(r, []string{"PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "FOO"})
	}
	if path == "/api/v1/databases" && r.IntN(4) == 0 {
		q.method = "DELETE" // drops fuzzed databases and tables while they flush and compact
	}
	q.target = path + genQuery(r, path)
	q.headers = genHeaders(r)
	if q.method != "GET" && q.method != "HEAD" || r.IntN(10) == 0 {
		q.body = genBody(r, path)
		q.body, q.headers = encode(r, q.body, q.headers)
	}
	if r.IntN(6) == 0 {
		q.raw, q.short = rawRequest(r, q)
	} else if !validHeaders(q.headers) {
		q.raw = plainRaw(q) // net/http would refuse to send them
	}
	return q
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

// name is a database or table name: mostly a few valid ones (so rows land
// in a few tables that flush and compact), else one of the kinds of names
// the server must refuse or escape. It is never controlDB.
func name(r *rand.Rand) string {
	switch r.IntN(16) {
	case 0:
		return ""
	case 1:
		return string([]byte{0xff, 0xfe})
	case 2:
		return strings.Repeat("/", 85+r.IntN(2)) // 85 is the longest allowed
	case 3:
		return pick(r, []string{"..", ".", "../../etc", "a/b", "a\\b", "a\x00b", "_internal", "-", " "})
	case 4:
		return strings.Repeat("x", 250+r.IntN(10))
	case 5:
		return strings.Repeat("n", 1000+r.IntN(5000))
	case 6:
		return pick(r, []string{"数据库", "ünïcödé", "emoji😀", "tab\there", "new\nline", "quote\"s", "semi;colon", "%2F"})
	case 7:
		return string(randBytes(r, 1+r.IntN(20)))
	}
	return "fz" + strconv.Itoa(r.IntN(6))
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// urlEscape percent-escapes every byte that is not unreserved, so any byte
// string (invalid UTF-8 too) reaches the server as a query value.
func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func genQuery(r *rand.Rand, path string) string {
	var args []string
	add := func(k, v string) { args = append(args, k+"="+urlEscape(v)) }
	if r.IntN(10) > 0 {
		switch path {
		case "/api/v2/write":
			add("bucket", name(r))
			add("org", name(r))
		case "/api/v1/databases":
			if r.IntN(2) == 0 {
				add("name", name(r))
			} else {
				add("db", name(r))
			}
		default:
			add("db", name(r))
		}
	}
	if r.IntN(3) == 0 {
		add("table", name(r))
	}
	if r.IntN(4) == 0 {
		add("precision", pick(r, []string{"ns", "us", "u", "µ", "ms", "s", "m", "h", "", "x", "1", "NS"}))
	}
	if (path == "/query" || path == "/api/v1/sql") && r.IntN(3) > 0 {
		add("q", genQueryText(r, path))
	}
	if r.IntN(6) == 0 {
		add("format", pick(r, []string{"json", "csv", "arrow", "", "xml", "JSON"}))
	}
	if r.IntN(8) == 0 {
		add("resolution", pick(r, []string{"raw", "auto", "1h", "", "x"}))
	}
	if r.IntN(8) == 0 {
		add("retention", pick(r, []string{"30d", "inf", "0", "-1d", "1ns", "99999999999d", "x"}))
	}
	if r.IntN(8) == 0 {
		add("tags", pick(r, []string{"a,b", "", ",,,", "time", "host"}))
	}
	if r.IntN(10) == 0 {
		args = append(args, pick(r, []string{"%zz", "db=%FF%FE", "&&&=", "=x", "db", "db=a&db=b", "q=%", "a=" + strings.Repeat("b", 70000)}))
	}
	if len(args) == 0 {
		return ""
	}
	r.Shuffle(len(args), func(i, j int) { args[i], args[j] = args[j], args[i] })
	return "?" + strings.Join(args, "&")
}

var sqlShapes = []string{
	"SELECT count(*) FROM %s",
	"SELECT * FROM %s LIMIT 10",
	"SELECT host, avg(v) FROM %s GROUP BY host",
	"SELECT time_bucket('1h', time) AS t, max(v) FROM %s GROUP BY t ORDER BY t",
	"SELECT v/0 FROM %s",
	"SELECT * FROM %s WHERE time > now() - interval '1 day'",
	"DROP TABLE %s",
	"SELECT %s",
	"SELECT * FROM %s UNION SELECT * FROM %s",
	"SELECT (((((((((((((((((((1)))))))))))))))))))",
	"SELECT 'unterminated FROM %s",
	"SELECT * FROM \"%s\" WHERE v IN (1,2,3,4,5,6,7,8,9)",
}

var influxQLShapes = []string{
	"SELECT * FROM %s",
	"SELECT mean(v) FROM %s WHERE time > now() - 1h GROUP BY time(1m)",
	"SHOW DATABASES",
	"SHOW MEASUREMENTS",
	"SHOW TAG KEYS FROM %s",
	"SHOW FIELD KEYS",
	"SHOW SERIES",
	"CREATE DATABASE %s",
	"DROP DATABASE %s",
	"DROP MEASUREMENT %s",
	"DELETE FROM %s WHERE time < 0",
	"SELECT * INTO x FROM %s",
	"SELECT count(v) FROM %s; SELECT * FROM %s",
	"SELECT /v/ FROM /.*/",
}

func genQueryText(r *rand.Rand, path string) string {
	if r.IntN(6) == 0 {
		return string(randBytes(r, r.IntN(200)))
	}
	shapes := sqlShapes
	if path == "/query" {
		shapes = influxQLShapes
	}
	s := pick(r, shapes)
	n := strings.Count(s, "%s")
	args := make([]any, n)
	for i := range args {
		if r.IntN(4) == 0 {
			args[i] = name(r)
		} else {
			args[i] = pick(r, []string{"m", "cpu", "fz0", "fz1", "x"})
		}
	}
	s = fmt.Sprintf(s, args...)
	if r.IntN(8) == 0 {
		s = strings.Repeat(s+" OR ", r.IntN(200)) + s // a long query
	}
	return s
}

func genHeaders(r *rand.Rand) [][2]string {
	var h [][2]string
	add := func(k, v string) { h = append(h, [2]string{k, v}) }
	if r.IntN(3) == 0 {
		add("Content-Type", pick(r, []string{"text/plain", "application/json", "application/x-www-form-urlencoded",
			"multipart/form-data; boundary=x", "application/vnd.apache.arrow.stream", "\x00\x01", ""}))
	}
	if r.IntN(8) == 0 {
		add("Authorization", pick(r, []string{"Token abc", "Bearer ", "Basic Zm9vOmJhcg==", "Token " + strings.Repeat("a", 5000), "x"}))
	}
	if r.IntN(12) == 0 {
		add("Origin", pick(r, []string{"http://evil.example", "null", "http://127.0.0.1", ""}))
	}
	if r.IntN(12) == 0 {
		add("Sec-Fetch-Site", pick(r, []string{"cross-site", "same-origin", "none", "same-site", "x"}))
	}
	if r.IntN(10) == 0 {
		add("Accept-Encoding", pick(r, []string{"gzip", "br", "*", "identity;q=0"}))
	}
	if r.IntN(12) == 0 {
		add("Accept", pick(r, []string{"application/csv", "text/csv", "application/vnd.apache.arrow.stream", "*/*", "application/x-msgpack"}))
	}
	if r.IntN(15) == 0 {
		add("X-Junk", strings.Repeat("j", 1000+r.IntN(80000))) // up to past the 64 KiB header limit
	}
	if r.IntN(15) == 0 {
		add("X-Bin", string(randBytes(r, 1+r.IntN(40))))
	}
	return h
}

// genBody is a body that suits path most of the time, and anything else
// otherwise.
func genBody(r *rand.Rand, path string) []byte {
	switch r.IntN(10) {
	case 0:
		return randBytes(r, r.IntN(4096))
	case 1:
		return nil
	case 2:
		return genLineProtocol(r)
	case 3:
		return genNDJSON(r)
	}
	switch path {
	case "/write", "/api/v2/write":
		return genLineProtocol(r)
	case "/api/v1/ingest":
		return genNDJSON(r)
	case "/query", "/api/v1/sql":
		if r.IntN(2) == 0 {
			return []byte("q=" + urlEscape(genQueryText(r, path)))
		}
		return []byte(genQueryText(r, path))
	case "/api/v1/databases":
		return []byte(pick(r, []string{
			fmt.Sprintf(`{"name": %q, "retention": "30d"}`, name(r)),
			fmt.Sprintf(`{"name": %q}`, name(r)),
			`{"name": 1}`, `{"name": "fz1", "retention": "forever"}`, `[]`, `{`, `null`,
			`{"name": "fz2", "retention": "inf", "extra": {"deep": [[[[[[]]]]]]}}`,
		}))
	}
	return randBytes(r, r.IntN(512))
}

// genLineProtocol mixes valid lines with corrupted ones, huge tag and field
// counts, long lines and extreme timestamps.
func genLineProtocol(r *rand.Rand) []byte {
	var b bytes.Buffer
	lines := 1 + r.IntN(50)
	if r.IntN(20) == 0 {
		lines = 1000 + r.IntN(20000) // many lines: many series, maybe past the body limit
	}
	now := time.Now().UnixNano()
	for l := 0; l < lines && b.Len() < 4*maxBody; l++ {
		var line []byte
		switch r.IntN(12) {
		case 0: // many tags, around the per-line limit
			var t bytes.Buffer
			t.WriteString(pick(r, []string{"m", "cpu", "wide"}))
			for k := 0; k < 200+r.IntN(400); k++ {
				fmt.Fprintf(&t, ",t%d=v", k)
			}
			t.WriteString(" v=1")
			line = t.Bytes()
		case 1: // many fields
			var t bytes.Buffer
			t.WriteString("wide ")
			for k := 0; k < 900+r.IntN(400); k++ {
				if k > 0 {
					t.WriteByte(',')
				}
				fmt.Fprintf(&t, "f%d=%d", k, k)
			}
			line = t.Bytes()
		case 2: // a long string field
			line = []byte(fmt.Sprintf(`m,host=h s="%s"`, strings.Repeat("s", r.IntN(maxBody+maxBody/4))))
		case 3:
			line = randBytes(r, r.IntN(200))
		default:
			meas := pick(r, []string{"m", "cpu", "fz0", "mem"})
			if r.IntN(10) == 0 {
				meas = name(r)
			}
			ts := ""
			switch r.IntN(6) {
			case 0:
			case 1:
				ts = " " + pick(r, []string{"-9223372036854775808", "9223372036854775807", "0", "-1", "99999999999999999999", "1e9", "x"})
			default:
				ts = " " + strconv.FormatInt(now-r.Int64N(int64(30*24*time.Hour)), 10)
			}
			field := pick(r, []string{"v=1", "v=2i", "v=3u", "v=true", `v="s"`, "v=1.5e308", "v=NaN", "v=-0", "host=1", "time=1", "v=1,v=2"})
			line = []byte(fmt.Sprintf("%s,host=h%d,region=%s %s%s", meas, r.IntN(50), pick(r, []string{"a", "b", "é", "\\ x"}), field, ts))
		}
		if r.IntN(15) == 0 { // corrupt one byte
			if len(line) > 0 {
				line[r.IntN(len(line))] = byte(r.Uint32())
			}
		}
		b.Write(line)
		b.WriteString(pick(r, []string{"\n", "\n", "\n", "\r\n", "\n\n", "\n# comment\n"}))
	}
	return b.Bytes()
}

func genNDJSON(r *rand.Rand) []byte {
	var b bytes.Buffer
	for l := 0; l < 1+r.IntN(30); l++ {
		switch r.IntN(8) {
		case 0:
			b.Write(randBytes(r, r.IntN(100)))
		case 1:
			b.WriteString(`{"time": "not a time", "v": 1}`)
		case 2:
			b.WriteString(`{"table": "cpu", "tags": {"host": 1}, "fields": {"v": [1,2]}}`)
		case 3:
			b.WriteString(`{"v": 1, "v": 2}`)
		case 4:
			b.WriteString(strings.Repeat(`{"a":`, 1000))
		default:
			fmt.Fprintf(&b, `{"time": %d, "table": %q, "host": "h%d", "v": %d, "ok": true}`,
				time.Now().UnixNano()-r.Int64N(int64(time.Hour)), pick(r, []string{"cpu", "m", "fz0"}), r.IntN(9), r.IntN(100))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// encode picks a Content-Encoding and encodes the body to match it, or not.
func encode(r *rand.Rand, body []byte, h [][2]string) ([]byte, [][2]string) {
	switch r.IntN(12) {
	case 0:
		return gzipBytes(body), append(h, [2]string{"Content-Encoding", "gzip"})
	case 1: // truncated gzip
		z := gzipBytes(body)
		return z[:r.IntN(len(z))], append(h, [2]string{"Content-Encoding", "gzip"})
	case 2: // plain text said to be gzip
		return body, append(h, [2]string{"Content-Encoding", "gzip"})
	case 3: // a small bomb: well past --max-body-bytes once inflated
		return gzipBytes(make([]byte, maxBody*(2+r.IntN(8)))), append(h, [2]string{"Content-Encoding", "gzip"})
	case 4:
		return body, append(h, [2]string{"Content-Encoding", pick(r, []string{"br", "deflate", "compress", "zstd", "gzip, gzip", "identity", "GZIP", "", "x-gzip"})})
	case 5: // a body near or past the limit
		return append(body, bytes.Repeat([]byte("m v=1\n"), (maxBody-maxBody/8+r.IntN(maxBody/4))/6)...), h
	}
	return body, h
}

// rawRequest renders q as bytes, then maybe breaks the framing: a lying
// Content-Length, a bare LF, an invalid method or version, raw bytes in the
// request target, or a chunked body.
func rawRequest(r *rand.Rand, q request) (raw []byte, short bool) {
	if r.IntN(15) == 0 { // not HTTP at all
		return randBytes(r, 1+r.IntN(2000)), false
	}
	target := q.target
	if r.IntN(3) == 0 { // raw invalid bytes in the target, not escaped
		target = strings.Replace(target, "db=", "db="+string([]byte{0xff, 0xfe, ' '}[:1+r.IntN(3)]), 1)
	}
	version := "HTTP/1.1"
	if r.IntN(10) == 0 {
		version = pick(r, []string{"HTTP/1.0", "HTTP/2.0", "HTTP/9", "", "http/1.1"})
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", q.method, target, version)
	b.WriteString("Host: silt\r\nConnection: close\r\n")
	for _, kv := range q.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	body := q.body
	switch r.IntN(6) {
	case 0: // says more than it sends: the server must time out or notice the close
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body)+1+r.IntN(100))
		short = true
	case 1:
		fmt.Fprintf(&b, "Content-Length: %s\r\n", pick(r, []string{"-1", "x", "99999999999999999999", "1, 2"}))
	case 2: // chunked
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for len(body) > 0 {
			n := min(len(body), 1+r.IntN(4096))
			fmt.Fprintf(&b, "%x\r\n", n)
			b.Write(body[:n])
			b.WriteString("\r\n")
			body = body[n:]
		}
		if r.IntN(4) > 0 {
			b.WriteString("0\r\n\r\n")
		} else {
			short = true
		}
		return b.Bytes(), short
	case 3: // bare LF line ends
		s := strings.ReplaceAll(b.String(), "\r\n", "\n")
		b.Reset()
		b.WriteString(s)
		fmt.Fprintf(&b, "Content-Length: %d\n", len(body))
		b.WriteString("\n")
		b.Write(body)
		return b.Bytes(), false
	default:
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes(), short
}

// ---- sending and checking ----

// send sends q and checks the answer. A raw request may get no answer at
// all (the server may close a connection it cannot read as HTTP), but the
// server must then still be up: the next request checks that.
func send(client *http.Client, addr string, q request, st *stats) error {
	var (
		status int
		header http.Header
		body   []byte
	)
	if q.raw != nil {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			st.failures.Add(1)
			return fmt.Errorf("dial: %v (is the server down?)", err)
		}
		defer conn.Close()
		// A request that announces more than it sends would wait for the
		// server's read timeout (5 min): give up on its answer long before.
		wait := time.Minute // hang guard only
		if q.short {
			wait = 2 * time.Second
		}
		_ = conn.SetDeadline(time.Now().Add(wait))
		if _, err := conn.Write(q.raw); err != nil {
			st.add("raw: write failed (closed early)")
			return nil
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			st.add("raw: no answer")
			return nil
		}
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		status, header = resp.StatusCode, resp.Header
		st.add(fmt.Sprintf("raw %d %s", status, errCode(body)))
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard only
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, q.method, "http://"+addr+"/", bytes.NewReader(q.body))
		if err != nil {
			return fmt.Errorf("build request: %v", err)
		}
		// Set the target verbatim: net/http would escape what it parses.
		req.URL.Opaque = strings.SplitN(q.target, "?", 2)[0]
		if i := strings.IndexByte(q.target, '?'); i >= 0 {
			req.URL.RawQuery = q.target[i+1:]
		}
		if q.body == nil {
			req.Body, req.ContentLength = nil, 0
		}
		for _, kv := range q.headers {
			req.Header[kv[0]] = append(req.Header[kv[0]], kv[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			if strings.Contains(err.Error(), "invalid header") || strings.Contains(err.Error(), "invalid method") {
				st.add("not sent (net/http refused it)")
				return nil
			}
			if (q.oversized() || len(q.body) > 0) && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)) {
				// The server answered (413, 431, or an error it could
				// tell from the headers) and closed the connection
				// before the whole request was sent: net/http cannot
				// read that answer (the raw requests do). Whether the
				// server is still up is checked by the next requests.
				st.add("closed before the request was sent whole")
				return nil
			}
			st.failures.Add(1)
			return fmt.Errorf("no answer: %v", err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			st.failures.Add(1)
			return fmt.Errorf("%d: reading the answer: %v", resp.StatusCode, err)
		}
		status, header = resp.StatusCode, resp.Header
		if q.method == "HEAD" {
			st.add(fmt.Sprintf("%d (HEAD)", status))
		} else {
			st.add(fmt.Sprintf("%d %s", status, errCode(body)))
		}
	}
	if err := checkAnswer(q, status, header, body); err != nil {
		st.failures.Add(1)
		return err
	}
	return nil
}

func errCode(body []byte) string {
	var e struct{ Code string }
	if json.Unmarshal(body, &e) == nil {
		return e.Code
	}
	return ""
}

// checkAnswer: no 5xx beyond allowed5xx, and every error answer is Silt's
// JSON error shape (HEAD answers carry no body; /query asked for CSV
// answers InfluxDB's CSV error).
func checkAnswer(q request, status int, header http.Header, body []byte) error {
	if status < 400 {
		return nil
	}
	var e struct {
		Error *string `json:"error"`
		Code  *string `json:"code"`
	}
	shapeErr := json.Unmarshal(body, &e)
	if status >= 500 && !allowed5xx[fmt.Sprintf("%d %s", status, errCode(body))] {
		return fmt.Errorf("bad input got %d: %s", status, clip(body, 500))
	}
	if q.method == "HEAD" && len(body) == 0 {
		return nil
	}
	if strings.HasPrefix(q.target, "/query") && strings.HasPrefix(header.Get("Content-Type"), "text/csv") {
		// InfluxQL with Accept: application/csv answers errors as
		// InfluxDB does, in its CSV: an "error" column.
		if !bytes.HasPrefix(body, []byte("error\n")) || len(body) < len("error\nx") {
			return fmt.Errorf("%d CSV answer of /query is not InfluxDB's error CSV: %q", status, clip(body, 500))
		}
		return nil
	}
	if shapeErr != nil || e.Error == nil || e.Code == nil || *e.Error == "" || *e.Code == "" {
		return fmt.Errorf("%d answer is not {\"error\",\"code\"} JSON (Content-Type %q): %q", status, header.Get("Content-Type"), clip(body, 500))
	}
	return nil
}
