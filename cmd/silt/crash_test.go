package main

// End-to-end crash-safety tests: they run the real silt binary, kill it at
// random moments, tamper with its WAL and fill its disk, and check that
// every acknowledged write survives and nothing else appears.
//
// They are slow (tens of seconds) and skipped with -short. Knobs:
//
//	SILT_CRASH_ROUNDS=n   kill -9 rounds of TestCrashKill9 (default 12)
//	SILT_CRASH_SEED=n     seed of the random choices (logged by every test)
//	SILT_E2E_RACE=1       build the server with -race; a race report fails

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/manifest"
)

func envInt(t *testing.T, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// testSeed returns the seed for a test's random choices and logs how to
// reproduce them.
func testSeed(t *testing.T) uint64 {
	seed := envInt(t, "SILT_CRASH_SEED", time.Now().UnixNano())
	t.Logf("random seed %d (SILT_CRASH_SEED=%d reproduces the choices; kill timing stays nondeterministic)", seed, seed)
	return uint64(seed)
}

// ackedSet is the set of points acknowledged during one round, shared by the
// writers and the concurrent exporter.
type ackedSet struct {
	lines atomic.Int64 // sent this round
	mu    sync.Mutex
	vals  map[pointKey]string
	sent  map[pointKey][]string // every value sent this round (acknowledged or not)
}

func (a *ackedSet) addSent(keys []pointKey, vals []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, k := range keys {
		a.sent[k] = append(a.sent[k], vals[i])
	}
}

func (a *ackedSet) addAcked(b *sentBatch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, k := range b.keys {
		a.vals[k] = b.vals[i]
	}
}

func (a *ackedSet) snapshot() map[pointKey]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := make(map[pointKey]string, len(a.vals))
	for k, v := range a.vals {
		s[k] = v
	}
	return s
}

func (a *ackedSet) wasSent(k pointKey, v string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.sent[k] {
		if s == v {
			return true
		}
	}
	return false
}

// TestCrashKill9 writes from several goroutines while flushes, WAL rotations
// and manifest commits run, SIGKILLs the server at a random moment, restarts
// it and checks the export against what was acknowledged. Points accumulate
// over the rounds, and later rounds overwrite earlier points.
func TestCrashKill9(t *testing.T) {
	skipShort(t)
	rounds := int(envInt(t, "SILT_CRASH_ROUNDS", 12))
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0x5117))
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	args := []string{"--flush-bytes", "256KiB", "--flush-interval", "200ms", "--wal-segment-bytes", "1MiB"}

	m := newModel()
	var nextPoint, nextN, nextVal atomic.Int64
	var prevUnacked []*sentBatch
	var totalAcked, totalUnacked, unackedSeen int

	var earlyKills, termKills int
	for round := 0; ; round++ {
		if round > 0 && rng.IntN(4) == 0 {
			// Crash during recovery too: replay, orphan removal and
			// torn-tail truncation must be safe to interrupt.
			q := h.spawn(data, args...)
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
			q.killEarly()
			if strings.Contains(q.log(), "wal corruption") {
				t.Errorf("round %d: replay after SIGKILL reported WAL corruption (a kill can only tear the tail)", round)
			}
			earlyKills++
		}
		p := h.start(data, args...)
		if strings.Contains(p.log(), "wal corruption") {
			t.Errorf("round %d: replay after SIGKILL reported WAL corruption (a kill can only tear the tail)", round)
		}
		got, err := p.exportTables("crash", "m", "n")
		if err != nil {
			t.Fatalf("round %d: export after restart: %v", round, err)
		}
		reportProblems(t, fmt.Sprintf("after the restart following round %d", round-1), m.check(got))
		checkDataDir(t, data, fmt.Sprintf("after the restart following round %d", round-1))
		// A request is one WAL record: after a crash it is there whole or
		// not at all.
		for _, b := range prevUnacked {
			seen := 0
			for i, k := range b.keys {
				if got[k] == b.vals[i] {
					seen++
				}
			}
			if seen != 0 && seen != len(b.keys) {
				t.Errorf("round %d: unacknowledged request %s is partly stored: %d of its %d points", round-1, b.label, seen, len(b.keys))
			}
			if seen > 0 {
				unackedSeen++
			}
		}
		m.settle(got)
		if t.Failed() {
			t.FailNow()
		}
		if round == rounds {
			t.Logf("final: %d points stored; %d requests acknowledged, %d not (%d of those were stored anyway); %d kills during startup, %d during shutdown",
				len(got), totalAcked, totalUnacked, unackedSeen, earlyKills, termKills)
			if code := p.term(); code != 0 {
				t.Fatalf("SIGTERM: exit code %d, want 0", code)
			}
			break
		}

		writers := 4 + rng.IntN(5)
		killAfter := time.Duration(50+rng.IntN(651)) * time.Millisecond
		// Now and then SIGTERM first and SIGKILL during the shutdown
		// flush, as a supervisor whose stop timeout runs out.
		termFirst := rng.IntN(4) == 0
		grace := time.Duration(rng.IntN(100)) * time.Millisecond
		// Points from earlier rounds to overwrite, each owned by one writer
		// so no two writes of a point are ever in flight together.
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
		seeds := make([]uint64, writers)
		for i := range seeds {
			seeds[i] = rng.Uint64()
		}

		as := &ackedSet{vals: map[pointKey]string{}, sent: map[pointKey][]string{}}
		var killed atomic.Bool
		results := make([][]*sentBatch, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[w] = crashWriter(t, p, round, w, seeds[w], owned[w], &nextPoint, &nextN, &nextVal, as, &killed)
			}()
		}
		// A concurrent exporter: everything acknowledged before an export
		// starts must be in it, with its value.
		var exports atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !killed.Load(); i++ {
				// The small table every time, the big one now and then.
				tables := []string{"n"}
				if i%4 == 3 {
					tables = append(tables, "m")
				}
				snap := as.snapshot()
				got, err := p.exportTables("crash", tables...)
				if err != nil {
					if !killed.Load() {
						t.Errorf("round %d: export during writes: %v", round, err)
					}
					return
				}
				exports.Add(1)
				var probs []string
				for k, v := range snap {
					if (k.Table == "n" || len(tables) == 2) && got[k] != v {
						probs = append(probs, fmt.Sprintf("acknowledged %v = %s, export has %q", k, v, got[k]))
					}
				}
				for k, v := range got {
					if !m.acceptable(k, v) && !as.wasSent(k, v) {
						probs = append(probs, fmt.Sprintf("%v = %s was never sent", k, v))
					}
				}
				reportProblems(t, fmt.Sprintf("round %d: export during writes", round), probs)
				time.Sleep(50 * time.Millisecond)
			}
		}()

		time.Sleep(killAfter)
		killed.Store(true)
		how := "SIGKILL"
		if termFirst {
			how = fmt.Sprintf("SIGTERM, SIGKILL %v later: %s", grace, p.termThenKill(grace))
			termKills++
		} else {
			p.kill()
		}
		wg.Wait()

		prevUnacked = prevUnacked[:0]
		var nAck, nUnack, nOver int
		for _, rs := range results {
			for _, b := range rs {
				m.record(b)
				if b.outcome == acked {
					nAck++
				} else {
					nUnack++
					prevUnacked = append(prevUnacked, b)
				}
			}
		}
		for _, o := range owned {
			nOver += len(o)
		}
		totalAcked += nAck
		totalUnacked += nUnack
		t.Logf("round %d: %d writers, %s after %v: %d requests acknowledged, %d not; %d exports during writes; %d overwrite candidates; %d points known",
			round, writers, how, killAfter, nAck, nUnack, exports.Load(), nOver, len(m.points))
	}

	// One more clean start: the data survives a SIGTERM too.
	p := h.start(data, args...)
	got, err := p.exportTables("crash", "m", "n")
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after the final clean restart", m.check(got))
	if code := p.term(); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}
}

// roundBudget is how many lines the writers of a round send at full speed.
const roundBudget = 40000

// crashWriter posts batches of 50-500 lines until the server is killed. A
// fifth of the lines overwrite owned points from earlier rounds, now and
// then a point is written twice in one request (the later line wins), and
// half the requests also carry a few lines of the small table n.
func crashWriter(t *testing.T, p *siltProc, round, w int, seed uint64, owned []pointKey,
	nextPoint, nextN, nextVal *atomic.Int64, as *ackedSet, killed *atomic.Bool) []*sentBatch {
	rng := rand.New(rand.NewPCG(seed, uint64(w)))
	var out []*sentBatch
	for b := 0; ; b++ {
		if as.lines.Load() > roundBudget {
			// Keep writing, slowly, so the kill still lands amid writes
			// but the table does not grow without bound.
			time.Sleep(time.Duration(10+rng.IntN(30)) * time.Millisecond)
		}
		label := fmt.Sprintf("r%dw%db%d", round, w, b)
		size := 50 + rng.IntN(451)
		keys := make([]pointKey, 0, size+8)
		vals := make([]string, 0, size+8)
		for len(keys) < size {
			var k pointKey
			if len(owned) > 0 && rng.IntN(5) == 0 {
				k, owned = owned[0], owned[1:]
			} else {
				k = newKey(nextPoint.Add(1))
			}
			keys = append(keys, k)
			vals = append(vals, fieldsText(nextVal.Add(1), label))
			if rng.IntN(40) == 0 {
				keys = append(keys, k)
				vals = append(vals, fieldsText(nextVal.Add(1), label))
			}
		}
		if rng.IntN(2) == 0 {
			for range 1 + rng.IntN(5) {
				i := rng.IntN(len(keys) + 1)
				keys = slices.Insert(keys, i, newKeyN(nextN.Add(1)))
				vals = slices.Insert(vals, i, fieldsText(nextVal.Add(1), label))
			}
		}
		sb := newSentBatch(label, keys, vals)
		as.addSent(sb.keys, sb.vals)
		as.lines.Add(int64(len(keys)))
		code, body, _, err := p.write("crash", lineProtocol(keys, vals))
		sb.status = code
		switch {
		case err == nil && code == http.StatusNoContent:
			sb.outcome = acked
			as.addAcked(sb)
			out = append(out, sb)
			continue
		case err != nil:
			sb.outcome, sb.detail = unacked, err.Error()
		default:
			sb.outcome, sb.detail = unacked, fmt.Sprintf("status %d: %s", code, body)
		}
		out = append(out, sb)
		if killed.Load() {
			return out
		}
		// Before the kill every write must succeed.
		t.Errorf("round %d writer %d: write failed before the kill: %s", round, w, sb.detail)
		return out
	}
}

// walFiles returns the WAL files of dataDir by sequence number.
func walFiles(t *testing.T, dataDir string) map[uint64]int64 {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dataDir, "wal"))
	if err != nil {
		t.Fatalf("list wal dir: %v", err)
	}
	out := map[uint64]int64{}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".wal") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".wal"), 10, 64)
		if err != nil {
			t.Errorf("unexpected file in wal dir: %s", name)
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[seq] = info.Size()
	}
	return out
}

func walPath(dataDir string, seq uint64) string {
	return filepath.Join(dataDir, "wal", fmt.Sprintf("%020d.wal", seq))
}

// writeBatch posts size new points in one request and requires it to be
// acknowledged.
func writeBatch(p *siltProc, db string, nextPoint, nextVal *atomic.Int64, size int, label string) (*sentBatch, error) {
	keys := make([]pointKey, size)
	vals := make([]string, size)
	for i := range keys {
		keys[i] = newKey(nextPoint.Add(1))
		vals[i] = fieldsText(nextVal.Add(1), label)
	}
	code, body, _, err := p.write(db, lineProtocol(keys, vals))
	if err != nil || code != http.StatusNoContent {
		return nil, fmt.Errorf("write %s: status %d, err %v, body %s", label, code, err, body)
	}
	sb := newSentBatch(label, keys, vals)
	sb.outcome = acked
	return sb, nil
}

// writeSeq posts n requests of size lines each, one after another, requires
// every one to be acknowledged and records them in m.
func writeSeq(t *testing.T, p *siltProc, db string, m *model, nextPoint, nextVal *atomic.Int64, n, size int, labelPrefix string) {
	t.Helper()
	for b := range n {
		sb, err := writeBatch(p, db, nextPoint, nextVal, size, fmt.Sprintf("%sb%d", labelPrefix, b))
		if err != nil {
			t.Fatal(err)
		}
		m.record(sb)
	}
}

// TestCleanRestart writes, stops the server with SIGTERM while writes are
// still arriving, and checks that it exits 0 with every row in segments
// named by the manifest (no WAL data left to replay) and everything there
// after a restart.
func TestCleanRestart(t *testing.T) {
	skipShort(t)
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	// Some data is flushed while writing, the rest (spread over several
	// WAL files) only by the shutdown.
	args := []string{"--flush-bytes", "1MiB", "--flush-interval", "1h", "--wal-segment-bytes", "256KiB"}
	p := h.start(data, args...)

	m := newModel()
	var nextPoint, nextVal atomic.Int64
	var wg sync.WaitGroup
	first := make([][]*sentBatch, 4)
	for w := range 4 {
		size := 100 + rng.IntN(300)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 25 {
				sb, err := writeBatch(p, "clean", &nextPoint, &nextVal, size, fmt.Sprintf("w%db%d", w, b))
				if err != nil {
					t.Error(err)
					return
				}
				first[w] = append(first[w], sb)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, rs := range first {
		for _, b := range rs {
			m.record(b)
		}
	}

	// Keep writing while SIGTERM arrives: in-flight requests finish (204)
	// or are refused; everything acknowledged must be flushed.
	var stopped atomic.Bool
	results := make([][]*sentBatch, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				label := fmt.Sprintf("term-w%db%d", w, b)
				keys := make([]pointKey, 200)
				vals := make([]string, 200)
				for i := range keys {
					keys[i] = newKey(nextPoint.Add(1))
					vals[i] = fieldsText(nextVal.Add(1), label)
				}
				sb := newSentBatch(label, keys, vals)
				code, body, _, err := p.write("clean", lineProtocol(keys, vals))
				sb.status = code
				if err == nil && code == http.StatusNoContent {
					sb.outcome = acked
					results[w] = append(results[w], sb)
					continue
				}
				sb.outcome = unacked
				results[w] = append(results[w], sb)
				if err == nil {
					var eb errorBody
					if code != http.StatusServiceUnavailable || json.Unmarshal(body, &eb) != nil || eb.Code != "shutting-down" {
						t.Errorf("write during shutdown: status %d %s; want 204, 503 shutting-down or a refused connection", code, body)
					}
				}
				if !stopped.Load() {
					t.Errorf("write failed before SIGTERM: status %d, err %v", code, err)
				}
				return
			}
		}()
	}
	time.Sleep(time.Duration(50+rng.IntN(150)) * time.Millisecond)
	stopped.Store(true)
	code := p.term()
	wg.Wait()
	if code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0", code)
	}
	if !strings.Contains(p.log(), "stopped cleanly") {
		t.Errorf("log of a clean stop does not say 'stopped cleanly'")
	}
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
	t.Logf("%d points written before SIGTERM; during shutdown %d requests acknowledged, %d not", len(m.points), nAck, nUnack)

	// On disk: the manifest names every row, the WAL holds nothing.
	man, err := manifest.LoadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	for seq, size := range walFiles(t, data) {
		switch {
		case seq < man.WALSeq:
			t.Errorf("wal file %d is below the manifest's wal_seq %d (covered by segments) but was not removed", seq, man.WALSeq)
		case size != 0:
			t.Errorf("wal file %d holds %d bytes after a clean shutdown; want every row flushed", seq, size)
		}
	}
	var segRows int64
	live := map[string]bool{}
	for _, s := range man.Segments {
		if !s.IsRollup() {
			segRows += s.Rows
		}
		path := filepath.Join(data, filepath.FromSlash(s.Path))
		live[path] = true
		st, err := os.Stat(path)
		if err != nil {
			t.Errorf("segment %d named by the manifest: %v", s.ID, err)
		} else if st.Size() != s.Bytes {
			t.Errorf("segment %s is %d bytes, manifest says %d", s.Path, st.Size(), s.Bytes)
		}
	}
	_ = filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".tmp"):
			t.Errorf("temporary file left after a clean shutdown: %s", path)
		case strings.HasSuffix(path, ".parquet") && !live[path]:
			t.Errorf("segment file not named by the manifest: %s", path)
		}
		return nil
	})

	p = h.start(data, args...)
	if l := p.log(); !strings.Contains(l, "wal_records=0") || !strings.Contains(l, "rows_replayed=0") {
		t.Errorf("restart after a clean shutdown replayed WAL records:\n%s", tailLines(l, 5))
	}
	got, err := p.export("clean", "m")
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after a clean restart", m.check(got))
	// No point was written twice, so the segments hold each point once.
	if segRows != int64(len(got)) {
		t.Errorf("manifest segments hold %d rows, export has %d points", segRows, len(got))
	}
	if code := p.term(); code != 0 {
		t.Errorf("second SIGTERM: exit code %d, want 0", code)
	}
}

// lastWALRecord parses the WAL file format (magic, length, crc, payload)
// and returns the offset and size of the last record.
func lastWALRecord(t *testing.T, data []byte) (off, size int) {
	t.Helper()
	off = -1
	for at := 0; at+12 <= len(data); {
		if string(data[at:at+4]) != "SILT" {
			t.Fatalf("wal file: no record header at %d", at)
		}
		n := int(uint32(data[at+4]) | uint32(data[at+5])<<8 | uint32(data[at+6])<<16 | uint32(data[at+7])<<24)
		if at+12+n > len(data) {
			t.Fatalf("wal file: record at %d runs past the end", at)
		}
		off, size = at, 12+n
		at += 12 + n
	}
	if off < 0 {
		t.Fatal("wal file holds no record")
	}
	return off, size
}

// noMagic returns n random bytes in 1..255 without 'S' (0x53), so they hold
// no WAL record header or a prefix of one and do not end in zeros.
func noMagic(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		for b[i] == 0 || b[i] == 'S' {
			b[i] = byte(rng.IntN(256))
		}
	}
	return b
}

// header returns a WAL record header claiming length n.
func header(rng *rand.Rand, n uint32) []byte {
	h := []byte("SILT")
	h = append(h, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	c := rng.Uint32()
	return append(h, byte(c), byte(c>>8), byte(c>>16), byte(c>>24))
}

// TestTornWALTail kills the server with acknowledged data in the WAL,
// damages the end of the last WAL file the way a crash (or worse) can, and
// checks that the server starts, keeps every acknowledged row and says what
// it found.
func TestTornWALTail(t *testing.T) {
	skipShort(t)
	seed := testSeed(t)
	const (
		torn    = "truncated torn wal tail"
		corrupt = "wal corruption skipped during replay"
	)
	cases := []struct {
		name string
		// tail returns the bytes to append to the last WAL file.
		tail func(rng *rand.Rand, file []byte) []byte
		// logs: what the restart must log; truncated: whether the
		// appended bytes must be cut off the file.
		logs      []string
		truncated bool
	}{
		{"half-of-a-copied-record", func(rng *rand.Rand, file []byte) []byte {
			off, size := lastWALRecord(t, file)
			return append([]byte(nil), file[off:off+size/2]...)
		}, []string{torn}, true},
		{"partial-header", func(rng *rand.Rand, file []byte) []byte {
			return header(rng, 500)[:6]
		}, []string{torn}, true},
		{"header-longer-than-file", func(rng *rand.Rand, file []byte) []byte {
			return append(header(rng, 1<<20), noMagic(rng, 100)...)
		}, []string{torn}, true},
		{"zeros", func(rng *rand.Rand, file []byte) []byte {
			return make([]byte, 4096)
		}, []string{torn}, true},
		{"garbage-then-long-header", func(rng *rand.Rand, file []byte) []byte {
			return append(append(noMagic(rng, 37), header(rng, 1<<16)...), noMagic(rng, 20)...)
		}, []string{corrupt, torn}, false},
		// No crash of an append produces these; replay must report them
		// as possible loss rather than silently cut them, and still start.
		{"random-garbage", func(rng *rand.Rand, file []byte) []byte {
			return noMagic(rng, 61)
		}, []string{corrupt}, false},
		{"header-above-max-record", func(rng *rand.Rand, file []byte) []byte {
			return append(header(rng, 0xFFFFFFF0), noMagic(rng, 30)...)
		}, []string{corrupt}, false},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(ci)))
			h := newHarness(t)
			data := filepath.Join(h.dir, "data")
			args := []string{"--flush-interval", "1h", "--flush-bytes", "64MiB"}
			m := newModel()
			var nextPoint, nextVal atomic.Int64

			p := h.start(data, args...)
			writeSeq(t, p, "torn", m, &nextPoint, &nextVal, 10, 50+rng.IntN(200), "a")
			p.kill()

			files := walFiles(t, data)
			var last uint64
			for seq := range files {
				last = max(last, seq)
			}
			path := walPath(data, last)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(orig) == 0 {
				t.Fatalf("last wal file %s is empty; the acknowledged writes should be in it", path)
			}
			tail := tc.tail(rng, orig)
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tail); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			p = h.start(data, args...)
			l := p.log()
			for _, want := range tc.logs {
				if !strings.Contains(l, want) {
					t.Errorf("restart log does not mention %q:\n%s", want, tailLines(l, 10))
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.truncated && !bytesEqual(after, orig) {
				t.Errorf("wal file is %d bytes after replay; want the torn tail cut back to the original %d", len(after), len(orig))
			}
			if !tc.truncated && len(after) < len(orig) {
				t.Errorf("wal file shrank from %d to %d bytes: replay cut acknowledged records", len(orig), len(after))
			}
			got, err := p.export("torn", "m")
			if err != nil {
				t.Fatal(err)
			}
			reportProblems(t, "after restarting on the damaged wal", m.check(got))

			// The damaged file is no longer the last one: more writes, one
			// more kill, then a clean stop must flush it all away.
			writeSeq(t, p, "torn", m, &nextPoint, &nextVal, 5, 100, "b")
			p.kill()
			p = h.start(data, args...)
			if tc.truncated {
				if l := p.log(); strings.Contains(l, torn) || strings.Contains(l, "wal corruption") {
					t.Errorf("second restart found damage again, so the first one did not repair it durably:\n%s", tailLines(l, 10))
				}
			}
			got, err = p.export("torn", "m")
			if err != nil {
				t.Fatal(err)
			}
			reportProblems(t, "after a second kill", m.check(got))
			if code := p.term(); code != 0 {
				t.Fatalf("SIGTERM: exit code %d, want 0", code)
			}
			p = h.start(data, args...)
			if l := p.log(); strings.Contains(l, torn) || strings.Contains(l, "wal corruption") {
				t.Errorf("restart after a clean stop still finds wal damage:\n%s", tailLines(l, 10))
			}
			got, err = p.export("torn", "m")
			if err != nil {
				t.Fatal(err)
			}
			reportProblems(t, "after a clean restart", m.check(got))
			if code := p.term(); code != 0 {
				t.Errorf("SIGTERM: exit code %d, want 0", code)
			}
		})
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestDiskFull runs the server on a small tmpfs, fills it, and checks that
// writes fail cleanly (507, nothing written), the server stays up with every
// acknowledged row, survives a restart on the full disk and accepts writes
// again once space is freed.
func TestDiskFull(t *testing.T) {
	skipShort(t)
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, strings.TrimSpace(string(out)))
	}
	// Cleanups run last-registered first: the harness (registered below)
	// kills its servers, then this unmounts, then TempDir is removed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s; unmounting lazily", mnt, err, out)
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})
	h := newHarness(t)
	junk := filepath.Join(mnt, "junk")
	if err := os.WriteFile(junk, noMagic(rng, 5<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(mnt, "data")
	args := []string{"--flush-bytes", "256KiB", "--flush-interval", "200ms", "--wal-segment-bytes", "1MiB"}
	p := h.start(data, args...)

	m := newModel()
	var nextPoint, nextVal atomic.Int64
	var mu sync.Mutex
	var full507, walFailed, okCount atomic.Int64
	walBroken := atomic.Bool{}
	// write sends one request of random, badly compressing rows and
	// records its outcome; it returns the status.
	write := func(p *siltProc, wr *rand.Rand, label string, size int) int {
		keys := make([]pointKey, size)
		vals := make([]string, size)
		for i := range keys {
			keys[i] = newKey(nextPoint.Add(1))
			vals[i] = fieldsText(nextVal.Add(1), fmt.Sprintf("%s-%016x%016x", label, wr.Uint64(), wr.Uint64()))
		}
		sb := newSentBatch(label, keys, vals)
		code, body, hdr, err := p.write("full", lineProtocol(keys, vals))
		sb.status = code
		var eb errorBody
		switch {
		case err != nil:
			t.Errorf("%s: %v (the server must stay up on a full disk)", label, err)
			sb.outcome = unacked
		case code == http.StatusNoContent:
			sb.outcome = acked
			okCount.Add(1)
		case code == http.StatusInsufficientStorage:
			sb.outcome = rejected
			full507.Add(1)
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s: 507 with Content-Type %q, want JSON", label, ct)
			}
			if json.Unmarshal(body, &eb) != nil || eb.Code != "disk-full" ||
				!strings.Contains(eb.Error, "no space left on device") || !strings.Contains(eb.Error, "nothing from this request was written") {
				t.Errorf("%s: 507 body %s; want JSON code disk-full naming ENOSPC and saying nothing was written", label, body)
			}
		case code == http.StatusServiceUnavailable && json.Unmarshal(body, &eb) == nil && eb.Code == "wal-failed":
			sb.outcome = unacked // the rows may be in the head: not acknowledged, not promised absent
			walFailed.Add(1)
			walBroken.Store(true)
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !strings.Contains(eb.Error, "restart") {
				t.Errorf("%s: 503 wal-failed with Content-Type %q, body %s; want JSON telling the operator to restart", label, ct, body)
			}
		default:
			t.Errorf("%s: status %d %s; want 204, 507 disk-full or 503 wal-failed", label, code, body)
			sb.outcome = unacked
		}
		mu.Lock()
		m.record(sb)
		mu.Unlock()
		return code
	}

	// Two writers until each has seen a run of failures.
	var wg sync.WaitGroup
	for w := range 2 {
		wr := rand.New(rand.NewPCG(seed, uint64(10+w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			fails := 0
			for b := 0; b < 3000 && fails < 8; b++ {
				size := 200 + wr.IntN(300)
				if fails > 0 {
					size = 1 + wr.IntN(20) // small writes may still fit
				}
				if write(p, wr, fmt.Sprintf("fill-w%db%d", w, b), size) == http.StatusNoContent {
					fails = 0
				} else {
					fails++
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("filling: %d requests acknowledged, %d got 507, %d got 503 wal-failed", okCount.Load(), full507.Load(), walFailed.Load())
	if full507.Load()+walFailed.Load() == 0 {
		t.Fatalf("the disk never filled up")
	}
	if t.Failed() {
		t.FailNow()
	}
	if code, _, err := p.get("/health"); err != nil || code != http.StatusOK {
		t.Fatalf("server not healthy on a full disk: %d %v", code, err)
	}
	got, err := p.export("full", "m")
	if err != nil {
		t.Fatalf("export on a full disk: %v", err)
	}
	reportProblems(t, "export on a full disk", m.check(got))
	m.settle(got)

	// Restart on the still-full disk. The shutdown flush may fail for lack
	// of space (exit 1, data stays in the WAL); either way nothing is lost.
	code := p.term()
	t.Logf("SIGTERM on a full disk: exit code %d", code)
	p = h.start(data, args...)
	// A write that failed half-way must have been undone: replay finds a
	// clean sequence of records.
	if l := p.log(); strings.Contains(l, "wal corruption") || strings.Contains(l, "torn wal tail") {
		t.Errorf("replay after ENOSPC found a damaged WAL (a failed append was not undone):\n%s", tailLines(l, 20))
	}
	got, err = p.export("full", "m")
	if err != nil {
		t.Fatalf("export after restart on a full disk: %v", err)
	}
	reportProblems(t, "after a restart on the full disk", m.check(got))
	m.settle(got)

	// Free space: writes must succeed again, if need be after a restart
	// (a wal-failed log stays failed until then).
	if err := os.Remove(junk); err != nil {
		t.Fatal(err)
	}
	wr := rand.New(rand.NewPCG(seed, 20))
	for b := range 20 {
		code := write(p, wr, fmt.Sprintf("freed-b%d", b), 200)
		if code == http.StatusServiceUnavailable && walBroken.Load() {
			t.Logf("wal-failed after freeing space: restarting")
			p.term()
			p = h.start(data, args...)
			walBroken.Store(false)
			code = write(p, wr, fmt.Sprintf("freed-b%d-retry", b), 200)
		}
		if code != http.StatusNoContent {
			t.Fatalf("write after freeing space: status %d, want 204", code)
		}
	}
	got, err = p.export("full", "m")
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after freeing space", m.check(got))
	m.settle(got)
	// With space again the shutdown flush must succeed.
	if code := p.term(); code != 0 {
		t.Errorf("SIGTERM after freeing space: exit code %d, want 0", code)
	}
	p = h.start(data, args...)
	got, err = p.export("full", "m")
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after the final restart", m.check(got))
	if code := p.term(); code != 0 {
		t.Errorf("final SIGTERM: exit code %d, want 0", code)
	}
}

// TestExportDamagedSegment damages a segment file (as bit rot or a broken
// disk would) and checks that an export which cannot read it says so:
// either an error status or a response cut short, never a complete-looking
// 200 that silently lacks the rows. Export is how these tests, and
// operators, check what survived a crash.
func TestExportDamagedSegment(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	args := []string{"--flush-interval", "1h"}
	m := newModel()
	var nextPoint, nextVal atomic.Int64
	p := h.start(data, args...)
	writeSeq(t, p, "dmg", m, &nextPoint, &nextVal, 5, 200, "a")
	if code := p.term(); code != 0 { // flushes everything to segments
		t.Fatalf("SIGTERM: exit code %d", code)
	}
	man, err := manifest.LoadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Segments) == 0 {
		t.Fatal("no segments after a clean stop")
	}
	seg := filepath.Join(data, filepath.FromSlash(man.Segments[0].Path))
	if err := os.Truncate(seg, man.Segments[0].Bytes/2); err != nil {
		t.Fatal(err)
	}

	p = h.start(data, args...)
	code, body, _, err := p.do(http.MethodGet, "/api/v1/export?db=dmg&table=m", nil)
	if err == nil && code == http.StatusOK {
		got, perr := parseExport("m", body)
		t.Errorf("export with an unreadable segment answered 200 with a complete-looking body "+
			"(%d of %d points, parse error %v); want an error status, or the response cut short so the client sees it failed",
			len(got), len(m.points), perr)
	} else {
		t.Logf("export with an unreadable segment: status %d, err %v", code, err)
	}
	if !strings.Contains(p.log(), "export") {
		t.Errorf("server did not log the failed export")
	}
	if code, _, err := p.get("/health"); err != nil || code != http.StatusOK {
		t.Errorf("server unhealthy after a failed export: %d %v", code, err)
	}
	if code := p.term(); code != 0 {
		t.Errorf("SIGTERM: exit code %d", code)
	}
}
