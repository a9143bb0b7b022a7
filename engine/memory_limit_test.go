package engine

import (
	"flag"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
)

// TestFollowMemoryLimit: the derived soft memory limit is one and a half
// times the heads' counted bytes (at most --max-head-bytes) plus running
// queries' reservations plus the room of the other bounded parts — read back from the runtime
// (debug.SetMemoryLimit(-1)), not from the engine — rising as writes fill
// the heads and while a query runs, the heads counted at most at
// --max-head-bytes (DefaultMemoryLimit then), falling back after a flush,
// and left alone after stop.
func TestFollowMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	cfg := noCompactConfig(t.TempDir())
	cfg.NoSync = true
	cfg.MaxHeadBytes, cfg.FlushBytes = 24<<20, 1<<30
	e := open(t, cfg)
	defer func() { _ = e.Close() }()
	room := int64(128<<20 + 64<<20) // the query cache's default and the reserve; compaction is off here
	if got := e.cfg.MemoryLimitRoom(); got != room {
		t.Fatalf("room %d, want %d", got, room)
	}
	var queries atomic.Int64 // what running queries reserved, as the server's budget says
	stop := e.FollowMemoryLimit(time.Millisecond, queries.Load)
	if got := debug.SetMemoryLimit(-1); got != room {
		t.Fatalf("limit %d with empty heads, want the room alone %d", got, room)
	}
	// until polls the runtime's limit until it is within slack of want;
	// the deadline only guards against a hang. The follower leaves
	// changes below followStep alone.
	until := func(what string, want func() int64, slack int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := debug.SetMemoryLimit(-1)
			if got >= want()-slack && got <= want()+slack {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: limit %d, want %d ± %d (head bytes %d)", what, got, want(), slack, e.HeadBytes())
			}
			time.Sleep(time.Millisecond)
		}
	}
	var pts []point
	for i := range 300_000 {
		pts = append(pts, point{"m", "h" + string(rune('a'+i%26)), int64(i) * 1e9, float64(i)})
	}
	write(t, e, "db", pts...)
	heads := e.HeadBytes()
	if heads < followStep || heads >= cfg.MaxHeadBytes {
		t.Fatalf("head bytes %d: the test wants them between %d and %d", heads, followStep, cfg.MaxHeadBytes)
	}
	// Half again the heads: slack for the collector that grows with them.
	if heads+heads/2 >= cfg.MaxHeadBytes {
		t.Fatalf("head bytes %d: the test wants one and a half times them below %d", heads, cfg.MaxHeadBytes)
	}
	until("heads below their bound", func() int64 { return heads + heads/2 + room }, followStep)
	// A running query's reservation widens it while it lasts.
	queries.Store(100 << 20)
	until("a query running", func() int64 { return heads + heads/2 + 100<<20 + room }, followStep)
	queries.Store(0)
	until("the query done", func() int64 { return heads + heads/2 + room }, followStep)
	// Past the bound (writes get 429 there) the limit is DefaultMemoryLimit's.
	for {
		var b []point
		for i := range 20_000 {
			b = append(b, point{"m", "x" + string(rune('a'+i%26)), int64(200_000+i) * 1e9, 1})
		}
		if _, err := writeErr(e, "db", b...); err == sink.ErrBackpressure {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	until("heads at their bound", func() int64 { return cfg.MaxHeadBytes + room }, 0)
	flush(t, e)
	until("after a flush", func() int64 { return room }, 0)
	stop() // returns once the follower has stopped: nothing sets the limit after it
	write(t, e, "db", pts...)
	if got := debug.SetMemoryLimit(-1); got != room {
		t.Fatalf("limit %d after stop and a write, want it left at %d", got, room)
	}
}

// writeErr is write returning the engine's error.
func writeErr(e *Engine, db string, pts ...point) (sink.WriteResult, error) {
	var b columnar.Batch
	for i, p := range pts {
		b.StartRow([]byte(p.table), i+1)
		b.AddTag([]byte("host"), []byte(p.host))
		b.AddFloat([]byte("v"), p.v)
		b.EndRow(p.t)
	}
	return e.Write(db, &b)
}

// TestMemoryLimitBoundsByDefault: a server started without --memory-limit
// (or GOMEMLIMIT) runs under the sum of its memory bounds, as docs/memory.md
// derives it — 1 GiB of heads + half of the 256 MiB merge budget + the
// 128 MiB query cache + 64 MiB — read back from the runtime, and that limit
// follows the queries' reservations but not the heads: they keep their
// whole bound, so that a server with few rows in its heads is not held
// below it. Without it the collector's pacing let the heap grow by what
// queries hold a second time (a dashboard's panels took 1 GiB heads to
// 9.2 GB of RSS).
func TestMemoryLimitBoundsByDefault(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	t.Setenv("GOMEMLIMIT", "") // unset for ApplyMemoryLimit: the environment's would win
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.MemoryLimit != MemoryLimitBounds || fs.Lookup("memory-limit").DefValue != "bounds" {
		t.Fatalf("--memory-limit defaults to %d (%q), want bounds", c.MemoryLimit, fs.Lookup("memory-limit").DefValue)
	}
	const want = 1<<30 + (256<<20)/2 + 128<<20 + 64<<20
	limit, source, err := ApplyMemoryLimit(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); limit != want || got != want {
		t.Fatalf("default limit %d, runtime's %d, want %d", limit, got, want)
	}
	if !MemoryLimitFollows(source) {
		t.Fatalf("source %q: the server would not follow the queries' reservations", source)
	}
	for _, s := range []string{"0", "off", "1536MiB"} { // these stay as set
		var c Config
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := fs.Parse([]string{"--memory-limit", s}); err != nil {
			t.Fatal(err)
		}
		if _, source, err := ApplyMemoryLimit(c, slog.New(slog.DiscardHandler)); err != nil || MemoryLimitFollows(source) {
			t.Errorf("--memory-limit %s: source %q (err %v) is followed", s, source, err)
		}
	}

	cfg := noCompactConfig(t.TempDir())
	cfg.NoSync = true
	cfg.MaxHeadBytes, cfg.FlushBytes = 24<<20, 1<<30
	cfg.MemoryLimit = MemoryLimitBounds
	e := open(t, cfg)
	defer func() { _ = e.Close() }()
	full := cfg.MaxHeadBytes + 128<<20 + 64<<20 // the heads' bound, the query cache and the reserve; compaction is off
	var queries atomic.Int64
	stop := e.FollowMemoryLimit(time.Millisecond, queries.Load)
	defer stop()
	if got := debug.SetMemoryLimit(-1); got != full {
		t.Fatalf("limit %d with empty heads, want %d: the heads count at their bound", got, full)
	}
	var pts []point
	for i := range 300_000 {
		pts = append(pts, point{"m", "h" + string(rune('a'+i%26)), int64(i) * 1e9, float64(i)})
	}
	write(t, e, "db", pts...)
	if h := e.HeadBytes(); h < followStep || h+h/2 >= cfg.MaxHeadBytes {
		t.Fatalf("head bytes %d: the test wants them between %d and two thirds of %d", h, followStep, cfg.MaxHeadBytes)
	}
	// until polls the runtime's limit; the deadline only guards a hang.
	until := func(what string, want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for got := debug.SetMemoryLimit(-1); got != want; got = debug.SetMemoryLimit(-1) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: limit %d, want %d (head bytes %d)", what, got, want, e.HeadBytes())
			}
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(20 * time.Millisecond) // ticks of the follower: the heads must not move it
	until("heads below their bound", full)
	queries.Store(300 << 20)
	until("a query reserving 300 MiB", full+300<<20)
	queries.Store(0)
	until("the query done", full)
}

// GOMEMLIMIT wins over the default --memory-limit bounds as over auto:
// the runtime keeps the limit it read from the environment at start, and
// the server does not follow the queries' reservations with it.
func TestMemoryLimitBoundsYieldsToGOMEMLIMIT(t *testing.T) {
	const env = 3 << 30 // as the runtime read GOMEMLIMIT=3GiB at start
	prev := debug.SetMemoryLimit(env)
	defer debug.SetMemoryLimit(prev)
	t.Setenv("GOMEMLIMIT", "3GiB")
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	limit, source, err := ApplyMemoryLimit(c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); limit != env || got != env || MemoryLimitFollows(source) {
		t.Fatalf("GOMEMLIMIT=3GiB, --memory-limit bounds: limit %d, runtime's %d, source %q (followed %v); want %d from GOMEMLIMIT, not followed",
			limit, got, source, MemoryLimitFollows(source), int64(env))
	}
}
