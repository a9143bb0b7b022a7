package main

// Crash test of retention: rows expire while silt is SIGKILLed.
//
//	SILT_RETENTION_CRASH_ROUNDS=n   kill -9 rounds (default 3)
//	SILT_CRASH_SEED=n               seed of the random choices

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// retentionWriter posts batches of new points to db "ret" and the same
// lines to db "keep" (which keeps everything), timed around the retention
// cutoff of the moment: a quarter already expired (up to 10 hours back), a
// half expiring within seconds, the rest visible for hours. It returns the
// batches of each database.
func retentionWriter(t *testing.T, p *siltProc, seed uint64, label string, r time.Duration, budget int64,
	next, sent, nextVal *atomic.Int64, stop, killed *atomic.Bool) (ret, keep []*sentBatch) {
	rng := rand.New(rand.NewPCG(seed, 11))
	for b := 0; !stop.Load(); b++ {
		if sent.Load() > budget {
			time.Sleep(time.Duration(10+rng.IntN(30)) * time.Millisecond)
		}
		size := 50 + rng.IntN(251)
		keys := make([]pointKey, size)
		vals := make([]string, size)
		l := fmt.Sprintf("%sb%d", label, b)
		cut := time.Now().Add(-r).UnixNano()
		for i := range keys {
			var off time.Duration
			switch c := rng.IntN(20); {
			case c < 5:
				off = -time.Minute - time.Duration(rng.Int64N(int64(10*time.Hour)))
			case c < 16:
				off = -2*time.Second + time.Duration(rng.Int64N(int64(7*time.Second)))
			default:
				off = time.Hour + time.Duration(rng.Int64N(int64(9*time.Hour)))
			}
			n := next.Add(1)
			// Whole seconds plus n nanoseconds: unique while n < 1e9.
			ts := (cut+int64(off))/1e9*1e9 + n
			keys[i] = pointKey{Table: "m", Series: fmt.Sprintf("s=s%02d", n%23), Time: ts}
			vals[i] = fieldsText(nextVal.Add(1), l)
		}
		sent.Add(int64(size))
		body := lineProtocol(keys, vals)
		for _, db := range []string{"ret", "keep"} {
			sb := newSentBatch(l+db, keys, vals)
			code, rb, _, err := p.write(db, body)
			sb.status = code
			if err == nil && code == http.StatusNoContent {
				sb.outcome = acked
			} else {
				sb.outcome = unacked
				sb.detail = fmt.Sprintf("status %d %s %v", code, rb, err)
			}
			if db == "ret" {
				ret = append(ret, sb)
			} else {
				keep = append(keep, sb)
			}
			if sb.outcome == unacked {
				if !killed.Load() {
					t.Errorf("%s: write to %s failed before the kill: %s", l, db, sb.detail)
				}
				return ret, keep
			}
		}
	}
	return ret, keep
}

// retentionProblems compares an export of db ret, taken between from and to,
// with the model: a point older than the cutoff at from must be absent
// (expired rows never come back), one newer than the cutoff at to must be
// there as acknowledged, and in between either. It returns the problems
// and the points that had expired.
func retentionProblems(m *model, got map[pointKey]string, r time.Duration, from, to time.Time) ([]string, int) {
	var probs []string
	surelyGone, surelyHere := from.Add(-r).UnixNano(), to.Add(-r).UnixNano()
	expired := 0
	for k, v := range got {
		st := m.points[k]
		switch {
		case st == nil:
			probs = append(probs, fmt.Sprintf("point %v = %s was never written", k, v))
		case k.Time < surelyGone:
			probs = append(probs, fmt.Sprintf("point %v = %s is %v older than the cutoff but visible", k, v, time.Duration(surelyGone-k.Time)))
		case !m.acceptable(k, v):
			probs = append(probs, fmt.Sprintf("point %v = %s; want %s", k, v, st.want()))
		}
	}
	for k, st := range m.points {
		if k.Time < surelyGone {
			expired++
		}
		if _, ok := got[k]; !ok && st.cur != "" && k.Time >= surelyHere {
			probs = append(probs, fmt.Sprintf("point %v missing, %v before it expires; want %s", k, time.Duration(k.Time-surelyHere), st.want()))
		}
	}
	sort.Strings(probs)
	return probs, expired
}

// waitRetained waits until retention has done its work on disk — no
// segment of ret is wholly expired, and none holds rows from a quarter of
// a day before the cutoff (a trim is then due) — and the segments of keep
// hold each of its keepPoints points once.
func waitRetained(t *testing.T, data string, r time.Duration, keepPoints int, when string) (retSegs int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := manifest.LoadManifest(data)
		if err != nil {
			t.Fatal(err)
		}
		reportProblems(t, when+": segments on disk", localSegmentProblems(data, m))
		cut := time.Now().Add(-r).UnixNano()
		var why []string
		var keepRows int64
		retSegs = 0
		for _, s := range m.Segments {
			if s.DB == "keep" && !s.IsRollup() {
				keepRows += s.Rows
			}
			if s.DB != "ret" {
				continue
			}
			retSegs++
			if s.MaxTime < cut-int64(time.Second) {
				why = append(why, fmt.Sprintf("segment %s expired %v ago", s.Path, time.Duration(cut-s.MaxTime)))
			}
			if s.MinTime < cut-int64(segment.WindowDuration/4)-int64(time.Second) && !s.IsRollup() {
				why = append(why, fmt.Sprintf("segment %s holds rows %v before the cutoff (a trim is due)", s.Path, time.Duration(cut-s.MinTime)))
			}
		}
		if keepRows != int64(keepPoints) {
			why = append(why, fmt.Sprintf("segments of keep hold %d rows for %d points (more: a row stored twice)", keepRows, keepPoints))
		}
		if len(why) == 0 {
			return retSegs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: retention did not catch up within 60s: %v", when, why[:min(len(why), 10)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCrashKill9Retention writes to a database whose retention cutoff
// sweeps through the rows being written (so segments expire whole and the
// window is trimmed over and over) and to one that keeps everything, and
// SIGKILLs silt mostly just after a retention drop or trim was counted.
// After each restart: no expired row is visible, every acknowledged row
// that has not expired is there once, the database that keeps everything
// is whole, retention catches up on disk, and `silt check` is clean.
func TestCrashKill9Retention(t *testing.T) {
	skipShort(t)
	rounds := int(envInt(t, "SILT_RETENTION_CRASH_ROUNDS", 3))
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0x4e7))
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	args := []string{"--flush-bytes", "128KiB", "--flush-interval", "100ms", "--compaction.interval", "20ms"}
	// The cutoff starts at noon of the window before today's, so that the
	// window is half expired (trims are due) and the rows written span it.
	now := time.Now()
	r := time.Duration(now.UnixNano()-(segment.WindowOf(now.UnixNano())-int64(12*time.Hour))).Truncate(time.Second) + 30*time.Second
	retM, keepM := newModel(), newModel()
	var nextPoint, nextVal atomic.Int64
	var totalAck, totalRows, keepAck, keepRows, timed, expiredSeen int
	start := time.Now()
	for round := 0; ; round++ {
		p := h.start(data, args...)
		if round == 0 {
			code, body, _, err := p.do(http.MethodPost, "/api/v1/databases",
				[]byte(fmt.Sprintf(`{"name": "ret", "retention": "%ds"}`, int64(r/time.Second))))
			if err != nil || code != http.StatusOK {
				t.Fatalf("set retention: %d %s %v", code, body, err)
			}
		}
		from := time.Now()
		got, err := p.export("ret", "m")
		to := time.Now()
		if err != nil {
			t.Fatalf("round %d: export ret: %v", round, err)
		}
		probs, expired := retentionProblems(retM, got, r, from, to)
		reportProblems(t, fmt.Sprintf("ret after the restart following round %d", round-1), probs)
		expiredSeen = expired
		retM.settle(got)
		kept, err := p.export("keep", "m")
		if err != nil {
			t.Fatalf("round %d: export keep: %v", round, err)
		}
		reportProblems(t, fmt.Sprintf("keep after the restart following round %d", round-1), keepM.check(kept))
		checkDataDir(t, data, fmt.Sprintf("after the restart following round %d", round-1))
		keepM.settle(kept)
		if t.Failed() {
			t.FailNow()
		}
		retSegs := waitRetained(t, data, r, len(kept), fmt.Sprintf("after the restart following round %d", round-1))
		siltCheck(t, data, fmt.Sprintf("round %d", round))
		if round == rounds {
			if code := p.term(); code != 0 {
				t.Fatalf("SIGTERM: exit code %d", code)
			}
			t.Logf("final: %d rounds; ret: %d requests (%d rows) acknowledged, %d points visible, %d expired; keep: %d requests (%d rows) acknowledged, %d points stored; rows lost 0; %d kills timed by a retention drop or trim; %s",
				rounds, totalAck, totalRows, len(got), expiredSeen, keepAck, keepRows, len(kept), timed, time.Since(start).Round(time.Second))
			break
		}
		retMetric := func() (float64, error) {
			a, err := metricSum(p, "silt_retention_dropped_segments_total", "")
			if err != nil {
				return 0, err
			}
			b, err := metricSum(p, "silt_retention_trims_total", "")
			return a + b, err
		}
		writers := 2 + rng.IntN(3)
		var stop, killed atomic.Bool
		var sent atomic.Int64
		rets, keeps := make([][]*sentBatch, writers), make([][]*sentBatch, writers)
		var wg sync.WaitGroup
		for w := range writers {
			s := rng.Uint64()
			wg.Add(1)
			go func() {
				defer wg.Done()
				rets[w], keeps[w] = retentionWriter(t, p, s, fmt.Sprintf("r%dw%d", round, w), r, 8000, &nextPoint, &sent, &nextVal, &stop, &killed)
			}()
		}
		how := "at a random moment"
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(100+rng.IntN(1200)) * time.Millisecond)
			killed.Store(true)
			p.kill()
		} else if timedKill(p, rng, time.Duration(100+rng.IntN(600))*time.Millisecond, 3*time.Second, 15*time.Millisecond, retMetric, &killed) {
			how = "just after a retention drop or trim"
			timed++
		} else {
			how = "after 3s without a retention drop or trim"
		}
		stop.Store(true)
		wg.Wait()
		nAck, nUnack, rows := countOutcomes(retM, rets)
		kAck, kUnack, kRows := countOutcomes(keepM, keeps)
		totalAck += nAck
		totalRows += rows
		keepAck += kAck
		keepRows += kRows
		t.Logf("round %d: %d writers; SIGKILL %s; ret: %d requests acknowledged (%d rows), %d not; keep: %d acknowledged, %d not; %d ret segments before",
			round, writers, how, nAck, rows, nUnack, kAck, kUnack, retSegs)
	}
}
