package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testPayload returns record i's payload: a header naming i, then a mix of
// incompressible and repetitive bytes so compressed sizes vary too. Sizes
// run from 0 to about 3 KiB; every 37th record is empty.
func testPayload(i int) []byte {
	if i%37 == 36 {
		return []byte{}
	}
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	n := r.IntN(3000)
	p := fmt.Appendf(nil, "record %d;", i)
	for len(p) < n {
		if r.IntN(2) == 0 {
			p = append(p, bytes.Repeat([]byte{byte('a' + r.IntN(26))}, 1+r.IntN(40))...)
		} else {
			for k := r.IntN(40); k >= 0; k-- {
				p = append(p, byte(r.Uint32()))
			}
		}
	}
	return p
}

// randBytes returns n incompressible bytes, the same for the same seed.
func randBytes(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

type rec struct {
	seq     uint64
	payload []byte
}

// replayAll replays dir and returns copies of all records.
func replayAll(t testing.TB, dir string) ([]rec, ReplayStats) {
	t.Helper()
	var out []rec
	st, err := Replay(dir, func(seq uint64, p []byte) error {
		out = append(out, rec{seq, bytes.Clone(p)})
		return nil
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if st.Records != len(out) {
		t.Fatalf("ReplayStats.Records = %d, callback saw %d", st.Records, len(out))
	}
	return out, st
}

// checkRecords asserts that got holds exactly the payloads want, in order.
func checkRecords(t testing.TB, got []rec, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].payload, want[i]) {
			t.Fatalf("record %d: payload differs (got %d bytes, want %d)", i, len(got[i].payload), len(want[i]))
		}
	}
}

func mustOpen(t testing.TB, dir string, opts Options) *WAL {
	t.Helper()
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

func mustAppend(t testing.TB, w *WAL, p []byte) Pos {
	t.Helper()
	pos, err := w.Append(p)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return pos
}

func mustSync(t testing.TB, w *WAL, pos Pos) {
	t.Helper()
	if err := w.Sync(pos); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func mustClose(t testing.TB, w *WAL) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func walFiles(t testing.TB, dir string) []uint64 {
	t.Helper()
	seqs, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// countingMetrics counts fsyncs; if gate is set, the first observation
// blocks until gate is closed (or a minute passes, so a broken test fails
// instead of hanging).
type countingMetrics struct {
	fsyncs  atomic.Int64
	gate    chan struct{}
	entered chan struct{} // closed when the first observation starts waiting
	once    sync.Once
	timeout atomic.Bool
}

func newGatedMetrics() *countingMetrics {
	return &countingMetrics{gate: make(chan struct{}), entered: make(chan struct{})}
}

func (m *countingMetrics) ObserveFsync(time.Duration) {
	if m.fsyncs.Add(1) != 1 || m.gate == nil {
		return
	}
	m.once.Do(func() { close(m.entered) })
	select {
	case <-m.gate:
	case <-time.After(time.Minute):
		m.timeout.Store(true)
	}
}

// TestRoundTripRotations appends records of varied sizes across many small
// files, with explicit rotations and a reopen in between, and checks that
// replay returns every record in order, each with the number of the file
// it must be in.
func TestRoundTripRotations(t *testing.T) {
	dir := t.TempDir()
	const segment = 8 << 10
	w := mustOpen(t, dir, Options{SegmentBytes: segment})

	var want [][]byte
	var wantSeq []uint64
	// Simulate rotation from the on-disk record sizes, which are the
	// differences of consecutive positions.
	seq, size := uint64(1), int64(0)
	var last Pos
	var rotations []uint64
	appendOne := func(p []byte) {
		pos := mustAppend(t, w, p)
		n := int64(pos - last)
		if n < headerSize {
			t.Fatalf("position advanced by %d bytes, less than a header", n)
		}
		last = pos
		if size > 0 && size+n > segment {
			seq++
			size = 0
		}
		size += n
		want = append(want, p)
		wantSeq = append(wantSeq, seq)
	}
	for i := range 600 {
		appendOne(testPayload(i))
		if i%10 == 9 {
			mustSync(t, w, last)
		}
		if i%150 == 149 {
			s, err := w.Rotate()
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			if s != seq+1 {
				t.Fatalf("Rotate returned %d, want %d", s, seq+1)
			}
			rotations = append(rotations, s)
			seq, size = s, 0
		}
	}
	// A record larger than a whole segment gets a file of its own.
	big := randBytes(1, 3*segment)
	appendOne(big)
	appendOne(testPayload(1000))
	mustSync(t, w, last)
	mustClose(t, w)

	for i := 1; i < len(rotations); i++ {
		if rotations[i] <= rotations[i-1] {
			t.Fatalf("Rotate seqs not increasing: %v", rotations)
		}
	}
	if files := walFiles(t, dir); uint64(len(files)) != seq || files[len(files)-1] != seq {
		t.Fatalf("files %v, want 1..%d", files, seq)
	}
	if seq < 20 {
		t.Fatalf("only %d files; the test should exercise many rotations", seq)
	}

	check := func() {
		t.Helper()
		got, st := replayAll(t, dir)
		checkRecords(t, got, want)
		for i := range got {
			if got[i].seq != wantSeq[i] {
				t.Fatalf("record %d replayed from file %d, want %d", i, got[i].seq, wantSeq[i])
			}
		}
		if st.TornTail != 0 || len(st.Corrupted) != 0 {
			t.Fatalf("clean log replayed with TornTail=%d Corrupted=%v", st.TornTail, st.Corrupted)
		}
	}
	check()

	// Reopen: appends go to a new file after the existing ones.
	w = mustOpen(t, dir, Options{SegmentBytes: segment})
	seq++
	size, last = 0, 0
	for i := 2000; i < 2100; i++ {
		appendOne(testPayload(i))
	}
	mustSync(t, w, last)
	mustClose(t, w)
	check()
}

// TestGroupCommit has 64 goroutines each Append+Sync 200 records and checks
// that all of them replay, in per-goroutine order, and that fsyncs were
// shared. Sharing is made deterministic: the first fsync is held until
// every goroutine has appended its first record, so the fsync round after
// it covers all 64 first records and at least 62 Sync calls need no fsync
// of their own. Every Sync call leads at most one fsync, so
// fsyncs <= records - 62 always holds.
func TestGroupCommit(t *testing.T) {
	const goroutines, perG = 64, 200
	dir := t.TempDir()
	m := newGatedMetrics()
	w := mustOpen(t, dir, Options{Metrics: m}) // 64 MiB segments: no rotation
	var firstAppended atomic.Int64
	var syncCalls atomic.Int64
	allFirst := make(chan struct{})
	go func() {
		<-m.entered
		<-allFirst
		close(m.gate)
	}()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for j := range perG {
				pos, err := w.Append(fmt.Appendf(nil, "g=%d j=%d %s", g, j, bytes.Repeat([]byte{'x'}, (g*j)%97)))
				if err != nil {
					errs <- err
					return
				}
				if j == 0 && firstAppended.Add(1) == goroutines {
					close(allFirst)
				}
				syncCalls.Add(1)
				if err := w.Sync(pos); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if m.timeout.Load() {
		t.Fatal("gated fsync timed out waiting for the first appends")
	}
	fsyncs := m.fsyncs.Load()
	mustClose(t, w)

	const records = goroutines * perG
	t.Logf("%d records, %d Sync calls, %d fsyncs", records, syncCalls.Load(), fsyncs)
	if fsyncs < 1 || fsyncs > syncCalls.Load() {
		t.Fatalf("fsyncs = %d, want between 1 and the %d Sync calls", fsyncs, syncCalls.Load())
	}
	if fsyncs > records-(goroutines-2) {
		t.Fatalf("fsyncs = %d, want <= %d: group commit did not share fsyncs", fsyncs, records-(goroutines-2))
	}

	got, st := replayAll(t, dir)
	if len(got) != records || st.TornTail != 0 || len(st.Corrupted) != 0 {
		t.Fatalf("replayed %d records (want %d), TornTail=%d, Corrupted=%v", len(got), records, st.TornTail, st.Corrupted)
	}
	next := make([]int, goroutines)
	for _, r := range got {
		var g, j int
		if _, err := fmt.Sscanf(string(r.payload), "g=%d j=%d", &g, &j); err != nil {
			t.Fatalf("bad payload %q: %v", r.payload, err)
		}
		if j != next[g] {
			t.Fatalf("goroutine %d: replayed record %d, want %d", g, j, next[g])
		}
		next[g]++
	}
}

// appendWhileRotating runs goroutines writers, each calling appendOne
// perG times (g, j: which writer, which append), while another goroutine
// calls rotate over and over; a call that returns false stops its
// goroutine (it reported why). It then closes w and returns what replay
// reads of dir, having checked that it holds every record, whole.
func appendWhileRotating(t *testing.T, w *WAL, dir string, goroutines, perG int, rotate func() bool, appendOne func(g, j int) bool) []rec {
	t.Helper()
	stop := make(chan struct{})
	var rotWG sync.WaitGroup
	rotWG.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if !rotate() {
				return
			}
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for j := range perG {
				if !appendOne(g, j) {
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rotWG.Wait()
	mustClose(t, w)
	got, st := replayAll(t, dir)
	if len(got) != goroutines*perG || len(st.Corrupted) != 0 || st.TornTail != 0 {
		t.Fatalf("replayed %d records, want %d; stats %+v", len(got), goroutines*perG, st)
	}
	return got
}

// TestConcurrentAppendSyncRotate mixes appends, syncs, rotations by size and
// explicit Rotate calls, and a concurrent RemoveBefore of nothing, under the
// race detector.
func TestConcurrentAppendSyncRotate(t *testing.T) {
	const goroutines, perG = 16, 150
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{SegmentBytes: 16 << 10})
	var rotSeqs []uint64
	got := appendWhileRotating(t, w, dir, goroutines, perG, func() bool {
		s, err := w.Rotate()
		if err != nil {
			t.Errorf("Rotate: %v", err)
			return false
		}
		rotSeqs = append(rotSeqs, s)
		if err := w.RemoveBefore(1); err != nil {
			t.Errorf("RemoveBefore: %v", err)
		}
		_ = w.Size()
		time.Sleep(time.Millisecond)
		return true
	}, func(g, j int) bool {
		p := append(fmt.Appendf(nil, "g=%d j=%d ", g, j), testPayload(g*1000+j)...)
		pos, err := w.Append(p)
		if err != nil {
			t.Errorf("Append: %v", err)
			return false
		}
		if j%3 == 0 {
			if err := w.Sync(pos); err != nil {
				t.Errorf("Sync: %v", err)
				return false
			}
		}
		return true
	})
	for i := 1; i < len(rotSeqs); i++ {
		if rotSeqs[i] <= rotSeqs[i-1] {
			t.Fatalf("Rotate seqs not increasing: %v", rotSeqs)
		}
	}
	next := make([]int, goroutines)
	prevSeq := uint64(0)
	for _, r := range got {
		var g, j int
		if _, err := fmt.Sscanf(string(r.payload), "g=%d j=%d ", &g, &j); err != nil {
			t.Fatalf("bad payload: %v", err)
		}
		if j != next[g] || !bytes.Equal(r.payload, append(fmt.Appendf(nil, "g=%d j=%d ", g, j), testPayload(g*1000+j)...)) {
			t.Fatalf("goroutine %d: record %d out of order or damaged (want %d)", g, j, next[g])
		}
		next[g]++
		if r.seq < prevSeq {
			t.Fatalf("file seqs go backwards: %d after %d", r.seq, prevSeq)
		}
		prevSeq = r.seq
	}
}

// TestAppendWaitingForRotation is a regression test: an Append that must
// rotate waits for an in-flight fsync, releasing the lock. The record it
// is about to write must not be shared scratch space another Append can
// overwrite meanwhile.
func TestAppendWaitingForRotation(t *testing.T) {
	dir := t.TempDir()
	m := newGatedMetrics()
	w := mustOpen(t, dir, Options{SegmentBytes: 1 << 10, Metrics: m})
	first := bytes.Repeat([]byte{'0'}, 600)
	pos := mustAppend(t, w, first)
	syncDone := make(chan error, 1)
	go func() { syncDone <- w.Sync(pos) }() // held in the gated fsync
	<-m.entered

	// Two incompressible records, each too big to join the first in a
	// 1 KiB file: both must rotate, so both wait for the held fsync.
	a, b := randBytes(7, 1100), randBytes(8, 1100)
	var wg sync.WaitGroup
	for _, p := range [][]byte{a, b} {
		wg.Go(func() {
			if _, err := w.Append(p); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let both reach the wait; passes either way
	close(m.gate)
	wg.Wait()
	if err := <-syncDone; err != nil {
		t.Fatal(err)
	}
	mustClose(t, w)
	got, st := replayAll(t, dir)
	if len(got) != 3 || len(st.Corrupted) != 0 {
		t.Fatalf("replayed %d records, Corrupted=%v; want 3 clean", len(got), st.Corrupted)
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.payload)] = true
	}
	if !seen[string(first)] || !seen[string(a)] || !seen[string(b)] {
		t.Fatalf("a record was lost or duplicated: first=%v a=%v b=%v", seen[string(first)], seen[string(a)], seen[string(b)])
	}
}

func TestRotateAndRemoveBefore(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{})
	var seqs []uint64
	byFile := map[uint64][][]byte{1: nil}
	cur := uint64(1)
	for i := range 5 {
		for j := range 3 {
			p := testPayload(i*10 + j)
			mustAppend(t, w, p)
			byFile[cur] = append(byFile[cur], p)
		}
		s, err := w.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		if s != cur+1 {
			t.Fatalf("Rotate returned %d after %d", s, cur)
		}
		seqs = append(seqs, s)
		cur = s
	}
	p := testPayload(99)
	pos := mustAppend(t, w, p)
	byFile[cur] = append(byFile[cur], p)
	mustSync(t, w, pos)
	if got := walFiles(t, dir); len(got) != 6 {
		t.Fatalf("files %v, want 6", got)
	}
	var total int64
	for _, s := range walFiles(t, dir) {
		st, err := os.Stat(fileName(dir, s))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if sz := w.Size(); sz != total || sz == 0 {
		t.Fatalf("Size() = %d, files hold %d", sz, total)
	}

	// Remove files below the third rotation's file.
	cut := seqs[2]
	if err := w.RemoveBefore(cut); err != nil {
		t.Fatal(err)
	}
	files := walFiles(t, dir)
	if files[0] != cut || len(files) != int(cur-cut+1) {
		t.Fatalf("after RemoveBefore(%d): files %v", cut, files)
	}
	// Removing again, or below what is already gone, is harmless.
	if err := w.RemoveBefore(cut); err != nil {
		t.Fatal(err)
	}
	// A seq beyond the current file must not remove the current file.
	if err := w.RemoveBefore(cur + 100); err != nil {
		t.Fatal(err)
	}
	if files := walFiles(t, dir); len(files) != 1 || files[0] != cur {
		t.Fatalf("after RemoveBefore(past the end): files %v, want only the current %d", files, cur)
	}
	p2 := testPayload(100)
	mustSync(t, w, mustAppend(t, w, p2))
	mustClose(t, w)
	got, _ := replayAll(t, dir)
	checkRecords(t, got, [][]byte{p, p2})
	if got[0].seq != cur || got[1].seq != cur {
		t.Fatalf("records replayed from files %d,%d, want %d", got[0].seq, got[1].seq, cur)
	}
}

// TestFsyncFailureSticky forces fsync to fail by closing the file under the
// WAL, then checks every later write fails with ErrBroken.
func TestFsyncFailureSticky(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{})
	p0 := mustAppend(t, w, []byte("durable"))
	mustSync(t, w, p0)
	p1 := mustAppend(t, w, []byte("doomed"))
	w.f.Close() // the next fsync fails

	if err := w.Sync(p1); !errors.Is(err, ErrBroken) {
		t.Fatalf("Sync after fsync failure: %v, want ErrBroken", err)
	}
	if _, err := w.Append([]byte("more")); !errors.Is(err, ErrBroken) {
		t.Fatalf("Append after fsync failure: %v, want ErrBroken", err)
	}
	if err := w.Sync(p1); !errors.Is(err, ErrBroken) {
		t.Fatalf("second Sync: %v, want ErrBroken", err)
	}
	if _, err := w.Rotate(); !errors.Is(err, ErrBroken) {
		t.Fatalf("Rotate: %v, want ErrBroken", err)
	}
	// What was durable before stays acknowledged.
	if err := w.Sync(p0); err != nil {
		t.Fatalf("Sync of a position synced before the failure: %v", err)
	}
	_ = w.Close() // the file is already closed; only make sure it returns
	if _, err := w.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
}

// TestRotationFsyncFailureSticky: the fsync made by a rotation fails.
func TestRotationFsyncFailureSticky(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{SegmentBytes: 100})
	mustAppend(t, w, randBytes(9, 200)) // alone over the 100-byte segment size
	w.f.Close()
	if _, err := w.Append([]byte("needs a rotation")); !errors.Is(err, ErrBroken) {
		t.Fatalf("Append: %v, want ErrBroken", err)
	}
	if _, err := w.Append([]byte("x")); !errors.Is(err, ErrBroken) {
		t.Fatalf("Append: %v, want ErrBroken", err)
	}
	if got := walFiles(t, dir); len(got) != 1 {
		t.Fatalf("files %v: a failed rotation must not start a new file", got)
	}
	_ = w.Close()
}

func TestCloseSemantics(t *testing.T) {
	dir := t.TempDir()
	m := newGatedMetrics()
	w := mustOpen(t, dir, Options{Metrics: m})
	p0 := mustAppend(t, w, []byte("a"))
	first := make(chan error, 1)
	go func() { first <- w.Sync(p0) }() // held in the gated fsync
	<-m.entered
	p1 := mustAppend(t, w, []byte("b"))
	// A Sync waiting behind the held fsync, and several Closes waiting
	// for it too: all must succeed, and the Sync must be satisfied by the
	// fsync Close does.
	second := make(chan error, 1)
	go func() { second <- w.Sync(p1) }()
	var wg sync.WaitGroup
	closeErrs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { closeErrs <- w.Close() })
	}
	time.Sleep(50 * time.Millisecond) // let them queue; the test passes either way
	close(m.gate)
	wg.Wait()
	close(closeErrs)
	for err := range closeErrs {
		if err != nil {
			t.Fatalf("concurrent Close: %v", err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("Sync of a record Close made durable: %v", err)
	}
	if err := w.Sync(p1); err != nil {
		t.Fatalf("Sync after Close of a durable position: %v", err)
	}
	if _, err := w.Append([]byte("c")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := w.Rotate(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Rotate after Close: %v", err)
	}
	got, _ := replayAll(t, dir)
	checkRecords(t, got, [][]byte{[]byte("a"), []byte("b")})
}

// TestSyncForeignPos: a position this log never handed out (say, kept from
// before a restart) must not make Sync spin forever.
func TestSyncForeignPos(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	done := make(chan error, 1)
	go func() { done <- w.Sync(Pos(1 << 40)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sync of a position past the end did not return")
	}
	pos := mustAppend(t, w, []byte("x"))
	mustSync(t, w, pos)
	if err := w.Sync(0); err != nil {
		t.Fatal(err)
	}
	mustClose(t, w)
}

func TestNoSync(t *testing.T) {
	dir := t.TempDir()
	m := &countingMetrics{}
	w := mustOpen(t, dir, Options{NoSync: true, SegmentBytes: 512, Metrics: m})
	var want [][]byte
	for i := range 50 {
		p := testPayload(i)
		mustSync(t, w, mustAppend(t, w, p))
		want = append(want, p)
	}
	mustClose(t, w)
	if n := m.fsyncs.Load(); n != 0 {
		t.Fatalf("NoSync log reported %d fsyncs", n)
	}
	got, _ := replayAll(t, dir)
	checkRecords(t, got, want)
}

// mountTmpfs mounts a tmpfs of the given size on a fresh directory, or
// skips the test if that is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a %s tmpfs to provoke ENOSPC (needs root / CAP_SYS_ADMIN): %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Fall back on the tool, which handles busy mounts the same
			// way but reports more.
			out, uerr := exec.Command("umount", dir).CombinedOutput()
			if uerr != nil {
				t.Errorf("unmount %s: %v; umount: %v %s", dir, err, uerr, out)
			}
		}
	})
	return dir
}

// TestFailedWriteENOSPC fills a 1 MiB tmpfs so that an Append hits a real
// ENOSPC midway through its record, and checks that the partial record is
// undone, that the log stays usable, and that it works again once space is
// freed.
func TestFailedWriteENOSPC(t *testing.T) {
	mnt := mountTmpfs(t, "1m")
	dir := filepath.Join(mnt, "wal")
	w := mustOpen(t, dir, Options{})
	var want [][]byte
	var pos Pos
	for i := range 5 {
		p := randBytes(uint64(100+i), 10_000+100*i) // incompressible
		pos = mustAppend(t, w, p)
		want = append(want, p)
	}
	mustSync(t, w, pos)
	walName := fileName(dir, 1)
	before, err := os.ReadFile(walName)
	if err != nil {
		t.Fatal(err)
	}

	// Fill the file system.
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling tmpfs: %v", err)
			}
			break
		}
	}
	filler.Close()

	// The WAL file's last page has some slack, so this write gets partway
	// before ENOSPC and the undo has a partial record to remove.
	if len(before)%os.Getpagesize() == 0 {
		t.Fatalf("fixture: WAL file of %d bytes fills its last page, the write would not be partial", len(before))
	}
	big := randBytes(200, 64<<10)
	if _, err := w.Append(big); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full file system: %v, want ENOSPC", err)
	} else if errors.Is(err, ErrBroken) {
		t.Fatalf("a failed write that was undone must not break the log: %v", err)
	}
	after, err := os.ReadFile(walName)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, before) {
		t.Fatalf("file holds %d bytes after the failed append, want the %d it had before", len(after), len(before))
	}
	if err := w.Sync(pos); err != nil {
		t.Fatalf("Sync after a failed write: %v", err)
	}
	// Still full: fails again, still cleanly.
	if _, err := w.Append(big); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second Append on a full file system: %v, want ENOSPC", err)
	}

	// Free space; appends work again.
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, w, big)
	want = append(want, big)
	small := []byte("after the storm")
	pos = mustAppend(t, w, small)
	want = append(want, small)
	mustSync(t, w, pos)
	mustClose(t, w)

	got, st := replayAll(t, dir)
	checkRecords(t, got, want)
	if st.TornTail != 0 || len(st.Corrupted) != 0 {
		t.Fatalf("replay after ENOSPC: TornTail=%d Corrupted=%v", st.TornTail, st.Corrupted)
	}
}

// tsbsBatch builds about 64 KiB of line protocol shaped like a batch of 200
// TSBS cpu-only rows.
func tsbsBatch() []byte {
	r := rand.New(rand.NewPCG(42, 42))
	var b []byte
	ts := int64(1451606400000000000)
	for i := range 200 {
		b = fmt.Appendf(b, "cpu,hostname=host_%d,region=eu-west-1,datacenter=eu-west-1c,rack=%d,os=Ubuntu16.04LTS,arch=x64,team=NYC,service=%d,service_version=1,service_environment=production ",
			i, r.IntN(100), r.IntN(20))
		b = fmt.Appendf(b, "usage_user=%di,usage_system=%di,usage_idle=%di,usage_nice=%di,usage_iowait=%di,usage_irq=%di,usage_softirq=%di,usage_steal=%di,usage_guest=%di,usage_guest_nice=%di %d\n",
			r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100), ts+int64(i)*10_000_000_000)
	}
	return b
}

// BenchmarkAppendSync measures acknowledged ingest: every goroutine appends
// a ~64 KiB batch and waits for it to be durable. MB/s counts uncompressed
// payload bytes. Writers block on fsync, not CPU, so it runs 8 goroutines
// per GOMAXPROCS, like many ingest connections would.
func BenchmarkAppendSync(b *testing.B) {
	payload := tsbsBatch()
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetParallelism(8)
			m := &countingMetrics{}
			w, err := Open(b.TempDir(), Options{NoSync: mode.noSync, Metrics: m})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					pos, err := w.Append(payload)
					if err != nil {
						b.Error(err)
						return
					}
					if err := w.Sync(pos); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(m.fsyncs.Load())/float64(b.N), "fsyncs/op")
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestRotationCreateFailure: if the next file cannot be created, the
// current one was fsynced and stays in use; the log is not broken.
func TestRotationCreateFailure(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{SegmentBytes: 1 << 10})
	first := randBytes(11, 800)
	mustAppend(t, w, first)
	// Squat on the next file name so O_EXCL creation fails.
	blocker := fileName(dir, 2)
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Rotate(); err == nil || errors.Is(err, ErrBroken) || !errors.Is(err, os.ErrExist) {
		t.Fatalf("Rotate with the next file taken: %v, want a non-sticky EEXIST error", err)
	}
	if _, err := w.Append(randBytes(12, 800)); err == nil || errors.Is(err, ErrBroken) {
		t.Fatalf("Append needing a rotation: %v, want a non-sticky error", err)
	}
	small := []byte("fits in the current file")
	mustSync(t, w, mustAppend(t, w, small))
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	second := randBytes(13, 800)
	mustSync(t, w, mustAppend(t, w, second))
	s, err := w.Rotate()
	if err != nil || s != 3 {
		t.Fatalf("Rotate after freeing the name: %d, %v; want 3", s, err)
	}
	mustClose(t, w)
	got, st := replayAll(t, dir)
	checkRecords(t, got, [][]byte{first, small, second})
	if got[0].seq != 1 || got[1].seq != 1 || got[2].seq != 2 || len(st.Corrupted) != 0 {
		t.Fatalf("files %d,%d,%d, Corrupted=%v", got[0].seq, got[1].seq, got[2].seq, st.Corrupted)
	}
}

// TestLargeRecords round-trips records bigger than the pooled buffer limit
// and than a segment.
func TestLargeRecords(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{SegmentBytes: 1 << 20})
	want := [][]byte{
		randBytes(21, maxPooledBuf+1000),
		bytes.Repeat([]byte("compressible "), 1<<20),
		[]byte("small"),
		randBytes(22, 3<<20),
	}
	var pos Pos
	for _, p := range want {
		pos = mustAppend(t, w, p)
	}
	mustSync(t, w, pos)
	mustClose(t, w)
	got, st := replayAll(t, dir)
	checkRecords(t, got, want)
	if len(st.Corrupted) != 0 || st.TornTail != 0 {
		t.Fatalf("stats %+v", st)
	}
}
