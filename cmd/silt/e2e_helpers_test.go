package main

// Helpers for the end-to-end tests that run the real silt binary as a child
// process: build it once, start and stop servers, write, export and parse,
// and a model of what every point may legitimately look like after a crash.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	e2eTmp    string // removed by TestMain
	e2eOnce   sync.Once
	e2eBin    string
	e2eBinErr error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eTmp != "" {
		_ = os.RemoveAll(e2eTmp)
	}
	os.Exit(code)
}

// Knobs: SILT_E2E_KEEP=dir keeps each test's data directories and server
// logs under dir instead of deleting them.

// skipShort skips the slow end-to-end tests under go test -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test runs the real binary; skipped with -short")
	}
}

// siltBinary builds ./cmd/silt once per test process (lazily, so -short and
// unrelated -run patterns pay nothing) into a temporary directory that
// TestMain removes. SILT_E2E_RACE=1 builds it with the race detector; the
// tests then fail on any race report in a server log. The silttest tag
// compiles in the test knobs the SILT_TEST_* variables set (crash tests
// widen race windows with them); production builds leave them out.
func siltBinary(t testing.TB) string {
	t.Helper()
	e2eOnce.Do(func() {
		dir, err := os.MkdirTemp("", "silt-e2e-")
		if err != nil {
			e2eBinErr = err
			return
		}
		e2eTmp = dir
		bin := filepath.Join(dir, "silt")
		args := []string{"build", "-tags", "silttest", "-o", bin}
		if os.Getenv("SILT_E2E_RACE") != "" {
			args = append(args, "-race")
		}
		args = append(args, ".")
		cmd := exec.Command("go", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			e2eBinErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		e2eBin = bin
	})
	if e2eBinErr != nil {
		t.Fatalf("build silt: %v", e2eBinErr)
	}
	return e2eBin
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// harness runs successive silt processes for one test and keeps their logs.
type harness struct {
	t      *testing.T
	dir    string
	starts int
	logs   []string
	procs  []*siltProc
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: t.TempDir()}
	if keep := os.Getenv("SILT_E2E_KEEP"); keep != "" {
		// Keep data directories and logs for a post-mortem.
		dir, err := os.MkdirTemp(keep, strings.ReplaceAll(t.Name(), "/", "_")+"-")
		if err != nil {
			t.Fatal(err)
		}
		h.dir = dir
		t.Logf("keeping data and logs in %s", dir)
	}
	t.Cleanup(func() {
		for _, p := range h.procs {
			if !p.exited() {
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			// The last few starts are what matters for a failure.
			from := max(0, len(h.logs)-3)
			for _, l := range h.logs[from:] {
				raw, _ := os.ReadFile(l)
				t.Logf("---- %s (last 60 lines) ----\n%s", filepath.Base(l), tailLines(string(raw), 60))
			}
		}
	})
	return h
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// siltProc is one running (or exited) silt serve process.
type siltProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	logPath string
	logFile *os.File
	done    chan struct{} // closed when the process has exited
	state   *os.ProcessState
	client  *http.Client
}

// start runs silt serve on dataDir with extra flags and waits for /ready.
func (h *harness) start(dataDir string, extra ...string) *siltProc {
	t := h.t
	t.Helper()
	var lastLog string
	for attempt := 0; attempt < 3; attempt++ {
		p := h.spawn(dataDir, extra...)
		if p.waitReady() {
			return p
		}
		lastLog = p.log()
		if !strings.Contains(lastLog, "listen (is another server on this address?") {
			break // not a port race: do not retry
		}
	}
	t.Fatalf("silt serve did not become ready; log:\n%s", tailLines(lastLog, 60))
	return nil
}

// spawn starts silt serve on dataDir without waiting for it to be ready.
func (h *harness) spawn(dataDir string, extra ...string) *siltProc {
	t := h.t
	t.Helper()
	bin := siltBinary(t)
	h.starts++
	logPath := filepath.Join(h.dir, fmt.Sprintf("server-%02d.log", h.starts))
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append([]string{"serve", "--data-dir", dataDir, "--http-addr", addr}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start silt: %v", err)
	}
	p := &siltProc{t: t, cmd: cmd, base: "http://" + addr, logPath: logPath, logFile: lf,
		done: make(chan struct{})}
	p.client = &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 32,
		DisableCompression:  true,
	}}
	h.procs = append(h.procs, p)
	h.logs = append(h.logs, logPath)
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		_ = lf.Close()
		p.client.CloseIdleConnections()
		close(p.done)
	}()
	return p
}

// waitReady polls /ready until 200, or returns false once the process exits.
// The deadline only guards against a hang; it asserts nothing about speed.
func (p *siltProc) waitReady() bool {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if p.exited() {
			return false
		}
		code, _, err := p.get("/ready")
		if err == nil && code == http.StatusOK {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("silt did not become ready within 2 minutes; log:\n%s", tailLines(p.log(), 60))
	return false
}

func (p *siltProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// log returns everything the process logged so far.
func (p *siltProc) log() string {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatalf("read server log: %v", err)
	}
	return string(raw)
}

// checkLogClean fails the test on race-detector reports and panics in the
// log of an exited process.
func (p *siltProc) checkLogClean() {
	p.t.Helper()
	l := p.log()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(l, bad) {
			p.t.Errorf("server log %s contains %q:\n%s", filepath.Base(p.logPath), bad, tailLines(l, 80))
		}
	}
}

// kill sends SIGKILL and waits for the process to die. It fails the test if
// the process had already exited on its own (a crash we did not cause).
func (p *siltProc) kill() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("silt exited on its own before the kill (%v); log:\n%s", p.state, tailLines(p.log(), 80))
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill: %v", err)
	}
	<-p.done
	ws, ok := p.state.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("silt exited with %v before SIGKILL reached it; log:\n%s", p.state, tailLines(p.log(), 80))
	}
	p.checkLogClean()
}

// termThenKill sends SIGTERM and, if the process is still shutting down
// after grace, SIGKILL: a supervisor whose stop timeout runs out. It
// returns what happened.
func (p *siltProc) termThenKill(grace time.Duration) string {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("silt exited on its own before SIGTERM (%v); log:\n%s", p.state, tailLines(p.log(), 80))
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("sigterm: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	p.checkLogClean()
	ws, _ := p.state.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return "killed while shutting down"
	case ws.Exited() && ws.ExitStatus() == 0:
		return "stopped cleanly before the kill"
	}
	p.t.Errorf("after SIGTERM silt exited with %v; want 0 or killed; log:\n%s", p.state, tailLines(p.log(), 40))
	return p.state.String()
}

// killEarly SIGKILLs a process that may still be starting (replaying its
// WAL, removing orphans, creating its WAL file) or may be ready already.
func (p *siltProc) killEarly() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.checkLogClean()
	ws, _ := p.state.Sys().(syscall.WaitStatus)
	if ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return
	}
	if l := p.log(); !strings.Contains(l, "listen (is another server on this address?") {
		p.t.Errorf("silt exited with %v before it was killed during startup; log:\n%s", p.state, tailLines(l, 40))
	}
}

// term sends SIGTERM and returns the exit code once the process is gone.
func (p *siltProc) term() int {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("silt exited on its own before SIGTERM (%v); log:\n%s", p.state, tailLines(p.log(), 80))
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("sigterm: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute): // hang guard only
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("silt did not exit within 3 minutes of SIGTERM; log:\n%s", tailLines(p.log(), 80))
	}
	p.checkLogClean()
	return p.state.ExitCode()
}

const requestTimeout = time.Minute // hang guard only

func (p *siltProc) do(method, path string, body []byte) (int, []byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, raw, resp.Header, fmt.Errorf("read %s response body: %w", path, err)
	}
	return resp.StatusCode, raw, resp.Header, nil
}

func (p *siltProc) get(path string) (int, []byte, error) {
	code, body, _, err := p.do(http.MethodGet, path, nil)
	return code, body, err
}

// write posts line protocol to /write?db=db.
func (p *siltProc) write(db string, body []byte) (int, []byte, http.Header, error) {
	return p.do(http.MethodPost, "/write?db="+db, body)
}

// pointKey identifies a point: table, tag set as exported ("k=v,k=v",
// sorted) and timestamp in ns.
type pointKey struct {
	Table  string
	Series string
	Time   int64
}

func (k pointKey) String() string { return fmt.Sprintf("{%s,%s @%d}", k.Table, k.Series, k.Time) }

// export fetches every point of db.table. Values are the field section as
// exported ("f=1.5,str=\"x\",v=3i"). A missing database or table is an
// empty export. A point exported twice is an error.
func (p *siltProc) export(db, table string) (map[pointKey]string, error) {
	code, body, err := p.get("/api/v1/export?db=" + db + "&table=" + table)
	if err != nil {
		return nil, err
	}
	switch code {
	case http.StatusOK:
	case http.StatusNotFound:
		if bytes.Contains(body, []byte(`"db-not-found"`)) || bytes.Contains(body, []byte(`"table-not-found"`)) {
			return map[pointKey]string{}, nil
		}
		fallthrough
	default:
		return nil, fmt.Errorf("export: status %d: %s", code, body)
	}
	return parseExport(table, body)
}

// exportTables merges the exports of several tables of db.
func (p *siltProc) exportTables(db string, tables ...string) (map[pointKey]string, error) {
	out := map[pointKey]string{}
	for _, t := range tables {
		got, err := p.export(db, t)
		if err != nil {
			return nil, err
		}
		for k, v := range got {
			out[k] = v
		}
	}
	return out, nil
}

// parseExport parses the line protocol the export endpoint writes, for the
// subset these tests write (no escapes, no spaces in values).
func parseExport(table string, body []byte) (map[pointKey]string, error) {
	out := map[pointKey]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("export line %d %q: %s", n, line, why) }
		if strings.ContainsRune(line, '\\') {
			return nil, bad("escapes are never written by these tests")
		}
		i, j := strings.IndexByte(line, ' '), strings.LastIndexByte(line, ' ')
		if i < 0 || j <= i {
			return nil, bad("want 'table,tags fields time'")
		}
		if !strings.HasPrefix(line[:i], table+",") {
			return nil, bad("does not start with table " + table)
		}
		ts, err := strconv.ParseInt(line[j+1:], 10, 64)
		if err != nil {
			return nil, bad("bad timestamp")
		}
		k := pointKey{Table: table, Series: line[len(table)+1 : i], Time: ts}
		if prev, dup := out[k]; dup {
			return nil, bad(fmt.Sprintf("point %v exported twice (other value %s)", k, prev))
		}
		out[k] = line[i+1 : j]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// fieldsText is the field section of one written value, exactly as the
// export writes it back (keys sorted; the float has an exact binary
// fraction, stays below 1e6 for the value counts used here and so formats
// the same way both directions).
func fieldsText(v int64, label string) string {
	return "f=" + strconv.FormatFloat(float64(v)/8+0.125, 'g', -1, 64) + `,str="` + label + `",v=` + strconv.FormatInt(v, 10) + "i"
}

// t0 is 2024-01-01T00:00:00Z; points spread over three daily windows.
const t0 = int64(1704067200) * 1e9

// newKey returns the key of the n-th distinct point of table m: unique by
// time alone, spread over 3 day windows, 61 series and 3 regions.
func newKey(n int64) pointKey {
	w := n % 3
	return pointKey{
		Table:  "m",
		Series: fmt.Sprintf("region=r%d,s=s%03d", w, n%61),
		Time:   t0 + w*int64(24*time.Hour) + n*1000,
	}
}

// newKeyN returns the key of the n-th distinct point of table n, a small
// second table.
func newKeyN(n int64) pointKey {
	return pointKey{Table: "n", Series: fmt.Sprintf("dev=d%d", n%7), Time: t0 + n*1000}
}

// lineProtocol renders keys[i] with value vals[i]. The order of tags and
// fields varies from line to line (by key, so the same point is always
// written alike): requests mix row shapes, which the server's per-shape
// admission and append shortcuts must tell apart.
func lineProtocol(keys []pointKey, vals []string) []byte {
	var b bytes.Buffer
	for i, k := range keys {
		b.WriteString(k.Table)
		b.WriteByte(',')
		tags := strings.Split(k.Series, ",")
		r := int(k.Time/1000) % len(tags)
		b.WriteString(strings.Join(append(tags[r:], tags[:r]...), ","))
		b.WriteByte(' ')
		fields := strings.Split(vals[i], ",") // values hold no commas
		r = int(k.Time/1000/7) % len(fields)
		b.WriteString(strings.Join(append(fields[r:], fields[:r]...), ","))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(k.Time, 10))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// outcome of one write request.
type outcome int

const (
	acked    outcome = iota // 204: must be durable
	unacked                 // no answer, or an error that does not promise "nothing written": may or may not be stored
	rejected                // 507: nothing from the request was written
)

func (o outcome) String() string {
	return [...]string{"acked", "unacked", "rejected"}[o]
}

// sentBatch is one write request: its distinct keys with the value each ends
// up with (the last duplicate within the request wins).
type sentBatch struct {
	keys    []pointKey
	vals    []string
	label   string
	outcome outcome
	status  int
	detail  string
}

// newSentBatch collapses the lines of a request to one final value per key.
func newSentBatch(label string, keys []pointKey, vals []string) *sentBatch {
	last := make(map[pointKey]int, len(keys))
	for i, k := range keys {
		last[k] = i
	}
	b := &sentBatch{label: label}
	for i, k := range keys {
		if last[k] == i {
			b.keys = append(b.keys, k)
			b.vals = append(b.vals, vals[i])
		}
	}
	return b
}

// model tracks what each point may look like. cur is the value that must be
// present (an acknowledged write, or the value observed after a restart);
// "" means the point may be absent. pending are values of writes since cur
// that were not acknowledged: any one of them may have won. A batch whose
// values were seen or not seen after a restart is settled: without power
// loss nothing the server showed after a restart may disappear or revert.
// Writes to one point must not be concurrent (the tests never send two
// writes of a point at once), so their order is the order they were sent.
type model struct {
	points map[pointKey]*pointState
	keys   []pointKey // every key ever recorded, for picking overwrites
}

type pointState struct {
	cur     string
	pending []string
}

func newModel() *model { return &model{points: map[pointKey]*pointState{}} }

func (m *model) record(b *sentBatch) {
	if b.outcome == rejected {
		return // nothing may be stored: its values are not acceptable
	}
	for i, k := range b.keys {
		st := m.points[k]
		if st == nil {
			st = &pointState{}
			m.points[k] = st
			m.keys = append(m.keys, k)
		}
		switch b.outcome {
		case acked:
			st.cur, st.pending = b.vals[i], nil
		case unacked:
			st.pending = append(st.pending, b.vals[i])
		}
	}
}

// acceptable reports whether value v (or absence, v == "") is allowed for k.
func (m *model) acceptable(k pointKey, v string) bool {
	st := m.points[k]
	if st == nil {
		return v == ""
	}
	if v == st.cur {
		return true
	}
	for _, p := range st.pending {
		if v == p {
			return true
		}
	}
	return false
}

// check compares an export with the model and returns the problems found.
func (m *model) check(got map[pointKey]string) []string {
	var probs []string
	var missing, wrong, unknown int
	for k, v := range got {
		st := m.points[k]
		switch {
		case st == nil:
			unknown++
			probs = append(probs, fmt.Sprintf("point %v = %s was never written (or only in a request that got 507)", k, v))
		case !m.acceptable(k, v):
			wrong++
			probs = append(probs, fmt.Sprintf("point %v = %s; want %s", k, v, st.want()))
		}
	}
	for k, st := range m.points {
		if _, ok := got[k]; !ok && st.cur != "" {
			missing++
			probs = append(probs, fmt.Sprintf("point %v missing; want %s", k, st.want()))
		}
	}
	sort.Strings(probs)
	if len(probs) > 0 {
		probs = append([]string{fmt.Sprintf("%d acknowledged points missing, %d with a wrong value, %d never written (export has %d points, model %d)",
			missing, wrong, unknown, len(got), len(m.points))}, probs...)
	}
	return probs
}

func (st *pointState) want() string {
	var alts []string
	if st.cur != "" {
		alts = append(alts, st.cur+" (acknowledged or seen after a restart)")
	} else {
		alts = append(alts, "absent")
	}
	for _, p := range st.pending {
		alts = append(alts, p+" (unacknowledged)")
	}
	return strings.Join(alts, " or ")
}

// settle makes an export (already checked) the new baseline.
func (m *model) settle(got map[pointKey]string) {
	for k, st := range m.points {
		st.cur, st.pending = got[k], nil
	}
}

// reportProblems fails the test with at most 25 of probs.
func reportProblems(t *testing.T, what string, probs []string) {
	t.Helper()
	if len(probs) == 0 {
		return
	}
	shown := probs[:min(len(probs), 25)]
	t.Errorf("%s: %d problems:\n  %s", what, len(probs), strings.Join(shown, "\n  "))
}

// errorBody is the JSON of a silt error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}
