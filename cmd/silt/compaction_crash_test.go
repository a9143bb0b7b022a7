package main

// End-to-end crash test of compaction: the real binary merges segments
// continuously (small flushes, a 10ms compaction interval and a tiny merge
// memory bound, so merges take several passes through run files) while
// writers overwrite old points, and is SIGKILLed at random moments.
//
//	SILT_COMPACT_CRASH_ROUNDS=n   kill -9 rounds (default 6)
//	SILT_CRASH_SEED=n             seed of the random choices

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/manifest"
)

// diskState compares the files under data/segments with the manifest.
type diskState struct {
	live, orphans, runs, missing []string
	perWindow                    map[string]int
}

func readDiskState(t *testing.T, data string) diskState {
	t.Helper()
	m, err := manifest.LoadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	st := diskState{perWindow: map[string]int{}}
	named := map[string]bool{}
	for _, s := range m.Segments {
		named[s.Path] = true
		if s.IsRollup() {
			continue
		}
		st.perWindow[s.DB+"/"+s.Table+"/"+s.Window]++
	}
	seen := map[string]bool{}
	err = filepath.Walk(filepath.Join(data, "segments"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(data, p)
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		switch {
		case named[rel]:
			st.live = append(st.live, rel)
		case strings.Contains(rel, ".run"):
			st.runs = append(st.runs, rel)
		default:
			st.orphans = append(st.orphans, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for p := range named {
		if !seen[p] {
			st.missing = append(st.missing, p)
		}
	}
	return st
}

// metricValue reads one unlabelled metric from /metrics.
func metricValue(p *siltProc, name string) (float64, error) {
	code, body, err := p.get("/metrics")
	if err != nil || code != 200 {
		return 0, fmt.Errorf("metrics: %d %v", code, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			return f, err
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

func TestCompactionCrashKill9(t *testing.T) {
	skipShort(t)
	rounds := int(envInt(t, "SILT_COMPACT_CRASH_ROUNDS", 6))
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0xc0))
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	args := []string{"--flush-bytes", "128KiB", "--flush-interval", "100ms",
		"--compaction.interval", "10ms", "--compaction.max-memory", "1MiB", "--log-level", "debug"}

	m := newModel()
	var nextPoint, nextN, nextVal atomic.Int64
	var merges, leftoverRounds int
	for round := 0; ; round++ {
		before := readDiskState(t, data)
		if len(before.missing) > 0 {
			t.Fatalf("round %d: the manifest names files that do not exist: %v", round, before.missing)
		}
		leftovers := len(before.orphans) + len(before.runs)
		if leftovers > 0 {
			leftoverRounds++
		}
		p := h.start(data, args...)
		// Recovery removed every leftover before the server was ready.
		if got := strings.Count(p.log(), "removing segment file not named by the manifest"); got != leftovers {
			t.Errorf("round %d: %d leftover files before the start (%v, %v), recovery removed %d",
				round, leftovers, before.orphans, before.runs, got)
		}
		got, err := p.exportTables("crash", "m", "n") // an exported duplicate is an error
		if err != nil {
			t.Fatalf("round %d: export after restart: %v", round, err)
		}
		reportProblems(t, fmt.Sprintf("after the restart following round %d", round-1), m.check(got))
		checkDataDir(t, data, fmt.Sprintf("after the restart following round %d", round-1))
		m.settle(got)
		if t.Failed() {
			t.FailNow()
		}
		if round == rounds {
			break
		}
		writers := 2 + rng.IntN(3)
		killAfter := time.Duration(200+rng.IntN(1300)) * time.Millisecond
		owned := make([][]pointKey, writers)
		if n := len(m.keys); n > 0 {
			want := min(n/3, 4000)
			picked := map[int]bool{}
			for len(picked) < want {
				i := rng.IntN(n)
				if !picked[i] {
					picked[i] = true
					owned[len(picked)%writers] = append(owned[len(picked)%writers], m.keys[i])
				}
			}
		}
		as := &ackedSet{vals: map[pointKey]string{}, sent: map[pointKey][]string{}}
		var killed atomic.Bool
		results := make([][]*sentBatch, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			s := rng.Uint64()
			go func() {
				defer wg.Done()
				results[w] = crashWriter(t, p, round, w, s, owned[w], &nextPoint, &nextN, &nextVal, as, &killed)
			}()
		}
		time.Sleep(killAfter)
		killed.Store(true)
		p.kill()
		wg.Wait()
		n := strings.Count(p.log(), "compacted window")
		merges += n
		var nAck, nUnack int
		for _, rs := range results {
			for _, b := range rs {
				m.record(b)
				if b.outcome == acked {
					nAck++
				} else {
					nUnack++
				}
			}
		}
		after := readDiskState(t, data)
		t.Logf("round %d: SIGKILL after %v; %d merges committed; %d requests acknowledged, %d not; left on disk: %d live segments, %d orphans, %d run files",
			round, killAfter, n, nAck, nUnack, len(after.live), len(after.orphans), len(after.runs))
	}
	if merges == 0 {
		t.Fatal("no merge ran: the test did not exercise compaction")
	}
	t.Logf("%d merges over %d rounds; %d restarts found leftovers of an interrupted flush or merge", merges, rounds, leftoverRounds)

	// The restarted server catches up: windows come down to the policy's
	// bound, and a clean stop leaves exactly the manifest's files.
	p := h.procs[len(h.procs)-1]
	bound := compaction.DefaultPolicy.MaxTail
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := metricValue(p, "silt_window_segments_max")
		if err != nil {
			t.Fatal(err)
		}
		if v <= float64(bound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("compaction did not catch up: %v segments in a window, bound %d", v, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := p.exportTables("crash", "m", "n")
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after compaction caught up", m.check(got))
	if code := p.term(); code != 0 {
		t.Fatalf("SIGTERM: exit code %d", code)
	}
	st := readDiskState(t, data)
	if len(st.orphans)+len(st.runs)+len(st.missing) > 0 {
		t.Fatalf("after a clean stop: orphans %v, run files %v, missing %v", st.orphans, st.runs, st.missing)
	}
	windows := slices.Sorted(func(yield func(string) bool) {
		for w := range st.perWindow {
			if !yield(w) {
				return
			}
		}
	})
	for _, w := range windows {
		if st.perWindow[w] > bound {
			t.Errorf("window %s: %d segments, bound %d", w, st.perWindow[w], bound)
		}
	}
	raw, _ := json.Marshal(st.perWindow)
	t.Logf("segments per window at the end: %s", raw)
}
