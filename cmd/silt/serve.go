package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/kafka"
	"github.com/siltdb/silt/server"
	"github.com/siltdb/silt/tiering"
)

// byteSize is a flag value accepting 1048576, 512KiB, 64MiB, 1GiB, 1GB...
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, s = u.mult, strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 64MiB, 1GiB or a byte count)", s)
	}
	return int64(n * float64(mult)), nil
}

// runtimeReserve is what a process holds besides heads and merges, in Go
// memory: the runtime, the metrics and parsers (about 10 MiB idle) and
// one flush's Parquet writers (zstd's 16 MiB history, page buffers).
const runtimeReserve = 64 << 20

// setMemoryLimit applies --memory-limit and returns the Go runtime's limit
// in force. Heads, a compaction merge and a query are each bounded by
// their own flag, but not the collector's slack above their live sets:
// with GOGC=100 the heap grows to twice the live set between collections,
// which is most of the RSS above the heads (docs/memory.md). A soft limit
// caps that slack. Below the heads plus the reserve the collector would
// run without pause, so such a limit is refused; below the heads plus a
// merge's live half (compaction's own model) it is allowed with a warning.
// 0 keeps the runtime's setting: GOMEMLIMIT, else no limit.
func setMemoryLimit(limit, maxHead, compactMem int64, log *slog.Logger) (int64, error) {
	if limit == 0 {
		return debug.SetMemoryLimit(-1), nil
	}
	if floor := maxHead + runtimeReserve; limit < floor {
		return 0, fmt.Errorf("--memory-limit %d is below --max-head-bytes %d + %d MiB for the runtime and a flush (%d): the collector would run without pause; raise it or lower --max-head-bytes",
			limit, maxHead, runtimeReserve>>20, floor)
	}
	if want := maxHead + compactMem/2 + runtimeReserve; limit < want {
		log.Warn("--memory-limit is below --max-head-bytes + half of --compaction.max-memory + 64 MiB: merges may keep the collector busy",
			"limit", limit, "suggested_min", want)
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}

// stringList is a repeatable flag whose values may also be comma-separated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// tokenList is the repeatable --auth-token flag.
type tokenList []server.Token

func (l *tokenList) String() string { return strconv.Itoa(len(*l)) + " tokens" }

func (l *tokenList) Set(s string) error {
	t, err := server.ParseToken(s)
	if err != nil {
		return err
	}
	*l = append(*l, t)
	return nil
}

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var (
		cfgFile      = fs.String("config", "", "YAML file with the same keys as these flags (e.g. 'http-addr: 127.0.0.1:9000'); flags given on the command line win")
		dataDir      = fs.String("data-dir", "silt-data", "directory for the WAL, segments and manifest")
		httpAddr     = fs.String("http-addr", "127.0.0.1:8086", "HTTP listen address")
		maxHead      = byteSize(1 << 30)
		flushBytes   = byteSize(256 << 20)
		maxBody      = byteSize(64 << 20)
		walSegment   = byteSize(64 << 20)
		flushEvery   = fs.Duration("flush-interval", 10*time.Minute, "flush the head to segments at least this often")
		ackLevel     = fs.String("ack", "wal", "when writes are acknowledged: 'wal' (after fsync; default, survives power loss) or 'none' (no fsync; loses recent writes on power loss)")
		logLevel     = fs.String("log-level", "info", "debug, info, warn or error")
		shutdownWait = fs.Duration("shutdown-timeout", time.Minute, "how long to wait for in-flight requests on SIGTERM")
		queryTimeout = fs.Duration("query-timeout", time.Minute, "longest a SQL query may run")
		queryMaxRows = fs.Int("query-max-rows", 1_000_000, "most rows a SQL result may have")
		queryMaxMem  = byteSize(1 << 30)
		retention    = fs.String("retention", "inf", "default retention of databases that set none (POST /api/v1/databases): rows older than this are invisible and dropped, e.g. 30d, 2w, 720h; inf keeps everything")
		compactMem   = byteSize(256 << 20)
		memLimit     = byteSize(0)
		compactEvery = fs.Duration("compaction.interval", time.Second, "how often the compactor looks for windows to merge and retention to apply")
		compactMax   = fs.Int("compaction.max-window-segments", 64, "hard bound on segments per table day window: above it writes get 429 compaction-behind until merges catch up")
		maxOpenSegs  = fs.Int("max-open-segments", engine.DefaultMaxOpenSegments, "segment files kept open between queries, with their parsed footers and tag indexes (one file descriptor each); the least recently read beyond this are closed and reopened when read again")
		compactOff   = fs.Bool("compaction.disabled", false, "do not merge segments or apply retention (segments then accumulate one per flush per window)")
		rollupsFlag  = fs.String("rollups", "1m,1h", "rollup window widths kept for every segment (each divides a day), comma-separated, or off: aggregate queries over whole windows read them instead of raw rows (docs/rollups.md)")
		tierCfg      = tiering.DefaultConfig()
		tierAfter    = fs.Duration("tier.after", 24*time.Hour, "move a day window to the object store once it ended this long ago and compaction is done with it (needs --s3.endpoint)")
		tierEvery    = fs.Duration("tier.interval", time.Minute, "how often tiering looks for windows to move (a read-only node: reloads the bucket's manifest)")
		s3Create     = fs.Bool("s3.create-bucket", false, "create --s3.bucket at start if it does not exist (local MinIO: make dev)")
		s3ReadOnly   = fs.Bool("s3.read-only", false, "serve the bucket's tiered segments read-only from its manifest, on a fresh --data-dir; writes get 403 read-only")
	)
	var tokens tokenList
	fs.Var(&tokens, "auth-token", "an API token NAME:SECRET:SCOPES (SCOPES: read, write, admin, comma-separated; admin, or all, grants all three and is needed to drop, delete or set retention); repeat for more. With any token, every endpoint but /health and /ping needs one. Prefer --auth-tokens-file: a command line is visible to other local users")
	debugPprof := fs.Bool("debug.pprof", false, "serve Go's profiles at /debug/pprof (admin scope with auth on; never the command line; profiles capped at 30 s)")
	var allowedOrigins stringList
	fs.Var(&allowedOrigins, "http-allowed-origins", "a browser origin (scheme://host[:port]) allowed to change state cross-site and answered CORS headers; repeat or comma-separate for more. None: CORS is off and cross-site writes from web pages are refused")
	tokensFile := fs.String("auth-tokens-file", "", "file of API tokens, one NAME:SECRET:SCOPES a line (# comments); adds to --auth-token")
	tierCfg.RegisterFlags(fs)
	fs.Var(&compactMem, "compaction.max-memory", "memory one compaction merge may use for its read and write buffers; more inputs than fit are merged in passes (e.g. 256MiB)")
	fs.Var(&queryMaxMem, "query-max-memory", "memory one SQL query may use for the columns it reads (e.g. 1GiB)")
	fs.Var(&memLimit, "memory-limit", "soft limit of the Go runtime's memory, as GOMEMLIMIT (e.g. 512MiB): near it the collector runs more often and returns freed memory to the OS sooner, trading CPU for a lower peak RSS (RSS is about this plus 60 MiB of program text). 0: GOMEMLIMIT from the environment, else none. docs/memory.md")
	fs.Var(&maxHead, "max-head-bytes", "memory bound of unflushed data; writes above it get 429 with Retry-After (e.g. 1GiB)")
	fs.Var(&flushBytes, "flush-bytes", "flush the head once it holds this much (e.g. 256MiB)")
	fs.Var(&maxBody, "max-body-bytes", "largest write request body, after gzip decompression; larger gets 413")
	fs.Var(&walSegment, "wal-segment-bytes", "size of one WAL file before the next is started")
	streamCfg := addStreamFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: silt serve [flags]

Runs the Silt server. With no flags it keeps data in ./silt-data and listens on
127.0.0.1:8086 with the InfluxDB v1/v2 write API, NDJSON ingest and schema endpoints.

Examples:
  silt serve --data-dir /var/lib/silt --http-addr 0.0.0.0:8086
  silt serve --config silt.yaml --max-head-bytes 2GiB

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *cfgFile != "" {
		if err := applyConfigFile(fs, *cfgFile); err != nil {
			fmt.Fprintln(os.Stderr, "silt serve:", err)
			return 2
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "silt serve: bad --log-level %q\n", *logLevel)
		return 2
	}
	if *ackLevel != "wal" && *ackLevel != "none" {
		fmt.Fprintf(os.Stderr, "silt serve: bad --ack %q (want wal or none)\n", *ackLevel)
		return 2
	}
	rollups, err := engine.ParseRollups(*rollupsFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "silt serve: --rollups: %v\n", err)
		return 2
	}
	ret, err := engine.ParseRetention(*retention)
	if err != nil {
		fmt.Fprintf(os.Stderr, "silt serve: --retention: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	logRestart(log)
	compactShare := int64(compactMem)
	if *compactOff {
		compactShare = 0
	}
	if lim, err := setMemoryLimit(int64(memLimit), int64(maxHead), compactShare, log); err != nil {
		fmt.Fprintln(os.Stderr, "silt serve:", err)
		return 2
	} else if lim != math.MaxInt64 {
		log.Info("go memory limit", "bytes", lim)
	}
	if *tokensFile != "" {
		more, err := server.LoadTokens(*tokensFile)
		if err != nil {
			log.Error("auth tokens", "err", err)
			return 2
		}
		tokens = append(tokens, more...)
	}

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Error("listen (is another server on this address? set --http-addr)", "addr", *httpAddr, "err", err)
		return 1
	}
	var tierEng engine.TierConfig
	if tierCfg.S3.Endpoint != "" {
		t, err := tiering.Open(tierCfg, nil)
		if err != nil {
			log.Error("tiering settings (--s3.*, --cache.*)", "err", err)
			return 2
		}
		if *s3Create {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := t.S3.EnsureBucket(ctx)
			cancel()
			if err != nil {
				log.Error("create bucket (--s3.create-bucket)", "bucket", tierCfg.S3.Bucket, "err", err)
				return 1
			}
		}
		tierEng = engine.TierConfig{Tier: t, After: *tierAfter, Interval: *tierEvery, ReadOnly: *s3ReadOnly}
	} else if *s3ReadOnly {
		fmt.Fprintln(os.Stderr, "silt serve: --s3.read-only needs --s3.endpoint and --s3.bucket")
		return 2
	}
	if *s3ReadOnly && streamCfg.enabled() {
		fmt.Fprintln(os.Stderr, "silt serve: a --s3.read-only node takes no writes: drop the --kafka.* / --nats.* sources")
		return 2
	}
	if err := streamCfg.check(*dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "silt serve:", err)
		return 2
	}
	eng, err := engine.New(engine.Config{
		DataDir: *dataDir, MaxHeadBytes: int64(maxHead), FlushBytes: int64(flushBytes),
		FlushInterval: *flushEvery, WALSegment: int64(walSegment), NoSync: *ackLevel == "none", Logger: log,
		Retention: ret,
		Compaction: engine.CompactionConfig{Disabled: *compactOff, Interval: *compactEvery, MemoryBytes: int64(compactMem),
			MaxWindowSegments: *compactMax},
		Tiering:         tierEng,
		Rollups:         rollups,
		MaxOpenSegments: *maxOpenSegs,
		Sources:         streamCfg.sourceHooks(*dataDir, log), // streams.go
	})
	if err != nil {
		log.Error("open data directory", "dir", *dataDir, "err", err)
		return 1
	}
	if tierEng.Tier != nil {
		tierEng.Tier.Register(eng.Metrics().Registry)
	}
	srv := server.New(eng, server.Config{Addr: *httpAddr, MaxBodyBytes: int(maxBody), Logger: log,
		QueryTimeout: *queryTimeout, QueryMaxRows: *queryMaxRows, QueryMaxMemory: int64(queryMaxMem),
		Tokens: tokens, DebugPprof: *debugPprof, AllowedOrigins: allowedOrigins})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("silt listening; replaying the WAL (/ready answers 503 until done)", "version", version, "http", ln.Addr().String(), "data", *dataDir)
	if err := eng.Recover(); err != nil {
		log.Error("recover data directory", "dir", *dataDir, "err", err)
		_ = srv.Shutdown()
		return 1
	}
	log.Info("silt ready", "http", ln.Addr().String())
	streams, err := startStreams(streamCfg, eng, *dataDir, log)
	if err != nil {
		log.Error("start stream sources", "err", err)
		if serr := streams.stop(); serr != nil {
			log.Warn("stop stream sources", "err", serr)
		}
		_ = srv.Shutdown()
		if err := eng.Close(); err != nil {
			log.Error("close engine", "err", err)
		}
		return 1
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	code := 0
	select {
	case s := <-sig:
		log.Info("shutting down: finishing requests and flushing", "signal", s.String())
	case err := <-served:
		log.Error("http server stopped", "err", err)
		code = 1
	case err := <-streams.failed:
		log.Error("stream source stopped; shutting down", "err", err)
		code = 1
	}
	// Stream sources stop first: their last writes finish before the engine
	// flushes and closes.
	if err := streams.stop(); err != nil {
		log.Warn("stop stream sources", "err", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("http shutdown", "err", err)
		}
	case <-time.After(*shutdownWait):
		log.Warn("in-flight requests did not finish in time", "timeout", *shutdownWait)
	}
	if err := eng.Close(); errors.Is(err, kafka.ErrFenced) {
		// Nothing is lost: the rows stay in the WAL for the next start,
		// whose replay drops those another node consumed again.
		log.Warn("stopped without a final flush: the Kafka source lost partitions with unconfirmed rows", "err", err)
		return code
	} else if err != nil {
		log.Error("close engine: unflushed data stays in the WAL and is replayed at the next start", "err", err)
		return 1
	}
	log.Info("stopped cleanly")
	return code
}

// applyConfigFile sets every flag named in the YAML file that was not given
// on the command line.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var kv map[string]any
	if err := yaml.Unmarshal(raw, &kv); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for k, v := range kv {
		if k == "config" {
			continue
		}
		if fs.Lookup(k) == nil {
			return fmt.Errorf("config %s: unknown key %q (keys are the flag names of 'silt serve --help')", path, k)
		}
		if given[k] {
			continue
		}
		if err := fs.Set(k, fmt.Sprint(v)); err != nil {
			return fmt.Errorf("config %s: key %q: %w", path, k, err)
		}
	}
	return nil
}
