package main

// Helpers shared by the crash matrix's tiering, retention and drop suites
// (tier_crash_test.go, retention_crash_test.go, drop_crash_test.go): a
// writer of new points only, a killer timed by a /metrics counter, the
// `silt check` run after every restart, and a manifest-versus-disk check.

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/manifest"
)

// metricSum adds up every sample of the metric family name whose label set
// contains match ("" for all), from one /metrics page.
func metricSum(p *siltProc, name, match string) (float64, error) {
	code, body, err := p.get("/metrics")
	if err != nil || code != http.StatusOK {
		return 0, fmt.Errorf("metrics: %d %v", code, err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if match != "" && !strings.Contains(rest, match) {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum, nil
}

// timedKill waits at least minWait, then until the counter read by read
// moves (the operation under test is running) or maxWait has passed, then a
// random 0..jitter more, and kills p. It reports whether the counter moved.
// The counter is read every few milliseconds, so the kill lands while the
// operation's pass is still in progress (the counters tick per object or
// per commit, before the pass ends) or just after it.
func timedKill(p *siltProc, rng *rand.Rand, minWait, maxWait, jitter time.Duration, read func() (float64, error), killed *atomic.Bool) bool {
	time.Sleep(minWait)
	base, err := read()
	moved := false
	if err == nil {
		deadline := time.Now().Add(maxWait - minWait)
		for time.Now().Before(deadline) {
			v, err := read()
			if err != nil {
				break
			}
			if v != base {
				moved = true
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if jitter > 0 {
		time.Sleep(time.Duration(rng.Int64N(int64(jitter))))
	}
	killed.Store(true) // writes may fail from here on
	p.kill()
	return moved
}

// siltCheck runs `silt check` on the data directory of a running server and
// requires it to report nothing (exit 0).
func siltCheck(t *testing.T, data, when string) {
	t.Helper()
	out, err := exec.Command(siltBinary(t), "check", "--data-dir", data).CombinedOutput()
	if err != nil {
		t.Errorf("%s: silt check: %v\n%s", when, err, out)
	}
}

// newPointsWriter posts batches of 50-300 new points (no overwrites, no
// duplicates) to db until stop is set, slowing down once budget lines were
// sent (and more at twice that) so a round's data stays bounded. key makes the n-th point. Every write
// before kill must succeed.
func newPointsWriter(t *testing.T, p *siltProc, db string, seed uint64, label string, budget int64,
	next *atomic.Int64, sent *atomic.Int64, nextVal *atomic.Int64, key func(n int64) pointKey, stop, killed *atomic.Bool) []*sentBatch {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []*sentBatch
	for b := 0; !stop.Load(); b++ {
		switch s := sent.Load(); {
		case s > 2*budget:
			time.Sleep(time.Duration(300+rng.IntN(400)) * time.Millisecond)
		case s > budget:
			time.Sleep(time.Duration(50+rng.IntN(100)) * time.Millisecond)
		}
		size := 50 + rng.IntN(251)
		keys := make([]pointKey, size)
		vals := make([]string, size)
		l := fmt.Sprintf("%sb%d", label, b)
		for i := range keys {
			keys[i] = key(next.Add(1))
			vals[i] = fieldsText(nextVal.Add(1), l)
		}
		sent.Add(int64(size))
		sb := newSentBatch(l, keys, vals)
		code, body, _, err := p.write(db, lineProtocol(keys, vals))
		sb.status = code
		if err == nil && code == http.StatusNoContent {
			sb.outcome = acked
			out = append(out, sb)
			continue
		}
		sb.outcome = unacked
		if err != nil {
			sb.detail = err.Error()
		} else {
			sb.detail = fmt.Sprintf("status %d: %s", code, body)
		}
		out = append(out, sb)
		if !killed.Load() {
			t.Errorf("%s: write failed before the kill: %s", l, sb.detail)
		}
		return out
	}
	return out
}

// countOutcomes records batches in m and counts them.
func countOutcomes(m *model, results [][]*sentBatch) (nAck, nUnack, rowsAck int) {
	for _, rs := range results {
		for _, b := range rs {
			m.record(b)
			if b.outcome == acked {
				nAck++
				rowsAck += len(b.keys)
			} else {
				nUnack++
			}
		}
	}
	return
}

// localSegmentProblems checks that every local segment the manifest names
// is a file of the size it records, and that no segment id is named twice.
// The server may be running: a file found missing counts only if a manifest
// read after that still names it as local (tiering, merges and retention
// commit the manifest before they delete a file).
func localSegmentProblems(data string, m *manifest.Manifest) []string {
	var probs []string
	ids := map[uint64]bool{}
	var later map[uint64]bool // local segments of a manifest read after the stat
	stillLocal := func(id uint64) bool {
		if later == nil {
			later = map[uint64]bool{}
			m2, err := manifest.LoadManifest(data)
			if err != nil {
				return true
			}
			for _, s := range m2.Segments {
				if !s.Cold() {
					later[s.ID] = true
				}
			}
		}
		return later[id]
	}
	for _, s := range m.Segments {
		if ids[s.ID] {
			probs = append(probs, fmt.Sprintf("segment id %d named twice by the manifest", s.ID))
		}
		ids[s.ID] = true
		if s.Cold() {
			continue
		}
		fi, err := os.Stat(filepath.Join(data, filepath.FromSlash(s.Path)))
		switch {
		case err != nil && !stillLocal(s.ID):
		case err != nil:
			probs = append(probs, fmt.Sprintf("local segment %s: %v", s.Path, err))
		case fi.Size() != s.Bytes:
			probs = append(probs, fmt.Sprintf("local segment %s is %d bytes, the manifest says %d", s.Path, fi.Size(), s.Bytes))
		}
	}
	return probs
}
