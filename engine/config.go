package engine

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/siltdb/silt/internal/flagutil"
)

// Defaults of the settings a server starts with (RegisterFlags); Defaults
// fills a library caller's zero fields with the same values.
const (
	// DefaultMaxHeadBytes: a GiB of unflushed rows absorbs minutes of a
	// heavy write load on a small server.
	DefaultMaxHeadBytes = 1 << 30
	// DefaultFlushBytes: a quarter of the heads, so a flush runs while the
	// rest keeps taking writes.
	DefaultFlushBytes = 256 << 20
	// DefaultFlushInterval bounds how long rows wait in the WAL only.
	DefaultFlushInterval = 10 * time.Minute
	// DefaultWALSegment: files large enough that rotation is rare, small
	// enough that a flush frees disk soon.
	DefaultWALSegment = 64 << 20
)

// RegisterFlags adds the storage settings of silt serve to fs, with their
// defaults, writing into c: the data directory, the heads and WAL,
// retention, rollups, the memory limit, and the compaction and tiering
// loops (CompactionConfig.RegisterFlags, TierConfig.RegisterFlags).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "silt-data", "directory for the WAL, segments and manifest")
	flagutil.BytesVar(fs, &c.MaxHeadBytes, "max-head-bytes", DefaultMaxHeadBytes, "memory bound of unflushed data; writes above it get 429 with Retry-After (e.g. 1GiB)")
	flagutil.BytesVar(fs, &c.FlushBytes, "flush-bytes", DefaultFlushBytes, "flush the head once it holds this much (e.g. 256MiB)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", DefaultFlushInterval, "flush the head to segments at least this often")
	flagutil.BytesVar(fs, &c.WALSegment, "wal-segment-bytes", DefaultWALSegment, "size of one WAL file before the next is started")
	c.NoSync = false
	fs.Var(ackFlag{&c.NoSync}, "ack", "when writes are acknowledged: 'wal' (after fsync; default, survives power loss) or 'none' (no fsync; loses recent writes on power loss)")
	c.Retention = 0
	fs.Var(retentionFlag{&c.Retention}, "retention", "default retention of databases that set none (POST /api/v1/databases): rows older than this are invisible and dropped, e.g. 30d, 2w, 720h; inf keeps everything")
	c.Rollups = RollupConfig{Widths: DefaultRollups}
	fs.Var(rollupsFlag{&c.Rollups}, "rollups", "rollup window widths kept for every segment (each divides a day), comma-separated, or off: aggregate queries over whole windows read them instead of raw rows (docs/rollups.md)")
	fs.IntVar(&c.MaxOpenSegments, "max-open-segments", DefaultMaxOpenSegments, "segment files kept open between queries, with their parsed footers and tag indexes (one file descriptor each); the least recently read beyond this are closed and reopened when read again")
	c.MemoryLimit = MemoryLimitBounds
	fs.Var(memoryLimitFlag{&c.MemoryLimit}, "memory-limit", "soft limit of the Go runtime's memory, as GOMEMLIMIT (e.g. 1536MiB): near it the collector runs more often and returns freed memory to the OS sooner, trading CPU for a lower peak RSS (RSS is about this plus 60 MiB of program text). bounds: GOMEMLIMIT from the environment, else the sum of the memory bounds, following the queries: --max-head-bytes + what running queries reserved (at most --query-max-memory-total) + half of --compaction.max-memory + --query-cache-bytes + 64 MiB (the collector's slack no longer doubles what queries hold; it binds only when the heads are full or queries hold much). auto: as bounds, with 1.5 times what the heads hold (at most --max-head-bytes) in place of --max-head-bytes (a peak RSS near the heads' bound, for more collector CPU: under the dashboard benchmark ingest fell 13%). 0: GOMEMLIMIT from the environment, else none. off: none, whatever GOMEMLIMIT says. docs/memory.md")
	c.registerQueryCacheFlag(fs)
	c.Limits.RegisterFlags(fs)
	c.Compaction.RegisterFlags(fs)
	c.Tiering.RegisterFlags(fs)
}

// RegisterFlags adds the --compaction.* settings to fs, with defaults.
func (c *CompactionConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Interval, "compaction.interval", time.Second, "how often the compactor looks for windows to merge and retention to apply")
	fs.IntVar(&c.MaxWindowSegments, "compaction.max-window-segments", 64, "hard bound on segments per table day window: above it writes get 429 compaction-behind until merges catch up")
	fs.BoolVar(&c.Disabled, "compaction.disabled", false, "do not merge segments or apply retention (segments then accumulate one per flush per window)")
	flagutil.BytesVar(fs, &c.MemoryBytes, "compaction.max-memory", 256<<20, "memory one compaction merge may use for its read and write buffers; more inputs than fit are merged in passes (e.g. 256MiB)")
}

// RegisterFlags adds the engine's side of tiering to fs, with defaults:
// when windows move and the read-only mode. The store itself is
// tiering.Config's.
func (c *TierConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.After, "tier.after", 24*time.Hour, "move a day window to the object store once it ended this long ago and compaction is done with it (needs --s3.endpoint)")
	fs.DurationVar(&c.Interval, "tier.interval", time.Minute, "how often tiering looks for windows to move (a read-only node: reloads the bucket's manifest)")
	fs.DurationVar(&c.DeleteGrace, "tier.delete-grace", DefaultDeleteGrace, "how long an object compaction, retention or a drop replaced stays in the bucket after the bucket manifest stopped naming it, so that query nodes and read-only nodes holding the previous manifest can still read it (0: deleted at the next pass)")
	fs.BoolVar(&c.ReadOnly, "s3.read-only", false, "serve the bucket's tiered segments read-only from its manifest, on a fresh --data-dir; writes get 403 read-only")
}

// ErrMemoryLimitTooLow: the memory limit leaves the collector no room
// above the heads; it would run without pause.
var ErrMemoryLimitTooLow = errors.New("memory limit is too low for the heads")

// Validate checks settings as a server is started with them (after
// RegisterFlags and parsing). A library caller's zero fields are filled by
// Defaults, which New applies before validating.
func (c *Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("data directory is empty")
	case c.MaxHeadBytes <= 0:
		return fmt.Errorf("max head bytes must be > 0, got %d", c.MaxHeadBytes)
	case c.FlushBytes <= 0:
		return fmt.Errorf("flush bytes must be > 0, got %d", c.FlushBytes)
	case c.FlushInterval <= 0:
		return fmt.Errorf("flush interval must be > 0, got %s", c.FlushInterval)
	case c.WALSegment <= 0:
		return fmt.Errorf("WAL segment bytes must be > 0, got %d", c.WALSegment)
	case c.Retention < 0:
		return fmt.Errorf("retention must not be negative, got %s", c.Retention)
	case c.MaxOpenSegments < 0:
		return fmt.Errorf("max open segments must not be negative, got %d", c.MaxOpenSegments)
	case c.MemoryLimit < 0 && c.MemoryLimit != MemoryLimitOff && c.MemoryLimit != MemoryLimitAuto && c.MemoryLimit != MemoryLimitBounds:
		return fmt.Errorf("memory limit must not be negative, got %d", c.MemoryLimit)
	case c.Compaction.Interval < 0, c.Compaction.MemoryBytes < 0, c.Compaction.MaxWindowSegments < 0:
		return fmt.Errorf("compaction interval, memory and max window segments must not be negative (%s, %d, %d)",
			c.Compaction.Interval, c.Compaction.MemoryBytes, c.Compaction.MaxWindowSegments)
	case c.Tiering.After < 0, c.Tiering.Interval < 0, c.Tiering.DeleteGrace < 0:
		return fmt.Errorf("tier after, interval and delete grace must not be negative (%s, %s, %s)", c.Tiering.After, c.Tiering.Interval, c.Tiering.DeleteGrace)
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if !c.Rollups.Disabled {
		for _, w := range c.Rollups.Widths {
			if err := checkRollupWidth(w); err != nil {
				return err
			}
		}
	}
	_, _, err := c.memoryModel()
	return err
}

// runtimeReserve is what a process holds besides heads and merges, in Go
// memory: the runtime, the metrics and parsers (about 10 MiB idle) and
// one flush's Parquet writers (zstd's 16 MiB history, page buffers).
const runtimeReserve = 64 << 20

// MemoryLimitOff as Config.MemoryLimit (--memory-limit off) runs without
// a soft memory limit, whatever GOMEMLIMIT says.
const MemoryLimitOff = -1

// MemoryLimitAuto as Config.MemoryLimit (--memory-limit auto) runs under
// GOMEMLIMIT when the environment sets one, else under the limit derived
// from the engine's bounds that follows the heads (FollowMemoryLimit). It
// is not the default: measured under the dashboard benchmark (1 GiB heads,
// one run each on a quiet machine) it brought the peak RSS from 1.45 to
// 0.97 times the heads' bound, but the collector's extra work cut the
// ingest rate with panels refreshing from 96% to 83% of ingest alone.
const MemoryLimitAuto = -2

// MemoryLimitBounds as Config.MemoryLimit (--memory-limit bounds, the
// flag's default) runs under GOMEMLIMIT when the environment sets one,
// else under the sum of the engine's and the queries' bounds: the heads'
// bound, what running queries reserved of --query-max-memory-total, and
// MemoryLimitRoom (FollowMemoryLimit keeps it there as the reservations
// move). Without a limit the collector's pacing (PaceCollector) lets the
// heap grow by the live bytes that are not the heads' — what queries
// hold, counted a second time as their garbage — so ten dashboard panels
// reserving near the 4 GiB total took a server with 1 GiB heads to 9.2 GB
// of RSS. Under this limit the heap stays within what the bounds account
// for while the live set does; unlike MemoryLimitAuto it leaves the heads
// their whole bound as slack, so it binds only when the heads are near
// full or queries hold much (docs/memory.md).
const MemoryLimitBounds = -3

// DefaultMemoryLimit is the soft memory limit a server runs under when
// neither --memory-limit nor GOMEMLIMIT sets one: what the engine's own
// bounds let live at once — the heads (--max-head-bytes), a merge's live
// half (compaction's model), the query cache and the runtime reserve.
// Without a limit the collector lets the heap reach twice its live set
// (GOGC=100), and the heads are most of that live set: the dashboard
// benchmark with 1 GiB heads peaked at 1.5 GiB of RSS, its collector's goal
// twice the heads and a flush in progress, although the heads never passed
// half their bound. With this limit the heap stays under it as long as the
// live set does, and the collector runs no more often than GOGC=100 makes
// it while the live set is below half of it; only heads near their bound
// make it run more, which is when its slack matters (docs/memory.md).
//
// It applies with --memory-limit auto and bounds (MemoryLimitAuto,
// MemoryLimitBounds), the limit with no query running and full heads.
func (c *Config) DefaultMemoryLimit() int64 {
	compactShare := c.Compaction.MemoryBytes
	if c.Compaction.Disabled {
		compactShare = 0
	}
	return c.MaxHeadBytes + compactShare/2 + c.queryCacheBytes() + runtimeReserve
}

// memoryModel checks MemoryLimit against what the engine's own bounds
// leave the collector. Heads, a compaction merge and a query are each
// bounded by their own setting, but not the collector's slack above their
// live sets: with GOGC=100 the heap grows to twice the live set between
// collections, which is most of the RSS above the heads (docs/memory.md).
// A soft limit caps that slack. Below the heads plus the reserve the
// collector would run without pause, so such a limit is refused; below
// DefaultMemoryLimit (the heads, a merge's live half, the query cache and
// the reserve) it is allowed, with suggested (>0) that figure. 0 (auto)
// and off have no limit of their own to check.
func (c *Config) memoryModel() (limit, suggested int64, err error) {
	if c.MemoryLimit == 0 || c.MemoryLimit == MemoryLimitOff || c.MemoryLimit == MemoryLimitAuto || c.MemoryLimit == MemoryLimitBounds {
		return c.MemoryLimit, 0, nil
	}
	if floor := c.MaxHeadBytes + runtimeReserve; c.MemoryLimit < floor {
		return 0, 0, fmt.Errorf("%w: %d is below max head bytes %d + %d MiB for the runtime and a flush (%d): the collector would run without pause; raise it or lower max head bytes",
			ErrMemoryLimitTooLow, c.MemoryLimit, c.MaxHeadBytes, runtimeReserve>>20, floor)
	}
	if want := c.DefaultMemoryLimit(); c.MemoryLimit < want {
		suggested = want
	}
	return c.MemoryLimit, suggested, nil
}

// ApplyMemoryLimit sets the Go runtime's soft memory limit from
// c.MemoryLimit, after the checks of Validate, and returns the limit in
// force (math.MaxInt64: none) and where it came from. 0 keeps the
// runtime's own (GOMEMLIMIT, else none); MemoryLimitAuto and
// MemoryLimitBounds keep GOMEMLIMIT when the environment sets it, else
// apply DefaultMemoryLimit (which FollowMemoryLimit then moves with the
// queries' reservations, and auto with the heads); MemoryLimitOff removes any
// limit. A limit below what
// merges want is applied with a warning on log. It changes the whole
// process, so a server calls it once; New does not.
func ApplyMemoryLimit(c Config, log *slog.Logger) (limit int64, source string, err error) {
	limit, suggested, err := c.memoryModel()
	if err != nil {
		return 0, "", err
	}
	switch {
	case limit == MemoryLimitOff:
		debug.SetMemoryLimit(math.MaxInt64)
		return math.MaxInt64, "--memory-limit off", nil
	case (limit == 0 || limit == MemoryLimitAuto || limit == MemoryLimitBounds) && os.Getenv("GOMEMLIMIT") != "":
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
	case limit == 0:
		return debug.SetMemoryLimit(-1), "no --memory-limit or GOMEMLIMIT", nil
	case limit == MemoryLimitAuto:
		limit = c.DefaultMemoryLimit()
		debug.SetMemoryLimit(limit)
		return limit, MemoryLimitDerived, nil
	case limit == MemoryLimitBounds:
		limit = c.DefaultMemoryLimit()
		debug.SetMemoryLimit(limit)
		return limit, MemoryLimitBounded, nil
	}
	if suggested > 0 {
		log.Warn("the memory limit is below the max head bytes + half of the compaction memory + the query cache + 64 MiB: merges and queries may keep the collector busy",
			"limit", limit, "suggested_min", suggested)
	}
	debug.SetMemoryLimit(limit)
	return limit, "--memory-limit", nil
}

// MemoryLimitDerived is ApplyMemoryLimit's source of a limit it derived
// (DefaultMemoryLimit): the one FollowMemoryLimit may lower while the heads
// are below their bound.
const MemoryLimitDerived = "derived, following the heads: 1.5 × the heads (at most --max-head-bytes) + what queries reserved + half of --compaction.max-memory + --query-cache-bytes + 64 MiB; bytes is the most with no query"

// MemoryLimitBounded is ApplyMemoryLimit's source of the limit of
// MemoryLimitBounds: DefaultMemoryLimit, which FollowMemoryLimit widens by
// what queries reserve.
const MemoryLimitBounded = "the memory bounds: --max-head-bytes + what queries reserved + half of --compaction.max-memory + --query-cache-bytes + 64 MiB; bytes is with no query"

// MemoryLimitFollows reports whether a limit ApplyMemoryLimit returned
// with source is the engine's own, for FollowMemoryLimit to keep up to
// date (auto and bounds); a limit set by --memory-limit or GOMEMLIMIT
// stays as set.
func MemoryLimitFollows(source string) bool {
	return source == MemoryLimitDerived || source == MemoryLimitBounded
}

// memoryLimitFlag is --memory-limit: a size, bounds, auto, off, or 0
// (the runtime's own).
type memoryLimitFlag struct{ n *int64 }

func (f memoryLimitFlag) String() string {
	switch {
	case f.n == nil, *f.n == 0:
		return "0"
	case *f.n == MemoryLimitAuto:
		return "auto"
	case *f.n == MemoryLimitBounds:
		return "bounds"
	case *f.n == MemoryLimitOff:
		return "off"
	}
	return strconv.FormatInt(*f.n, 10)
}

func (f memoryLimitFlag) Set(s string) error {
	switch strings.TrimSpace(s) {
	case "0", "":
		*f.n = 0
		return nil
	case "auto":
		*f.n = MemoryLimitAuto
		return nil
	case "bounds":
		*f.n = MemoryLimitBounds
		return nil
	case "off":
		*f.n = MemoryLimitOff
		return nil
	}
	n, err := flagutil.ParseBytes(s)
	if err != nil {
		return fmt.Errorf("%w, bounds, auto or off", err)
	}
	*f.n = n
	return nil
}

// ackFlag is --ack: "wal" (fsync before acknowledging) or "none" (NoSync).
type ackFlag struct{ noSync *bool }

func (f ackFlag) String() string {
	switch {
	case f.noSync == nil:
		return "" // the flag package's zero value
	case *f.noSync:
		return "none"
	}
	return "wal"
}

func (f ackFlag) Set(s string) error {
	switch s {
	case "wal":
		*f.noSync = false
	case "none":
		*f.noSync = true
	default:
		return fmt.Errorf("bad ack level %q (want wal or none)", s)
	}
	return nil
}

// retentionFlag is a retention as ParseRetention reads it.
type retentionFlag struct{ d *time.Duration }

func (f retentionFlag) String() string {
	if f.d == nil {
		return ""
	}
	return formatRetention(*f.d)
}

func (f retentionFlag) Set(s string) error {
	d, err := ParseRetention(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// formatRetention writes d as ParseRetention reads it: inf, whole days, or
// a Go duration.
func formatRetention(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == 0:
		return "inf"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// rollupsFlag is the rollup widths as ParseRollups reads them.
type rollupsFlag struct{ c *RollupConfig }

func (f rollupsFlag) String() string {
	if f.c == nil {
		return ""
	}
	if f.c.Disabled {
		return "off"
	}
	parts := make([]string, len(f.c.Widths))
	for i, w := range f.c.Widths {
		parts[i] = formatWidth(w)
	}
	return strings.Join(parts, ",")
}

func (f rollupsFlag) Set(s string) error {
	c, err := ParseRollups(s)
	if err != nil {
		return err
	}
	f.c.Widths, f.c.Disabled = c.Widths, c.Disabled
	return nil
}

// formatWidth writes a rollup width in its largest whole unit: 1m, 1h, 10s.
func formatWidth(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
