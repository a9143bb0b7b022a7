package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ServerCPUOf returns process pid's user plus system CPU time so far, from
// /proc/<pid>/stat (0 when it cannot be read). A phase's server CPU next
// to its rows tells what a row costs the server, whatever else the machine
// runs.
func ServerCPUOf(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are fixed: utime and stime are the 12th and 13th.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	// Linux reports clock ticks of USER_HZ, 100 a second on every
	// architecture Go supports there.
	return time.Duration(ut+st) * (time.Second / 100)
}

// flushCounters are Silt's flush metrics at one moment: flushes done and
// the seconds they took. Zero when the server exports none (not Silt).
type flushCounters struct {
	count   float64
	seconds float64
}

// scrapeFlushes reads silt_flush_seconds_count and _sum from base's
// /metrics. A phase that starts with an empty head writes no segment until
// the head reaches --flush-bytes, so the phases' flushes are printed: rates
// compare only between phases that flushed alike.
func scrapeFlushes(ctx context.Context, client *http.Client, base string) flushCounters {
	u, err := url.Parse(base)
	if err != nil {
		return flushCounters{}
	}
	u.Path = joinPath(u.Path, "/metrics")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return flushCounters{}
	}
	resp, err := client.Do(req)
	if err != nil {
		return flushCounters{}
	}
	defer resp.Body.Close()
	var c flushCounters
	if resp.StatusCode != http.StatusOK {
		return c
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "silt_flush_seconds_count":
			c.count = v
		case "silt_flush_seconds_sum":
			c.seconds = v
		}
	}
	return c
}

// threadsCPUOf returns the CPU time process pid's live threads have run so
// far, in nanoseconds from /proc/<pid>/task/*/schedstat, and whether it
// could be read. Unlike ServerCPUOf's clock ticks (10 ms), it resolves the
// CPU of one query; the threads that exited between two readings are
// missed, which a server's long-lived threads (a Go runtime's, a thread
// pool's) rarely do within one query.
func threadsCPUOf(pid int) (time.Duration, bool) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var sum time.Duration
	for _, t := range tasks {
		raw, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited since the listing
		}
		f, _, _ := strings.Cut(string(raw), " ")
		ns, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, false
		}
		sum += time.Duration(ns)
	}
	return sum, true
}
