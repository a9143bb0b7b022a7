package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unionExactlyOnce waits until the points of a and b together are the n
// records, each on exactly one of them with the produced values, and fails
// the test if that does not happen. Each instance's points are distinct by
// themselves (export fails on a duplicate). Records on both are given
// dupSettle to go away: an instance dropped from the group while alive
// holds the rows its partitions' next owner consumes again until it
// notices, refuses to flush them and restarts (docs/scaling.md, fencing).
// It returns the records found on both at first. Exports that fail (an
// instance restarting itself) are retried.
func unionExactlyOnce(t *testing.T, h *harness, n int, a, b *siltProc) int {
	t.Helper()
	const dupSettle = time.Minute
	want := expectedStats(n)
	deadline := time.Now().Add(3 * time.Minute)
	var firstDup time.Time
	firstBoth := 0
	for ; ; time.Sleep(300 * time.Millisecond) {
		pa, errA := a.export("streams", "cpu")
		pb, errB := b.export("streams", "cpu")
		if errA != nil || errB != nil {
			if time.Now().After(deadline) {
				t.Fatalf("export: A %v, B %v", errA, errB)
			}
			continue
		}
		union := map[pointKey]string{}
		var bothIdx []int // record numbers on both, for the failure report
		for k, v := range pa {
			union[k] = v
		}
		for k, v := range pb {
			if w, ok := union[k]; ok {
				bothIdx = append(bothIdx, int((k.Time-streamBase)/1000))
				if w != v {
					t.Fatalf("point %v differs between instances: %s vs %s", k, w, v)
				}
			}
			union[k] = v
		}
		if len(union) != n {
			if time.Now().After(deadline) {
				t.Fatalf("union has %d of %d points", len(union), n)
			}
			continue
		}
		got := seriesStats{}
		for k, v := range union {
			host := strings.TrimPrefix(k.Series, "host=")
			val, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(v, "v="), "i"), 10, 64)
			if err != nil {
				t.Fatalf("point %v value %q", k, v)
			}
			g := got[host]
			got[host] = [2]int64{g[0] + 1, g[1] + val}
		}
		if got.String() != want.String() {
			t.Fatalf("union of both instances:\n got %v\nwant %v", got, want)
		}
		if len(bothIdx) == 0 {
			if !firstDup.IsZero() {
				t.Logf("%d records were on both instances for %v, until the instance dropped from the group noticed and restarted",
					firstBoth, time.Since(firstDup).Round(100*time.Millisecond))
			}
			return firstBoth
		}
		if firstDup.IsZero() {
			firstDup, firstBoth = time.Now(), len(bothIdx)
		}
		if time.Since(firstDup) > dupSettle {
			slices.Sort(bothIdx)
			t.Errorf("%d of %d points are on both instances for over %v; want every record on exactly one; records %v",
				len(bothIdx), n, dupSettle, bothIdx[:min(len(bothIdx), 40)])
			logKafkaLines(t, h.logs)
			return firstBoth
		}
	}
}

// logKafkaLines logs the servers' lines about partitions, the WAL and
// flushes, for a failure report.
func logKafkaLines(t *testing.T, logs []string) {
	for i, l := range logs {
		raw, _ := os.ReadFile(l)
		for _, line := range strings.Split(string(raw), "\n") {
			for _, w := range []string{"kafka", "wal", "flushed heads", "restart", "level=WARN", "level=ERROR"} {
				if strings.Contains(line, w) {
					t.Logf("log %d: %s", i, line)
					break
				}
			}
		}
	}
}

// selfRestarts counts the restarts the servers made after a fence.
func selfRestarts(logs []string) int {
	n := 0
	for _, l := range logs {
		raw, _ := os.ReadFile(l)
		n += strings.Count(string(raw), "started by a self-restart")
	}
	return n
}

// stall stops p (SIGSTOP) for d and lets it go on (SIGCONT): a node frozen
// longer than its group session, as a long GC pause, a swapping host or a
// paused VM leaves it.
func (p *siltProc) stall(d time.Duration) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatal(err)
	}
	time.Sleep(d)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		p.t.Fatal(err)
	}
}

// TestKafkaStalledInstanceFenced freezes one of two instances longer than
// its group session while records keep coming (SILT_KAFKA_STALL_ROUNDS,
// default 2). The group gives its partitions to the other instance, which
// starts at the group's offsets and so consumes again the frozen one's
// rows the group had not confirmed (polls commit 1 s after their fsync
// here, so there always are some). When the frozen instance runs again it
// learns it lost the partitions, refuses to flush those rows and restarts
// itself, and its replay drops them: every record ends on exactly one
// instance. Without the fence the frozen instance keeps the rows, and
// flushes them, and they are on both.
func TestKafkaStalledInstanceFenced(t *testing.T) {
	skipShort(t)
	kcat := requireTool(t, "kcat", "kcat")
	t.Setenv("SILT_TEST_KAFKA_COMMIT_DELAY", "1s")
	rounds := int(envInt(t, "SILT_KAFKA_STALL_ROUNDS", 2))
	n := int(envInt(t, "SILT_KAFKA_RECORDS", 30000))
	brokers := startKfake(t, 4)
	h := newHarness(t)
	siltBinary(t)
	prod := newKafkaProducer(t, brokers, kcat)
	a := h.start(h.dir+"/a", kafkaFlags(brokers, h.dir+"/a")...)
	b := h.start(h.dir+"/b", kafkaFlags(brokers, h.dir+"/b")...)
	waitAssigned(t, a)
	waitAssigned(t, b)
	// Records throughout the rounds, so that the frozen instance always
	// holds rows whose commit is pending.
	const chunk = 250
	produced := prod.run(n, chunk, time.Duration(rounds)*8*time.Second/time.Duration(n/chunk))
	for round := range rounds {
		time.Sleep(1500 * time.Millisecond)
		p := a
		if round%2 == 1 {
			p = b
		}
		// 5 s > the 2 s session and 3 s rebalance timeouts.
		before := selfRestarts(h.logs)
		p.stall(5 * time.Second)
		deadline := time.Now().Add(30 * time.Second)
		for selfRestarts(h.logs) == before && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("round %d: self-restarts so far %d", round, selfRestarts(h.logs))
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	unionExactlyOnce(t, h, n, a, b)
	if selfRestarts(h.logs) == 0 {
		t.Error("no instance restarted itself: the stalls did not exercise the fence")
	}
	for _, p := range []*siltProc{a, b} {
		if code := p.term(); code != 0 {
			t.Errorf("exit code %d", code)
		}
	}
}
