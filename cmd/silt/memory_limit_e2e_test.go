package main

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
)

// TestMemoryLimit checks which Go memory limit silt serve runs with: the
// runtime's own gauge (go_gc_gomemlimit_bytes) is the oracle, read back
// from /metrics. --memory-limit wins over GOMEMLIMIT; without the flag
// (bounds) or with 0 the environment's setting stays, and without either
// the default derives one from the memory bounds and 0 has none; auto
// derives one from the engine's bounds (docs/memory.md: the heads + half of
// --compaction.max-memory + --query-cache-bytes + 64 MiB); off removes it;
// a limit below the heads is refused.
func TestMemoryLimit(t *testing.T) {
	skipShort(t)
	cases := []struct {
		name, env string
		flags     []string
		want      float64
	}{
		{"flag", "", []string{"--memory-limit", "300MiB"}, 300 << 20},
		{"env", "200MiB", nil, 200 << 20},
		{"env, 0", "200MiB", []string{"--memory-limit", "0"}, 200 << 20},
		{"flag over env", "200MiB", []string{"--memory-limit", "320MiB"}, 320 << 20},
		// The default, bounds: the heads' bound + half of the merge budget
		// + the query cache + 64 MiB, widened by what queries reserve
		// (engine.TestMemoryLimitBoundsByDefault).
		{"default", "", nil, 2<<20 + (256<<20)/2 + 128<<20 + 64<<20},
		{"bounds, env", "200MiB", []string{"--memory-limit", "bounds"}, 200 << 20},
		{"0: the runtime's own", "", []string{"--memory-limit", "0"}, math.MaxInt64},
		// Empty heads: the limit is the room above them alone (it follows
		// the heads, engine.TestFollowMemoryLimit).
		{"auto", "", []string{"--memory-limit", "auto"}, (256<<20)/2 + 128<<20 + 64<<20},
		{"auto, smaller merges and cache", "", []string{"--memory-limit", "auto", "--compaction.max-memory", "64MiB", "--query-cache-bytes", "16MiB"}, (64<<20)/2 + 16<<20 + 64<<20},
		{"auto, env", "200MiB", []string{"--memory-limit", "auto"}, 200 << 20},
		{"off", "200MiB", []string{"--memory-limit", "off"}, math.MaxInt64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", c.env) // inherited by the child; "" is unset for the runtime
			h := newHarness(t)
			p := h.start(filepath.Join(h.dir, "data"), append([]string{"--max-head-bytes", "2MiB"}, c.flags...)...)
			got, err := metricValue(p, "go_gc_gomemlimit_bytes")
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("go_gc_gomemlimit_bytes = %.0f, want %.0f", got, c.want)
			}
			if logged := strings.Contains(p.log(), "go memory limit"); logged != (c.want != math.MaxInt64) {
				t.Errorf("log mentions the limit: %v, want %v; log:\n%s", logged, c.want != math.MaxInt64, tailLines(p.log(), 20))
			}
			if code := p.term(); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
		})
	}
	t.Run("below heads", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "")
		h := newHarness(t)
		p := h.spawn(filepath.Join(h.dir, "data"), "--max-head-bytes", "256MiB", "--memory-limit", "300MiB")
		select {
		case <-p.done:
		case <-time.After(time.Minute): // hang guard only
			t.Fatalf("silt serve with a memory limit below its heads did not exit; log:\n%s", tailLines(p.log(), 20))
		}
		if code := p.state.ExitCode(); code != 2 {
			t.Errorf("exit code %d, want 2 (bad flags)", code)
		}
		if l := p.log(); !strings.Contains(l, "--memory-limit") || !strings.Contains(l, "--max-head-bytes") {
			t.Errorf("error does not name the flags; log:\n%s", tailLines(l, 20))
		}
	})
}

// BenchmarkServeMemoryLimit loads TSBS cpu rows (100 hosts, 10 s apart, two
// day windows: 1.73M rows) into a real silt serve with 2 MiB heads, waits
// for compaction to go idle and reports the process's peak RSS (VmHWM),
// with no limit (off), the default that follows the heads (auto) and a
// fixed 256 MiB. Peak RSS here is dominated by
// compaction merges and the collector's slack (docs/memory.md). Writes
// refused with 429 are retried. Run with -count 5 and compare medians:
//
//	go test ./cmd/silt -run '^$' -bench ServeMemoryLimit -count 5 -benchtime 1x
func BenchmarkServeMemoryLimit(b *testing.B) {
	days := 2
	if s := os.Getenv("SILT_MEMBENCH_DAYS"); s != "" {
		days, _ = strconv.Atoi(s)
	}
	// One day's line protocol per body group, generated once.
	g := bench.NewCPU(100, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Second, 123)
	var bodies [][]byte
	for range days * 8640 / 50 {
		var buf []byte
		for range 50 { // 50 intervals × 100 hosts = 5000 rows a body
			buf = g.AppendInterval(buf)
		}
		bodies = append(bodies, buf)
	}
	for _, lim := range []string{"off", "bounds", "auto", "256MiB"} {
		b.Run("limit="+lim, func(b *testing.B) {
			for range b.N {
				peak, cpu := runMemoryLoad(b, bodies, lim)
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
				b.ReportMetric(cpu.Seconds(), "server-cpu-s")
			}
		})
	}
}

// runMemoryLoad starts silt serve, posts bodies, waits until the server is
// idle and returns its peak RSS and the CPU time it used.
func runMemoryLoad(b *testing.B, bodies [][]byte, limit string) (int64, time.Duration) {
	b.Helper()
	b.StopTimer()
	dir := b.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	cmd := exec.Command(siltBinary(b), "serve", "--data-dir", filepath.Join(dir, "data"), "--http-addr", addr,
		"--max-head-bytes", "2MiB", "--memory-limit", limit)
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + addr
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if r, err := http.Get(base + "/ready"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("silt serve not ready within a minute")
		}
	}
	b.StartTimer()
	for _, body := range bodies {
		for {
			r, err := http.Post(base+"/write?db=bench", "text/plain", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode == http.StatusNoContent {
				break
			}
			if r.StatusCode != http.StatusTooManyRequests {
				b.Fatalf("write: HTTP %d", r.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Idle: compaction has merged what the load left.
	for prev := procCPU(b, cmd.Process.Pid); ; {
		time.Sleep(2 * time.Second)
		now := procCPU(b, cmd.Process.Pid)
		if now-prev < 100*time.Millisecond {
			break
		}
		prev = now
	}
	b.StopTimer()
	return procStatusBytes(b, cmd.Process.Pid, "VmHWM:"), procCPU(b, cmd.Process.Pid)
}

// procCPU returns the user+system CPU time of process pid.
func procCPU(b testing.TB, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th of them, in clock ticks (100 a second).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procStatusBytes reads a kB field of /proc/pid/status, in bytes.
func procStatusBytes(b *testing.B, pid int, field string) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
