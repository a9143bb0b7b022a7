package main

// Crash tests of tiering against a real MinIO: silt serve is SIGKILLed
// while it uploads segments, publishes the bucket manifest and commits the
// local one (TestCrashKill9Tier), and MinIO is SIGKILLed and restarted
// while silt uploads (TestCrashKill9TierMinIOOutage). After each restart
// every acknowledged row is exported once, the bucket and the local
// manifest agree, and `silt check` is clean.
//
//	SILT_TIER_CRASH_ROUNDS=n     kill -9 rounds of TestCrashKill9Tier (default 3)
//	SILT_MINIO_OUTAGE_ROUNDS=n   MinIO kills of TestCrashKill9TierMinIOOutage (default 3)
//	SILT_CRASH_SEED=n            seed of the random choices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/tiering"
)

const tierPrefix = "crash/" // --s3.prefix of these tests, as bucket keys start

var resumedRE = regexp.MustCompile(`tiered segments to the object store.* resumed=[1-9]`)

// tierEnv is a MinIO server with a bucket, a client on it and the silt
// flags that tier into it.
type tierEnv struct {
	srv   *miniotest.Server
	store *tiering.S3Store
	flags []string
}

func newTierEnv(t *testing.T) *tierEnv {
	t.Helper()
	srv := miniotest.Start(t)
	store, err := tiering.NewS3Store(tiering.S3Options{Endpoint: srv.Endpoint, Bucket: "silt", Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Every window of the model (2024) is due at once; small flushes into
	// windows that already hold cold segments are tiered as they come, so a
	// pass runs every few hundred milliseconds while writers write.
	flags := []string{"--s3.endpoint", srv.Endpoint, "--s3.bucket", "silt", "--s3.prefix", strings.TrimSuffix(tierPrefix, "/"),
		"--s3.insecure", "--s3.access-key", srv.AccessKey, "--s3.secret-key", srv.SecretKey, "--s3.addressing", "path",
		"--tier.after", "1h", "--tier.interval", "50ms", "--tier.delete-grace", "1s", // kills land in the grace too; the rounds wait until nothing is left
		"--flush-bytes", "256KiB", "--flush-interval", "200ms", "--wal-segment-bytes", "1MiB", "--compaction.interval", "50ms"}
	return &tierEnv{srv: srv, store: store, flags: flags}
}

// TestTierColdWindowSegmentsBlockWrites: late writes into a window that is
// already tiered each become a segment of their own, tiered as it is (the
// documented design), and compaction never merges a window with cold
// segments. Those segments must not count toward
// --compaction.max-window-segments: they did once, and past the bound every
// write to every database got 429 compaction-behind for good, across
// restarts (found by TestCrashKill9TierMinIOOutage at 100 rounds, about 65
// flushes into one tiered window).
func TestTierColdWindowSegmentsBlockWrites(t *testing.T) {
	skipShort(t)
	env := newTierEnv(t)
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	const bound = 4
	flags := append(slices.Clone(env.flags), "--compaction.max-window-segments", strconv.Itoa(bound))
	p := h.start(data, flags...)
	var nextPoint, nextVal atomic.Int64
	m := newModel()
	for i := range bound + 3 {
		// One flush's worth of late rows into the 2024-01-01 window, then
		// wait until it is tiered.
		keys := make([]pointKey, 50)
		vals := make([]string, 50)
		for j := range keys {
			n := nextPoint.Add(1) * 3 // window 0 of newKey
			keys[j] = newKey(n)
			vals[j] = fieldsText(nextVal.Add(1), fmt.Sprintf("late%d", i))
		}
		code, body, _, err := p.write("crash", lineProtocol(keys, vals))
		if err != nil || code != http.StatusNoContent {
			t.Fatalf("late write %d into a tiered window (%d cold segments there): %d %s %v", i, i, code, body, err)
		}
		sb := newSentBatch(fmt.Sprintf("late%d", i), keys, vals)
		sb.outcome = acked
		m.record(sb)
		deadline := time.Now().Add(30 * time.Second)
		for {
			man, err := manifest.LoadManifest(data)
			if err != nil {
				t.Fatal(err)
			}
			cold, local := 0, 0
			for _, s := range man.Segments {
				if s.IsRollup() {
					continue
				}
				if s.Cold() {
					cold++
				} else {
					local++
				}
			}
			if cold == i+1 && local == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("late write %d not tiered within 30s: %d cold, %d local segments", i, cold, local)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got, err := p.export("crash", "m")
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after the late writes", m.check(got))
	if code := p.term(); code != 0 {
		t.Errorf("SIGTERM: exit code %d", code)
	}
}

// tierState is what the local manifest and the bucket hold.
type tierState struct {
	cold, local int
	rows        int64 // rows of the manifest's segments (rollups left out)
	probs       []string
	// quiescent problems: the bucket differs from the local manifest in a
	// way a tiering pass in progress (or the first pass after a start)
	// resolves.
	pending []string
}

// readTierState compares the local manifest, the data directory and the
// bucket. Lost objects and size or checksum mismatches go to probs; objects
// no segment names and a bucket manifest that differs go to pending.
func (env *tierEnv) readTierState(t *testing.T, data string) tierState {
	t.Helper()
	ctx := context.Background()
	var st tierState
	m, err := manifest.LoadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	st.probs = localSegmentProblems(data, m)
	objs, err := env.store.List(ctx, tierPrefix+"segments/")
	if err != nil {
		t.Fatalf("list bucket: %v", err)
	}
	inBucket := map[string]tiering.ObjectInfo{}
	for _, o := range objs {
		inBucket[o.Key] = o
	}
	coldIDs := map[uint64]string{}
	for _, s := range m.Segments {
		if !s.IsRollup() {
			st.rows += s.Rows
		}
		if !s.Cold() {
			st.local++
			continue
		}
		st.cold++
		coldIDs[s.ID] = s.Path
		o, ok := inBucket[tierPrefix+s.Path]
		if !ok {
			// The manifest was read before the bucket was listed: a merge
			// or retention may have retired the segment in between, and a
			// pass deleted its object. Lost only if still named now.
			if stillCold(t, data, s.ID) {
				st.probs = append(st.probs, fmt.Sprintf("cold segment %d (%s) is not in the bucket", s.ID, s.Path))
			} else {
				st.pending = append(st.pending, fmt.Sprintf("cold segment %d retired while read", s.ID))
			}
			continue
		}
		delete(inBucket, tierPrefix+s.Path)
		if o.Size != s.Bytes {
			st.probs = append(st.probs, fmt.Sprintf("cold segment %s: object is %d bytes, manifest says %d", s.Path, o.Size, s.Bytes))
			continue
		}
		info, err := env.store.Stat(ctx, tierPrefix+s.Path)
		if err != nil && errors.Is(err, tiering.ErrNotFound) && !stillCold(t, data, s.ID) {
			st.pending = append(st.pending, fmt.Sprintf("cold segment %d retired while read", s.ID))
		} else if err != nil {
			st.probs = append(st.probs, fmt.Sprintf("stat %s: %v", s.Path, err))
		} else if info.Checksum != "" && s.Checksum != "" && info.Checksum != s.Checksum {
			st.probs = append(st.probs, fmt.Sprintf("cold segment %s: object checksum %s, manifest says %s", s.Path, info.Checksum, s.Checksum))
		}
	}
	for k := range inBucket {
		st.pending = append(st.pending, "object "+k+" is named by no segment")
	}
	// The bucket's manifest names exactly the cold segments.
	info, err := env.store.Stat(ctx, tierPrefix+engine.BucketManifestKey)
	var rc io.ReadCloser
	if err == nil {
		rc, err = env.store.GetRange(ctx, tierPrefix+engine.BucketManifestKey, 0, info.Size)
	}
	if err != nil {
		if st.cold > 0 {
			st.pending = append(st.pending, fmt.Sprintf("bucket manifest: %v", err))
		}
		return st
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read bucket manifest: %v", err)
	}
	// The running server republishes the manifest: a read that spans a
	// rewrite (the size from before, the bytes from after) is retried,
	// not a fault.
	if again, err := env.store.Stat(ctx, tierPrefix+engine.BucketManifestKey); err != nil || again.ETag != info.ETag || again.Size != info.Size {
		st.pending = append(st.pending, "bucket manifest rewritten while read")
		return st
	}
	var bm manifest.Manifest
	if err := json.Unmarshal(raw, &bm); err != nil {
		st.probs = append(st.probs, fmt.Sprintf("bucket manifest does not parse: %v", err))
		return st
	}
	named := map[uint64]bool{}
	for _, s := range bm.Segments {
		named[s.ID] = true
		if _, ok := coldIDs[s.ID]; !ok {
			st.pending = append(st.pending, fmt.Sprintf("bucket manifest names segment %d that the local manifest has not as cold", s.ID))
		}
	}
	for id, p := range coldIDs {
		if !named[id] {
			st.pending = append(st.pending, fmt.Sprintf("bucket manifest lacks cold segment %d (%s)", id, p))
		}
	}
	sort.Strings(st.pending)
	return st
}

// stillCold reports whether the local manifest, read again, names
// segment id as cold.
func stillCold(t *testing.T, data string, id uint64) bool {
	t.Helper()
	m, err := manifest.LoadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Segments {
		if s.ID == id {
			return s.Cold()
		}
	}
	return false
}

// waitTiered waits until everything of the model is tiered: every segment
// cold, the bucket and both manifests in agreement, and the segments
// holding exactly points rows (each point once: the writers never write a
// point twice). It fails the test on lost objects at once and on the rest
// after a minute.
func (env *tierEnv) waitTiered(t *testing.T, data string, points int, when string) tierState {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := env.readTierState(t, data)
		reportProblems(t, when+": bucket versus manifest", st.probs)
		if t.Failed() {
			t.FailNow()
		}
		if st.local == 0 && len(st.pending) == 0 && st.rows == int64(points) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not settled after 90s: %d local and %d cold segments holding %d rows for %d points (more rows: a row stored twice); bucket: %v",
				when, st.local, st.cold, st.rows, points, st.pending[:min(len(st.pending), 10)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCrashKill9Tier writes into old windows while silt tiers them to
// MinIO, and SIGKILLs it mostly just after an object store put was counted
// (an upload, the bucket manifest) so the kill falls inside a tiering pass.
// After each restart: every acknowledged row exported once, every cold
// segment in the bucket with its size and checksum, no orphan object once
// the first pass has run, both manifests agreeing, `silt check` clean.
func TestCrashKill9Tier(t *testing.T) {
	skipShort(t)
	tierCrashRounds(t, newKey)
}

// tierCrashRounds runs the rounds of TestCrashKill9Tier with the writers'
// points given by key.
func tierCrashRounds(t *testing.T, key func(n int64) pointKey) {
	rounds := int(envInt(t, "SILT_TIER_CRASH_ROUNDS", 3))
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0x71e5))
	env := newTierEnv(t)
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	m := newModel()
	var nextPoint, nextVal atomic.Int64
	var totalAck, totalRows, timed, cleanedStarts, resumedStarts int
	start := time.Now()
	for round := 0; ; round++ {
		p := h.start(data, env.flags...)
		got, err := p.export("crash", "m")
		if err != nil {
			t.Fatalf("round %d: export after restart: %v", round, err)
		}
		reportProblems(t, fmt.Sprintf("after the restart following round %d", round-1), m.check(got))
		checkDataDir(t, data, fmt.Sprintf("after the restart following round %d", round-1), append([]string{"--bucket"}, s3Only(env.flags)...)...)
		m.settle(got)
		if t.Failed() {
			t.FailNow()
		}
		st := env.waitTiered(t, data, len(got), fmt.Sprintf("after the restart following round %d", round-1))
		// What the first passes after the start found of the killed one:
		// uploads to delete (killed before the bucket manifest named
		// them), or verified objects it did not send again.
		if l := p.log(); strings.Contains(l, "deleted retired segments in the bucket") {
			cleanedStarts++
		} else if resumedRE.MatchString(l) {
			resumedStarts++
		}
		siltCheck(t, data, fmt.Sprintf("round %d", round))
		if round == rounds {
			if code := p.term(); code != 0 {
				t.Fatalf("SIGTERM: exit code %d", code)
			}
			t.Logf("final: %d rounds, %d requests (%d rows) acknowledged, %d points stored, rows lost 0; %d cold segments; "+
				"%d kills timed by a put; %d restarts deleted orphan objects of a killed pass, %d more resumed its verified uploads; %s",
				rounds, totalAck, totalRows, len(got), st.cold, timed, cleanedStarts, resumedStarts, time.Since(start).Round(time.Second))
			break
		}

		writers := 2 + rng.IntN(3)
		var stop, killed atomic.Bool
		var sent atomic.Int64
		results := make([][]*sentBatch, writers)
		var wg sync.WaitGroup
		for w := range writers {
			s := rng.Uint64()
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[w] = newPointsWriter(t, p, "crash", s, fmt.Sprintf("r%dw%d", round, w), 6000,
					&nextPoint, &sent, &nextVal, key, &stop, &killed)
			}()
		}
		puts := func() (float64, error) { return metricSum(p, "silt_objstore_operations_total", `op="put"`) }
		how := "at a random moment"
		if rng.IntN(4) == 0 {
			// A plain random moment now and then: the kill may also land
			// between passes, in a flush or a merge.
			time.Sleep(time.Duration(100+rng.IntN(1200)) * time.Millisecond)
			killed.Store(true)
			p.kill()
		} else if timedKill(p, rng, time.Duration(100+rng.IntN(600))*time.Millisecond, 3*time.Second, 25*time.Millisecond, puts, &killed) {
			how = "just after a put"
			timed++
		} else {
			how = "after 3s without a put"
		}
		stop.Store(true)
		wg.Wait()
		nAck, nUnack, rows := countOutcomes(m, results)
		totalAck += nAck
		totalRows += rows
		t.Logf("round %d: %d writers; SIGKILL %s; %d requests acknowledged (%d rows), %d not; %d cold segments before",
			round, writers, how, nAck, rows, nUnack, st.cold)
	}
}

// TestCrashKill9TierMinIOOutage kills MinIO (SIGKILL) and restarts it
// again and again while silt writes and tiers: every write is acknowledged
// throughout, tiering fails and retries, and once MinIO stays up
// everything is tiered, each row exported once, the bucket agreeing with
// the manifest. Then silt itself is SIGKILLed during a pass and must come
// back the same.
func TestCrashKill9TierMinIOOutage(t *testing.T) {
	skipShort(t)
	outages := int(envInt(t, "SILT_MINIO_OUTAGE_ROUNDS", 3))
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0x0a7e))
	env := newTierEnv(t)
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	m := newModel()
	var nextPoint, nextVal atomic.Int64
	start := time.Now()
	p := h.start(data, env.flags...)

	writers := 3
	var stop, killed atomic.Bool
	var sent atomic.Int64
	results := make([][]*sentBatch, writers)
	var wg sync.WaitGroup
	for w := range writers {
		s := rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w] = newPointsWriter(t, p, "crash", s, fmt.Sprintf("w%d", w), int64(8000*(outages+1)),
				&nextPoint, &sent, &nextVal, newKey, &stop, &killed)
		}()
	}
	puts := func() (float64, error) { return metricSum(p, "silt_objstore_operations_total", `op="put"`) }
	var down time.Duration
	for i := range outages {
		// Wait for an upload to start or finish, then kill MinIO amid the pass.
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		base, _ := puts()
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if v, err := puts(); err == nil && v != base {
				break
			}
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		env.srv.Kill()
		d := time.Duration(300+rng.IntN(1700)) * time.Millisecond
		time.Sleep(d)
		if code, _, err := p.get("/health"); err != nil || code != http.StatusOK {
			t.Errorf("outage %d: /health with MinIO down: %d %v", i, code, err)
		}
		down += d
		if err := env.srv.RestartErr(); err != nil {
			t.Fatalf("outage %d: restart MinIO: %v", i, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow() // a write failed during an outage
	}
	nAck, nUnack, rows := countOutcomes(m, results)
	if nUnack != 0 {
		t.Fatalf("%d writes not acknowledged with MinIO going down and up", nUnack)
	}
	failures, err := metricSum(p, "silt_tier_failures_total", "")
	if err != nil {
		t.Fatal(err)
	}
	storeErrs, err := metricSum(p, "silt_objstore_errors_total", "")
	if err != nil {
		t.Fatal(err)
	}
	if failures == 0 && storeErrs == 0 {
		// Each kill follows a put, but a pass can end between the put and
		// the kill, and the next may find nothing due until MinIO is back.
		t.Logf("no object store call failed over %d MinIO outages (%v down): this run's outages fell between passes", outages, down)
	}
	got, err := p.export("crash", "m")
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after the outages", m.check(got))
	st := env.waitTiered(t, data, len(got), "after the outages")
	siltCheck(t, data, "after the outages")
	t.Logf("%d MinIO kills (%v down in all): %d requests (%d rows) acknowledged, every one; %d failed tiering passes retried, %d failed object store calls; %d cold segments",
		outages, down, nAck, rows, int(failures), int(storeErrs), st.cold)

	// Now silt dies during a pass, with MinIO up, and restarts.
	killed.Store(false)
	stop.Store(false)
	results = make([][]*sentBatch, writers)
	for w := range writers {
		s := rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w] = newPointsWriter(t, p, "crash", s, fmt.Sprintf("k%d", w), sent.Load()+8000,
				&nextPoint, &sent, &nextVal, newKey, &stop, &killed)
		}()
	}
	moved := timedKill(p, rng, 300*time.Millisecond, 3*time.Second, 20*time.Millisecond, puts, &killed)
	stop.Store(true)
	wg.Wait()
	nAck2, _, rows2 := countOutcomes(m, results)
	p = h.start(data, env.flags...)
	got, err = p.export("crash", "m")
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after silt's kill", m.check(got))
	st = env.waitTiered(t, data, len(got), "after silt's kill")
	siltCheck(t, data, "after silt's kill")
	if code := p.term(); code != 0 {
		t.Errorf("SIGTERM: exit code %d", code)
	}
	t.Logf("then silt SIGKILLed (timed by a put: %v): %d more requests (%d rows) acknowledged; %d points stored, rows lost 0; %d cold segments; %s",
		moved, nAck2, rows2, len(got), st.cold, time.Since(start).Round(time.Second))
}
