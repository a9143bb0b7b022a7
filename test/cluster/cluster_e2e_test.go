// Package cluster runs real silt serve processes as a cluster over one
// real MinIO bucket: three writers (--role writer) that split a stream the
// way a Kafka group splits partitions, with the poll before each hand-over
// consumed again by the next owner, and a query node (--role query) that
// must answer SQL and InfluxQL over the union with every record once —
// equal to a model computed here and to a standalone node that got the
// stream once. It also starts a second process with a writer's --node-id
// (refused while the first is alive) and freezes a writer until another
// process takes its id over (the frozen one stops on waking, fenced).
//
// About a minute; make test-cluster runs it alone with -v.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
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

	"github.com/siltdb/silt/internal/testutil/miniotest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func siltBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "silt-cluster-e2e-")
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
	return binPath
}

type proc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	base    string
	logPath string
	done    chan struct{}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) log() string {
	raw, _ := os.ReadFile(p.logPath)
	return string(raw)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cluster is the bucket and the processes of one test.
type cluster struct {
	t     *testing.T
	srv   *miniotest.Server
	dir   string
	procs []*proc
}

func newCluster(t *testing.T) *cluster {
	if testing.Short() {
		t.Skip("runs real silt processes and MinIO; skipped with -short")
	}
	c := &cluster{t: t, srv: miniotest.Start(t), dir: t.TempDir()}
	t.Cleanup(func() {
		for _, p := range c.procs {
			if !p.exited() {
				_ = p.cmd.Process.Signal(syscall.SIGCONT)
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			if t.Failed() {
				t.Logf("---- %s (last 30 lines) ----\n%s", p.name, tail(p.log(), 30))
			}
		}
	})
	return c
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// spawn starts silt serve named name on a fresh data directory; args
// are added to the bucket's flags.
func (c *cluster) spawn(name string, args ...string) *proc {
	t := c.t
	t.Helper()
	addr := freeAddr(t)
	full := append([]string{"serve", "--data-dir", filepath.Join(c.dir, name+"-data"), "--http-addr", addr,
		"--pg-addr", "", "--flight-addr", "", "--log-level", "debug",
		"--s3.endpoint", c.srv.Endpoint, "--s3.bucket", "silt", "--s3.create-bucket", "--s3.insecure",
		"--s3.addressing", "path", "--s3.prefix", "prod", "--cluster.lease", "5s",
		"--tier.after", "1h", "--tier.interval", "500ms", "--flush-interval", "1s"}, args...)
	logPath := filepath.Join(c.dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(siltBinary(t), full...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+c.srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+c.srv.SecretKey)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, base: "http://" + addr, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = lf.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p
}

// start spawns and waits for /ready (the deadline guards a hang only).
func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	p := c.spawn(name, args...)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && !p.exited() {
		if code, _ := p.get("/ready"); code == http.StatusOK {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("%s did not become ready; log:\n%s", name, tail(p.log(), 40))
	return nil
}

func (p *proc) do(method, path string, body []byte) (int, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func (p *proc) get(path string) (int, []byte) { return p.do(http.MethodGet, path, nil) }

func (p *proc) write(lines []string) {
	p.t.Helper()
	code, body := p.do(http.MethodPost, "/write?db=db", []byte(strings.Join(lines, "\n")+"\n"))
	if code != http.StatusNoContent {
		p.t.Fatalf("%s: write: %d %s", p.name, code, body)
	}
}

// sql runs a query and returns its rows (JSON numbers as float64).
func (p *proc) sql(q string) [][]any {
	p.t.Helper()
	code, body := p.get("/api/v1/sql?db=db&q=" + url.QueryEscape(q))
	if code != http.StatusOK {
		p.t.Fatalf("%s: sql %q: %d %s", p.name, q, code, body)
	}
	var res struct{ Rows [][]any }
	if err := json.Unmarshal(body, &res); err != nil {
		p.t.Fatalf("%s: sql %q: %v in %s", p.name, q, err, body)
	}
	return res.Rows
}

// influxql runs a query and returns its series' values keyed by the host tag.
func (p *proc) influxql(q string) map[string][][]any {
	p.t.Helper()
	code, body := p.get("/query?db=db&q=" + url.QueryEscape(q))
	if code != http.StatusOK {
		p.t.Fatalf("%s: influxql %q: %d %s", p.name, q, code, body)
	}
	var res struct {
		Results []struct {
			Error  string
			Series []struct {
				Tags   map[string]string
				Values [][]any
			}
		}
	}
	if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != 1 || res.Results[0].Error != "" {
		p.t.Fatalf("%s: influxql %q: %v in %s", p.name, q, err, body)
	}
	out := map[string][][]any{}
	for _, s := range res.Results[0].Series {
		out[s.Tags["host"]] = s.Values
	}
	return out
}

// point is one record of the stream; later records of the same host and
// time overwrite earlier ones (InfluxDB's rule).
type point struct {
	host  int
	time  int64
	usage float64
	n     int64
}

func (p point) line() string {
	return fmt.Sprintf("cpu,host=h%02d usage=%g,n=%di %d", p.host, p.usage, p.n, p.time)
}

// stream generates partition p's records: its hosts every 5 minutes over
// a span (two days ending three days ago for stream), then a tenth of them sent again with new
// values (in stream order, so the rewrite is the last write).
func stream(p, hosts int, end int64) []point { return streamSpan(p, hosts, end, 48*time.Hour) }

func streamSpan(p, hosts int, end int64, span time.Duration) []point {
	var out []point
	start := end - int64(span)
	step := int64(5 * time.Minute)
	k := 0
	for ts := start; ts < end; ts += step {
		for h := p; h < hosts; h += 3 {
			k++
			out = append(out, point{host: h, time: ts, usage: float64((k*37)%1000) / 10, n: int64(k)})
			if k%10 == 0 { // a rewrite a little later in the stream
				back := len(out) - 5
				rw := out[back]
				rw.usage += 0.5
				rw.n += 1_000_000
				out = append(out, rw)
			}
		}
	}
	return out
}

type model map[[2]int64]point

func (m model) add(ps []point) {
	for _, p := range ps {
		m[[2]int64{int64(p.host), p.time}] = p
	}
}

func TestClusterQueryNodeE2E(t *testing.T) {
	c := newCluster(t)
	const hosts = 12
	end := (time.Now().Add(-72*time.Hour).UnixNano() / int64(time.Hour)) * int64(time.Hour)
	var parts [3][]point
	for p := range 3 {
		parts[p] = stream(p, hosts, end)
	}
	// Owners: partition 0 moves from w1 to w2, partition 1 from w2 to w3,
	// after 60% of their records; the new owner starts 300 records before
	// the hand-over (the old owner's durable, uncommitted poll).
	var held [3][]point
	for p := range 2 {
		cut := len(parts[p]) * 6 / 10
		held[p] = append(held[p], parts[p][:cut]...)
		held[p+1] = append(held[p+1], parts[p][cut-300:]...)
	}
	held[2] = append(held[2], parts[2]...)
	want := model{}
	for p := range 3 {
		want.add(parts[p])
	}

	writers := make([]*proc, 3)
	for i := range writers {
		writers[i] = c.start(fmt.Sprintf("w%d", i+1), "--role", "writer", "--node-id", fmt.Sprintf("w%d", i+1), "--iceberg.publish")
	}
	for i, w := range writers {
		var lines []string
		for _, p := range held[i] {
			lines = append(lines, p.line())
		}
		for lo := 0; lo < len(lines); lo += 2000 {
			w.write(lines[lo:min(lo+2000, len(lines))])
		}
	}
	single := c.start("single", "--s3.prefix", "standalone") // a standalone node given the stream once
	for p := range 3 {
		var lines []string
		for _, pt := range parts[p] {
			lines = append(lines, pt.line())
		}
		single.write(lines)
	}

	q := c.start("q1", "--role", "query", "--node-id", "q1")
	if code, body := q.do(http.MethodPost, "/write?db=db", []byte("cpu,host=x usage=1\n")); code != http.StatusForbidden {
		t.Fatalf("write to a query node: %d %s, want 403", code, body)
	}
	// Wait until every writer has flushed and tiered everything and the
	// query node has reloaded.
	waitCount(t, q, len(want))
	waitIcebergShared(t, writers)
	// The records consumed on two writers are listed once by the shared
	// table: the older copies' writers withhold their windows until
	// their compaction has rewritten them without those points.
	waitIcebergOnce(t, writers, len(want))

	// Per host, against the model.
	type agg struct {
		count      int
		sum        int64
		minU, maxU float64
	}
	byHost := map[int]*agg{}
	for _, p := range want {
		a := byHost[p.host]
		if a == nil {
			a = &agg{minU: math.Inf(1), maxU: math.Inf(-1)}
			byHost[p.host] = a
		}
		a.count++
		a.sum += p.n
		a.minU, a.maxU = min(a.minU, p.usage), max(a.maxU, p.usage)
	}
	sqlText := "SELECT host, count(*), sum(n), min(usage), max(usage) FROM cpu GROUP BY host ORDER BY host"
	rows := q.sql(sqlText)
	if len(rows) != hosts {
		t.Fatalf("%d hosts, want %d: %v", len(rows), hosts, rows)
	}
	for _, r := range rows {
		var h int
		fmt.Sscanf(r[0].(string), "h%d", &h)
		a := byHost[h]
		if r[1].(float64) != float64(a.count) || r[2].(float64) != float64(a.sum) || r[3].(float64) != a.minU || r[4].(float64) != a.maxU {
			t.Errorf("host %v: query node %v, model count %d sum %d min %g max %g", r[0], r, a.count, a.sum, a.minU, a.maxU)
		}
	}
	// Raw rows of a host whose partition changed owner: every time once,
	// with the last write's values.
	raw := q.sql("SELECT time, usage, n FROM cpu WHERE host = 'h00' ORDER BY time")
	var h0 []point
	for _, p := range want {
		if p.host == 0 {
			h0 = append(h0, p)
		}
	}
	sort.Slice(h0, func(i, j int) bool { return h0[i].time < h0[j].time })
	if len(raw) != len(h0) {
		t.Fatalf("h00: %d rows, want %d", len(raw), len(h0))
	}
	for i, r := range raw {
		if r[1].(float64) != h0[i].usage || r[2].(float64) != float64(h0[i].n) {
			t.Fatalf("h00 row %d: %v, want %+v", i, r, h0[i])
		}
	}
	// InfluxQL over the union.
	iq := "SELECT count(n), sum(n), max(usage) FROM cpu GROUP BY host"
	series := q.influxql(iq)
	for h, a := range byHost {
		v := series[fmt.Sprintf("h%02d", h)]
		if len(v) != 1 || v[0][1].(float64) != float64(a.count) || v[0][2].(float64) != float64(a.sum) || v[0][3].(float64) != a.maxU {
			t.Errorf("influxql host h%02d: %v, model count %d sum %d max %g", h, v, a.count, a.sum, a.maxU)
		}
	}
	// The standalone node answers the same (it tiers nothing: it holds
	// the stream locally).
	for _, text := range []string{sqlText, "SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS h, count(*), sum(n), max(usage) FROM cpu GROUP BY 1 ORDER BY 1",
		"SELECT host, last(usage, time), max(time) FROM cpu GROUP BY host ORDER BY host"} {
		a, b := q.sql(text), single.sql(text)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: query node and standalone node differ:\n%v\n%v", text, a, b)
		}
	}
	if a, b := q.influxql(iq), single.influxql(iq); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("influxql: query node and standalone node differ:\n%v\n%v", a, b)
	}

	// The cost of the union: the standalone node's bucket served by a
	// single-prefix read-only node (the same data, cold, in one compacted
	// prefix) against the query node (three prefixes whose overlapping
	// segments are merged). Server CPU time, logged, not asserted.
	// A read-only node needs the prefix's manifest: the standalone node
	// writes it with its first tiering pass, which may not have run yet.
	waitTiered(t, single)
	ro := c.start("read-only", "--s3.prefix", "standalone", "--s3.read-only")
	waitCount(t, ro, len(want))
	queries := []string{sqlText,
		"SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS h, host, avg(usage) FROM cpu GROUP BY 1, 2 ORDER BY 1, 2",
		"SELECT time, usage, n FROM cpu WHERE host = 'h05' ORDER BY time"}
	for _, text := range queries {
		if a, b := q.sql(text), ro.sql(text); !sameRows(a, b) {
			t.Errorf("%s: query node and read-only node differ", text)
		}
		const runs = 20
		var cpu [2]time.Duration
		for i, p := range []*proc{ro, q} {
			before := cpuTime(t, p)
			for range runs {
				p.sql(text)
			}
			cpu[i] = (cpuTime(t, p) - before) / runs
		}
		t.Logf("server CPU per query, one prefix (read-only node) %v, three writers (query node) %v: %s", cpu[0], cpu[1], text)
	}
}

// waitCount polls count(*) on p until it reaches n (a hang guard, not a
// timing assertion) and fails if it never does.
// waitTiered waits until p holds segments in the bucket
// (silt_tier_cold_segments above 0).
func waitTiered(t *testing.T, p *proc) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if code, body := p.get("/metrics"); code == http.StatusOK {
			for _, line := range strings.Split(string(body), "\n") {
				if v, ok := strings.CutPrefix(line, "silt_tier_cold_segments "); ok && v != "0" {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s tiered nothing within 3 minutes", p.name)
}

// waitIcebergShared waits until every writer has committed to the one
// Iceberg table of db.cpu at the cluster's root (docs/iceberg.md): the
// versions the writers log are then distinct, where per-writer tables
// would each start at 1.
func waitIcebergShared(t *testing.T, writers []*proc) {
	t.Helper()
	const key = "iceberg/db/cpu/metadata/v"
	var got map[string]string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got = map[string]string{}
		dup := false
		for _, w := range writers {
			for _, line := range strings.Split(w.log(), "\n") {
				if !strings.Contains(line, "committed Iceberg table version") {
					continue
				}
				_, rest, ok := strings.Cut(line, key)
				v, _, ok2 := strings.Cut(rest, ".metadata.json")
				if !ok || !ok2 {
					t.Fatalf("%s: commit log line without the shared table's key %s: %s", w.name, key, line)
				}
				if other, seen := got[v]; seen {
					dup = dup || other != w.name
				}
				got[v] = w.name
			}
		}
		if dup {
			t.Fatalf("two writers logged the same Iceberg version: per-writer tables, not one shared table (%v)", got)
		}
		committed := map[string]bool{}
		for _, name := range got {
			committed[name] = true
		}
		if len(committed) == len(writers) {
			return
		}
	}
	t.Fatalf("not every writer committed to the shared Iceberg table within a minute: versions by writer %v", got)
}

// waitIcebergOnce waits until the writers' last commits to db.cpu's
// shared table withhold no window and publish n rows together (every
// record once), as their commit log lines report them.
func waitIcebergOnce(t *testing.T, writers []*proc, n int) {
	t.Helper()
	field := func(line, key string) (int, bool) {
		_, rest, ok := strings.Cut(line, " "+key+"=")
		if !ok {
			return 0, false
		}
		v, _, _ := strings.Cut(rest, " ")
		i, err := strconv.Atoi(v)
		return i, err == nil
	}
	var sums []string
	// A guard against a hang, not a timing: each rewrite waits for its
	// window to settle (merged, in the bucket) and for the next passes.
	for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		total, withheld, all := 0, 0, true
		sums = sums[:0]
		for _, w := range writers {
			last := ""
			for _, line := range strings.Split(w.log(), "\n") {
				if strings.Contains(line, "committed Iceberg table version") && strings.Contains(line, "iceberg/db/cpu/") {
					last = line
				}
			}
			rows, ok1 := field(last, "rows")
			held, ok2 := field(last, "withheld_windows")
			if !ok1 || !ok2 {
				all = false
				continue
			}
			total += rows
			withheld += held
			sums = append(sums, fmt.Sprintf("%s: %d rows, %d withheld", w.name, rows, held))
		}
		if all && withheld == 0 && total == n {
			return
		}
	}
	var errs []string
	for _, w := range writers {
		for _, line := range strings.Split(w.log(), "\n") {
			if strings.Contains(line, "against other writers") || strings.Contains(line, "publish tables") {
				errs = append(errs, w.name+": "+line)
			}
		}
	}
	t.Fatalf("the shared Iceberg table does not list each of the %d records once: %v\n%s", n, sums, tail(strings.Join(errs, "\n"), 20))
}

func waitCount(t *testing.T, p *proc, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var got float64
	for time.Now().Before(deadline) {
		if code, body := p.get("/api/v1/sql?db=db&q=" + url.QueryEscape("SELECT count(*) FROM cpu")); code == http.StatusOK {
			var res struct{ Rows [][]any }
			if json.Unmarshal(body, &res) == nil && len(res.Rows) == 1 {
				if got = res.Rows[0][0].(float64); got >= float64(n) {
					break
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got != float64(n) {
		t.Fatalf("%s counts %v points, want %d", p.name, got, n)
	}
}

// sameRows compares results, floats to 1e-9 relative (float sums depend
// on the order batches arrive in).
func sameRows(a, b [][]any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			x, xok := a[i][j].(float64)
			y, yok := b[i][j].(float64)
			if xok && yok {
				if math.Abs(x-y) > 1e-9*max(math.Abs(x), math.Abs(y)) {
					return false
				}
				continue
			}
			if fmt.Sprint(a[i][j]) != fmt.Sprint(b[i][j]) {
				return false
			}
		}
	}
	return true
}

// cpuTime is the process's user and system CPU time so far
// (/proc/<pid>/stat, in clock ticks of 10 ms).
func cpuTime(t *testing.T, p *proc) time.Duration {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	var u, s int64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &s)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// TestClusterNodeIDFencingE2E: a second process with a live writer's
// --node-id is refused; a process that takes over the id of a frozen
// writer (SIGSTOP past its lease) gets it, and the frozen one, once it
// runs again, finds its lease gone and stops.
func TestClusterNodeIDFencingE2E(t *testing.T) {
	c := newCluster(t)
	w1 := c.start("w1", "--role", "writer", "--node-id", "w1")
	dup := c.spawn("w1-dup", "--role", "writer", "--node-id", "w1")
	select {
	case <-dup.done:
	case <-time.After(2 * time.Minute): // hang guard
		t.Fatal("a second process with a live node's id did not stop")
	}
	if dup.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(dup.log(), "node id in use by another live process") {
		t.Fatalf("second process: exit %d, log:\n%s", dup.cmd.ProcessState.ExitCode(), tail(dup.log(), 10))
	}
	if code, _ := w1.get("/ready"); code != http.StatusOK || w1.exited() {
		t.Fatal("the live holder stopped")
	}

	// Freeze w1 longer than its lease; another process takes the id.
	if err := w1.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	w1b := c.start("w1-successor", "--role", "writer", "--node-id", "w1")
	if !strings.Contains(w1b.log(), "took over a node id") {
		t.Fatalf("successor did not log a take-over:\n%s", tail(w1b.log(), 20))
	}
	if err := w1.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w1.done:
	case <-time.After(2 * time.Minute): // hang guard
		t.Fatal("the frozen writer kept running after another process took its node id")
	}
	if code := w1.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(w1.log(), "another process holds this --node-id") {
		t.Fatalf("frozen writer: exit %d, log:\n%s", code, tail(w1.log(), 20))
	}
	if code, _ := w1b.get("/ready"); code != http.StatusOK || w1b.exited() {
		t.Fatal("the successor stopped")
	}
}

// sqlStats runs a query (extra: more URL parameters, "&partial=true") and
// returns its status, rows, stats and error code.
func (p *proc) sqlStats(q string, extra ...string) (int, [][]any, map[string]any, string) {
	p.t.Helper()
	code, body := p.get("/api/v1/sql?db=db&q=" + url.QueryEscape(q) + strings.Join(extra, ""))
	var res struct {
		Rows  [][]any
		Stats map[string]any
		Code  string
		Error string
	}
	if err := json.Unmarshal(body, &res); err != nil {
		p.t.Fatalf("%s: sql %q: %d %v in %s", p.name, q, code, err, body)
	}
	if code != http.StatusOK {
		return code, nil, nil, res.Code + ": " + res.Error
	}
	return code, res.Rows, res.Stats, ""
}

// TestClusterLiveWritersE2E: rows the writers hold only in their heads and
// local segments (today's window, never tiered here) are read by query
// nodes over the writers' internal API, once each despite the poll
// consumed twice. With a writer killed, a query node with
// --cluster.writer-down error answers 503 naming it, one with partial
// answers without its rows and names it in stats.missing_nodes; once it
// restarts, both answer everything again.
func TestClusterLiveWritersE2E(t *testing.T) {
	c := newCluster(t)
	const hosts = 9
	// Tomorrow's window: it has not ended, so nothing is tiered and every
	// row stays with its writer.
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	var parts [3][]point
	for p := range 3 {
		parts[p] = streamSpan(p, hosts, tomorrow.Add(8*time.Hour).UnixNano(), 8*time.Hour)
		for _, pt := range parts[p] {
			if pt.time < tomorrow.UnixNano() {
				t.Fatal("stream reaches before tomorrow's window")
			}
		}
	}
	var held [3][]point
	for p := range 2 {
		cut := len(parts[p]) * 6 / 10
		held[p] = append(held[p], parts[p][:cut]...)
		held[p+1] = append(held[p+1], parts[p][cut-100:]...)
	}
	held[2] = append(held[2], parts[2]...)
	want := model{}
	for p := range 3 {
		want.add(parts[p])
	}
	without2 := model{}
	without2.add(held[0])
	without2.add(held[2])

	writers := make([]*proc, 3)
	for i := range writers {
		writers[i] = c.start(fmt.Sprintf("w%d", i+1), "--role", "writer", "--node-id", fmt.Sprintf("w%d", i+1))
	}
	for i, w := range writers {
		// Half flushed to local segments, half left in the head.
		half := len(held[i]) / 2
		for _, part := range [][]point{held[i][:half], held[i][half:]} {
			var lines []string
			for _, p := range part {
				lines = append(lines, p.line())
			}
			w.write(lines)
			time.Sleep(1500 * time.Millisecond) // past --flush-interval 1s: the first half is in a segment
		}
	}
	strict := c.start("q-error", "--role", "query", "--node-id", "q-error")
	partial := c.start("q-partial", "--role", "query", "--node-id", "q-partial", "--cluster.writer-down", "partial")
	waitCount(t, strict, len(want))
	waitCount(t, partial, len(want))
	text := "SELECT host, count(*), sum(n), max(usage) FROM cpu GROUP BY host ORDER BY host"
	if a, b := strict.sql(text), partial.sql(text); fmt.Sprint(a) != fmt.Sprint(b) || len(a) != hosts {
		t.Fatalf("query nodes differ or miss hosts:\n%v\n%v", a, b)
	}

	writers[1].cmd.Process.Kill()
	<-writers[1].done
	code, _, _, msg := strict.sqlStats("SELECT count(*) FROM cpu")
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "cold-unavailable") || !strings.Contains(msg, "w2") {
		t.Fatalf("strict query node with w2 down: %d %s, want 503 cold-unavailable naming w2", code, msg)
	}
	code, rows, stats, msg := partial.sqlStats("SELECT count(*) FROM cpu")
	if code != http.StatusOK {
		t.Fatalf("partial query node with w2 down: %d %s", code, msg)
	}
	if rows[0][0].(float64) != float64(len(without2)) || fmt.Sprint(stats["missing_nodes"]) != "[w2]" {
		t.Fatalf("partial answer: count %v (want %d without w2's rows), stats %v", rows[0][0], len(without2), stats)
	}
	// The per-query option overrides each node's setting.
	code, rows, stats, msg = strict.sqlStats("SELECT count(*) FROM cpu", "&partial=true")
	if code != http.StatusOK || rows[0][0].(float64) != float64(len(without2)) || fmt.Sprint(stats["missing_nodes"]) != "[w2]" {
		t.Fatalf("strict query node with partial=true: %d %v %v %s", code, rows, stats, msg)
	}
	if code, _, _, msg := partial.sqlStats("SELECT count(*) FROM cpu", "&partial=false"); code != http.StatusServiceUnavailable || !strings.Contains(msg, "w2") {
		t.Fatalf("partial query node with partial=false: %d %s, want 503 naming w2", code, msg)
	}

	// w2 restarts on its data directory (it waits out its own lease).
	writers[1] = c.start("w2", "--role", "writer", "--node-id", "w2")
	waitCount(t, strict, len(want))
	if code, rows, stats, msg := partial.sqlStats("SELECT count(*) FROM cpu"); code != http.StatusOK || rows[0][0].(float64) != float64(len(want)) || stats["missing_nodes"] != nil {
		t.Fatalf("partial query node after w2's restart: %d %v %v %s", code, rows, stats, msg)
	}
}
