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
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/flightsql"
	"github.com/siltdb/silt/iceberg"
	"github.com/siltdb/silt/ingest/kafka"
	siltnats "github.com/siltdb/silt/ingest/nats"
	"github.com/siltdb/silt/internal/flagutil"
	"github.com/siltdb/silt/pgwire"
	"github.com/siltdb/silt/server"
	"github.com/siltdb/silt/tiering"
)

// serveConfig is what silt serve starts with: each package's settings,
// registered by the package with its defaults and checked by its Validate,
// and the process's own (config file, logging, shutdown).
type serveConfig struct {
	file         string
	logLevel     string
	logFormat    string     // text or json (logging.go)
	level        slog.Level // parsed logLevel
	shutdownWait time.Duration

	engine  engine.Config
	server  server.Config
	tiering tiering.Config
	kafka   kafka.Config
	nats    siltnats.Config
	pg      pgwire.Config
	// memoryLimitDerived: the soft memory limit is the engine's own
	// (--memory-limit bounds or auto, no GOMEMLIMIT), so it follows the
	// queries' reservations (and with auto the heads).
	memoryLimitDerived bool
	// pgExplicit is set when --pg-addr was given (flag or config file):
	// then failing to bind it stops the start, where the default only
	// warns (a local PostgreSQL may hold 5432).
	pgExplicit bool
	// flight and flightExplicit: the Arrow Flight SQL listener, as pg.
	flight         flightsql.Config
	flightExplicit bool
	// cluster: --role, --node-id and --cluster.* (cluster.go).
	cluster cluster.Config
	// iceberg: --iceberg.publish (iceberg.go).
	iceberg iceberg.Config
}

func (c *serveConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.file, "config", "", "YAML file with the same keys as these flags (e.g. 'http-addr: 127.0.0.1:9000'); flags given on the command line win")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text (key=value lines) or json (one JSON object a line, for log shippers)")
	fs.DurationVar(&c.shutdownWait, "shutdown-timeout", time.Minute, "how long to wait for in-flight requests on SIGTERM")
	c.engine.RegisterFlags(fs)
	c.server.RegisterFlags(fs)
	c.tiering = tiering.DefaultConfig()
	c.tiering.RegisterFlags(fs)
	c.kafka.RegisterFlags(fs)
	c.nats.RegisterFlags(fs)
	c.pg.RegisterFlags(fs)
	c.flight.RegisterFlags(fs)
	c.cluster.RegisterFlags(fs)
	c.iceberg.RegisterFlags(fs)
}

// validate checks every setting before anything is opened, so that a
// mistake is a usage error (exit 2). The packages' errors name settings in
// their own words; the flags to change are named here.
func (c *serveConfig) validate() error {
	if err := c.level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("bad --log-level %q", c.logLevel)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("bad --log-format %q: text or json", c.logFormat)
	}
	if c.shutdownWait < 0 {
		return fmt.Errorf("--shutdown-timeout must not be negative, got %s", c.shutdownWait)
	}
	if err := c.engine.Validate(); errors.Is(err, engine.ErrMemoryLimitTooLow) {
		return fmt.Errorf("--memory-limit, --max-head-bytes: %w", err)
	} else if err != nil {
		return fmt.Errorf("storage flags (--data-dir, --max-head-bytes, --flush-*, --wal-segment-bytes, --retention, --rollups, --compaction.*, --tier.*): %w", err)
	}
	if err := c.server.Validate(); err != nil {
		return fmt.Errorf("HTTP, auth and query flags (--max-body-bytes, --max-requests-per-client, --max-inflight-body-bytes, --auth-token, --query-*): %w", err)
	}
	if err := c.pg.Validate(); err != nil {
		return fmt.Errorf("PostgreSQL listener flags (--pg-*): %w", err)
	}
	if err := c.flight.Validate(); err != nil {
		return fmt.Errorf("--flight-* flags (the Arrow Flight SQL listener): %w", err)
	}
	if err := c.tiering.Validate(); err != nil {
		return fmt.Errorf("tiering flags (--s3.*, --cache.*): %w", err)
	}
	if c.engine.Tiering.ReadOnly && !c.tiering.Enabled() {
		return errors.New("--s3.read-only needs --s3.endpoint and --s3.bucket")
	}
	if c.engine.Tiering.ReadOnly && (c.kafka.Enabled() || c.nats.Enabled()) {
		return errors.New("a --s3.read-only node takes no writes: drop the --kafka.* / --nats.* sources")
	}
	if err := c.iceberg.Validate(c.tiering.Enabled(), c.engine.Tiering.ReadOnly); err != nil {
		return fmt.Errorf("--iceberg.publish: %w", err)
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	if c.kafka.Enabled() {
		c.kafka.DefaultDeadLetter(c.engine.DataDir)
		if err := c.kafka.Validate(); err != nil {
			return flagutil.FlagName(err)
		}
	}
	if c.nats.Enabled() {
		c.nats.DefaultDeadLetter(c.engine.DataDir)
		if err := c.nats.Validate(); err != nil {
			return flagutil.FlagName(err)
		}
	}
	return nil
}

const serveUsage = `Usage: silt serve [flags]

Runs the Silt server. With no flags it keeps data in ./silt-data and listens on
127.0.0.1:8086 with the InfluxDB v1/v2 write API, NDJSON ingest and schema endpoints,
on 127.0.0.1:5432 for PostgreSQL clients (psql, pgx, psycopg2; --pg-addr), and on
127.0.0.1:8082 for Arrow Flight SQL and InfluxDB 3 clients (--flight-addr).

Examples:
  silt serve --data-dir /var/lib/silt --http-addr 0.0.0.0:8086
  silt serve --config silt.yaml --max-head-bytes 2GiB

Flags:
`

// secretFlags are the flags that take a secret, each with where to give it
// instead of the command line.
var secretFlags = map[string]string{
	"auth-token":          "--auth-tokens-file or $" + server.TokensEnv,
	"s3.secret-key":       "--s3.secret-key-file or $AWS_SECRET_ACCESS_KEY",
	"kafka.sasl-password": "--kafka.sasl-password-file",
	"nats.password":       "--nats.password-file",
	"nats.token":          "--nats.token-file",
}

// loadSecrets reads the secrets given as files or environment variables,
// before validate checks that the settings that need them have them.
func (c *serveConfig) loadSecrets(getenv func(string) string) error {
	if err := c.server.LoadSecrets(getenv); err != nil {
		return fmt.Errorf("auth tokens: %w", err)
	}
	if err := c.tiering.LoadSecrets(); err != nil {
		return fmt.Errorf("tiering flags (--s3.*): %w", err)
	}
	if err := c.cluster.LoadSecrets(getenv); err != nil {
		return fmt.Errorf("cluster flags: %w", err)
	}
	return nil
}

// runServe parses and validates the settings, opens the parts and runs
// until a signal or a failure.
func runServe(args []string) int {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.registerFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// Secrets on the command line are readable by every local user (ps,
	// /proc/PID/cmdline): said once the logger exists.
	var visible []string
	fs.Visit(func(f *flag.Flag) {
		if _, ok := secretFlags[f.Name]; ok {
			visible = append(visible, f.Name)
		}
	})
	if cfg.file != "" {
		if err := applyConfigFile(fs, cfg.file); err != nil {
			fmt.Fprintln(os.Stderr, "silt serve:", err)
			return 2
		}
	}
	fs.Visit(func(f *flag.Flag) { cfg.pgExplicit = cfg.pgExplicit || f.Name == "pg-addr" })
	fs.Visit(func(f *flag.Flag) { cfg.flightExplicit = cfg.flightExplicit || f.Name == "flight-addr" })
	if err := cfg.loadSecrets(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "silt serve:", err)
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "silt serve:", err)
		return 2
	}
	log := newLogger(os.Stderr, cfg.logFormat, cfg.level)
	logRestart(log)
	if lim, source, err := engine.ApplyMemoryLimit(cfg.engine, log); err != nil {
		fmt.Fprintln(os.Stderr, "silt serve: --memory-limit:", err)
		return 2
	} else if lim != math.MaxInt64 {
		cfg.memoryLimitDerived = engine.MemoryLimitFollows(source)
		log.Info("go memory limit", "bytes", lim, "from", source)
	} else {
		log.Info("no soft memory limit", "from", source)
	}
	for _, name := range visible {
		log.Warn("a secret is on the command line, where other local users can read it (ps): use "+secretFlags[name]+" instead", "flag", "--"+name)
	}
	return serve(&cfg, log)
}

// serve opens the listener, the tiering layer, the engine and the stream
// sources of a validated cfg, and runs them until a signal or a failure.
func serve(cfg *serveConfig, log *slog.Logger) int {
	dataDir := cfg.engine.DataDir
	ln, err := net.Listen("tcp", cfg.server.Addr)
	if err != nil {
		log.Error("listen (is another server on this address? set --http-addr)", "addr", cfg.server.Addr, "err", err)
		return 1
	}
	pgLn, ok := listenPG(cfg, log)
	if !ok {
		_ = ln.Close()
		return 1
	}
	flightLn, ok := listenFlight(cfg, log)
	if !ok {
		_ = ln.Close()
		if pgLn != nil {
			_ = pgLn.Close()
		}
		return 1
	}
	closePG := func() {
		if pgLn != nil {
			_ = pgLn.Close()
		}
		if flightLn != nil {
			_ = flightLn.Close()
		}
	}
	node, err := joinCluster(cfg, ln.Addr().String(), log)
	if err != nil {
		log.Error("join the cluster (--role, --node-id)", "err", err)
		_ = ln.Close()
		closePG()
		return 1
	}
	defer node.leave(log)
	var icePub *iceberg.Publisher // its metrics join the engine's registry
	if cfg.tiering.Enabled() {
		t, err := tiering.Open(cfg.tiering, nil)
		if err != nil {
			log.Error("tiering settings (--s3.*, --cache.*)", "err", err)
			closePG()
			return 2
		}
		if cfg.tiering.CreateBucket {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := t.S3.EnsureBucket(ctx)
			cancel()
			if err != nil {
				log.Error("create bucket (--s3.create-bucket)", "bucket", cfg.tiering.S3.Bucket, "err", err)
				closePG()
				return 1
			}
		}
		cfg.engine.Tiering.Tier = t
		if cfg.iceberg.Publish {
			if icePub, cfg.engine.Tiering.Publish, err = icebergHook(cfg, t, node, log); err != nil {
				log.Error("Iceberg publishing (--iceberg.publish)", "err", err)
				closePG()
				return 2
			}
		}
	}
	var handover *kafka.Handover
	if cfg.kafka.Enabled() {
		// The Kafka source's engine hooks: the reconciliation of the WAL
		// with the partitions' later owners at replay and the flush's wait
		// for group commits (docs/scaling.md). They exist before the
		// engine recovers; startStreams hands them to the consumer.
		handover = kafka.NewHandover(cfg.kafka, dataDir, cfg.kafka.HandoverWait(), log)
		cfg.engine.Sources = handover
	}
	cfg.engine.Logger = log
	cfg.server.Logger = log
	eng, err := engine.New(cfg.engine)
	if err != nil {
		log.Error("open data directory", "dir", dataDir, "err", err)
		closePG()
		return 1
	}
	if t := cfg.engine.Tiering.Tier; t != nil {
		t.Register(eng.Metrics().Registry)
	}
	if icePub != nil {
		icePub.Register(eng.Metrics().Registry)
	}
	node.setEngine(eng, log)
	srv := server.New(eng, cfg.server)
	// The collector's slack follows the garbage around the heads, not the
	// heads (engine/gc_pacing.go); GOGC in the environment turns it off.
	defer eng.PaceCollector(time.Second)()
	if cfg.memoryLimitDerived {
		// The derived limit follows the heads and the queries' reservations
		// (engine/memory_limit.go).
		defer eng.FollowMemoryLimit(100*time.Millisecond, srv.QueryMemoryReserved)()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var pgl *pgwire.Listener
	if pgLn != nil {
		cfg.pg.Logger = log
		// The listeners get the server's timed view (silt_query_duration_seconds).
		pgl, err = pgwire.New(srv.Frontend("pgwire"), cfg.pg)
		if err != nil { // checked by listenPG: the files changed since
			log.Error("PostgreSQL listener", "err", err)
			_ = pgLn.Close()
			pgl = nil
		}
	}
	if pgl != nil {
		go func() {
			if err := pgl.Serve(pgLn); err != nil {
				log.Error("PostgreSQL listener stopped", "err", err)
			}
		}()
		log.Info("PostgreSQL wire protocol listening", "addr", pgLn.Addr().String(), "tls", cfg.pg.TLSCertFile != "")
	}
	var fl *flightsql.Listener
	if flightLn != nil {
		cfg.flight.Logger = log
		fl = flightsql.New(srv.Frontend("flight"), cfg.flight, srv.Serve)
		go func() {
			if err := fl.Serve(flightLn); err != nil {
				log.Error("Arrow Flight SQL listener stopped", "err", err)
			}
		}()
		log.Info("Arrow Flight SQL (and the HTTP API) listening", "addr", flightLn.Addr().String())
	}
	stopPG := func() {
		if pgl != nil {
			if err := pgl.Close(); err != nil {
				log.Warn("close PostgreSQL listener", "err", err)
			}
		}
		if fl != nil {
			if err := fl.Close(); err != nil {
				log.Warn("close Arrow Flight SQL listener", "err", err)
			}
		}
	}
	log.Info("silt listening; replaying the WAL (/ready answers 503 until done)", "version", version, "http", ln.Addr().String(), "data", dataDir)
	if err := eng.Recover(); err != nil {
		log.Error("recover data directory", "dir", dataDir, "err", err)
		stopPG()
		_ = srv.Shutdown()
		return 1
	}
	log.Info("silt ready", "http", ln.Addr().String())
	streams, err := startStreams(cfg, handover, eng, log)
	if err != nil {
		log.Error("start stream sources", "err", err)
		if serr := streams.stop(); serr != nil {
			log.Warn("stop stream sources", "err", serr)
		}
		stopPG()
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
	case <-node.fenced():
		log.Error("another process holds this --node-id now; shutting down (acknowledged writes stay in the WAL)")
		code = 1
	}
	// Stream sources stop first: their last writes finish before the engine
	// flushes and closes.
	if err := streams.stop(); err != nil {
		log.Warn("stop stream sources", "err", err)
	}
	// PostgreSQL sessions end first (their running queries canceled):
	// a client reconnects, and a query must not outlive the engine.
	stopPG()
	// Writes are refused from here on (503 shutting-down, and /ready
	// answers 503) while the heads are flushed with the HTTP listener
	// still open: a writer arriving during the flush, which takes as
	// long as any flush of the heads, learns at once that it must go
	// elsewhere or retry later instead of finding the port closed, and
	// queries are answered meanwhile. Every write acknowledged before
	// StopWrites is in the heads this flush writes out.
	eng.StopWrites()
	holdShutdown()
	flushStart := time.Now()
	if err := eng.Flush(); err != nil {
		// Close flushes again and reports; the rows stay in the WAL.
		log.Warn("flush at shutdown", "err", err)
	} else {
		log.Info("flushed at shutdown; closing the listeners", "elapsed", time.Since(flushStart).Round(time.Millisecond))
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("http shutdown", "err", err)
		}
	case <-time.After(cfg.shutdownWait):
		log.Warn("in-flight requests did not finish in time", "timeout", cfg.shutdownWait)
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

// listenPG binds the PostgreSQL listener's address: nil when it is off
// (--pg-addr ""), or when the default address is taken, which is logged
// and leaves the rest served. ok is false when an address given explicitly
// cannot be bound: a start-up error.
func listenPG(cfg *serveConfig, log *slog.Logger) (ln net.Listener, ok bool) {
	if cfg.pg.Addr == "" {
		return nil, true
	}
	if _, err := cfg.pg.LoadTLS(); err != nil {
		log.Error("PostgreSQL listener TLS", "err", err)
		return nil, false
	}
	ln, err := net.Listen("tcp", cfg.pg.Addr)
	if err == nil {
		return ln, true
	}
	if cfg.pgExplicit {
		log.Error("listen for PostgreSQL clients (is another server on this address? set --pg-addr, or --pg-addr '' to turn it off)", "addr", cfg.pg.Addr, "err", err)
		return nil, false
	}
	log.Warn("PostgreSQL wire protocol not served: the default address is taken (a local PostgreSQL?); set --pg-addr to another address, or --pg-addr '' to turn it off", "addr", cfg.pg.Addr, "err", err)
	return nil, true
}

// listenFlight binds the Arrow Flight SQL listener's address, as
// listenPG does the PostgreSQL one's: nil when it is off (--flight-addr
// "") or when the default address is taken (logged); ok is false when an
// address given explicitly cannot be bound.
func listenFlight(cfg *serveConfig, log *slog.Logger) (ln net.Listener, ok bool) {
	if cfg.flight.Addr == "" {
		return nil, true
	}
	ln, err := net.Listen("tcp", cfg.flight.Addr)
	if err == nil {
		return ln, true
	}
	if cfg.flightExplicit {
		log.Error("listen for Arrow Flight SQL clients (is another server on this address? set --flight-addr, or --flight-addr '' to turn it off)", "addr", cfg.flight.Addr, "err", err)
		return nil, false
	}
	log.Warn("Arrow Flight SQL not served: the default address is taken; set --flight-addr to another address, or --flight-addr '' to turn it off", "addr", cfg.flight.Addr, "err", err)
	return nil, true
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
	// A config file holding a secret is a secrets file: private to its
	// owner, as --auth-tokens-file must be.
	for k := range kv {
		if _, ok := secretFlags[k]; !ok {
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("stat config: %w", err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			return fmt.Errorf("config %s sets %s but has permissions %04o, too open: other users may read it; run chmod 600 %s, or use %s",
				path, k, perm, path, secretFlags[k])
		}
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
