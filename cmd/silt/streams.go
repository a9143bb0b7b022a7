package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/kafka"
	"github.com/siltdb/silt/ingest/stream"
)

// streamFlags are the --kafka.* and --nats.* flags of silt serve.
type streamFlags struct {
	kafka struct {
		brokers, topics, group, format, db, table, precision, deadLetter string
		tls, tlsInsecure                                                 bool
		tlsCA, tlsCert, tlsKey, saslMech, saslUser, saslPass, clientID   string
		maxPoll                                                          int
		fetchMaxBytes                                                    byteSize
		sessionTimeout, rebalanceTimeout, replayWait                     time.Duration
	}
	nats natsFlags

	handover *kafka.Handover // the Kafka source's engine hooks (sourceHooks)
}

func addStreamFlags(fs *flag.FlagSet) *streamFlags {
	s := &streamFlags{}
	k := &s.kafka
	fs.StringVar(&k.brokers, "kafka.brokers", "", "Kafka seed brokers, comma separated (host:port); enables the Kafka source")
	fs.StringVar(&k.topics, "kafka.topics", "", "Kafka topics to consume, comma separated")
	fs.StringVar(&k.group, "kafka.group", "silt", "Kafka consumer group; Silt instances in one group split the partitions")
	fs.StringVar(&k.format, "kafka.format", "line", "message format: line (InfluxDB line protocol) or json (NDJSON rows as /api/v1/ingest)")
	fs.StringVar(&k.db, "kafka.db", "", "database for the rows, unless a message header 'db' names another")
	fs.StringVar(&k.table, "kafka.table", "", "table of JSON rows that name none")
	fs.StringVar(&k.precision, "kafka.precision", "ns", "unit of timestamps in the messages: ns, us, ms, s")
	fs.StringVar(&k.deadLetter, "kafka.dead-letter", "", "where undecodable messages go: a topic name, or file:PATH (default file:<data-dir>/kafka-dead-letter.ndjson)")
	fs.BoolVar(&k.tls, "kafka.tls", false, "connect to the brokers with TLS")
	fs.StringVar(&k.tlsCA, "kafka.tls-ca", "", "PEM file of CA certificates to trust (default: the system's); implies --kafka.tls")
	fs.StringVar(&k.tlsCert, "kafka.tls-cert", "", "client certificate (PEM) for mutual TLS, with --kafka.tls-key")
	fs.StringVar(&k.tlsKey, "kafka.tls-key", "", "client key (PEM) for mutual TLS")
	fs.BoolVar(&k.tlsInsecure, "kafka.tls-insecure", false, "do not verify the brokers' certificates (testing only)")
	fs.StringVar(&k.saslMech, "kafka.sasl-mechanism", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&k.saslUser, "kafka.sasl-user", "", "SASL user")
	fs.StringVar(&k.saslPass, "kafka.sasl-password", "", "SASL password")
	fs.StringVar(&k.clientID, "kafka.client-id", "silt", "Kafka client id")
	fs.IntVar(&k.maxPoll, "kafka.max-poll-records", 10000, "most records taken into one write (one WAL record per database)")
	fs.DurationVar(&k.sessionTimeout, "kafka.session-timeout", 45*time.Second, "group session timeout: how long a silent member keeps its partitions")
	k.fetchMaxBytes = 16 << 20
	fs.Var(&k.fetchMaxBytes, "kafka.fetch-max-bytes", "most bytes one fetch may buffer (memory held outside --max-head-bytes)")
	fs.DurationVar(&k.rebalanceTimeout, "kafka.rebalance-timeout", time.Minute, "how long a group rebalance waits for members to rejoin (a member that died waits this long, or the session timeout, to be dropped)")
	fs.DurationVar(&k.replayWait, "kafka.replay-wait", time.Minute, "at start, how long the WAL replay waits for the group's offsets when it holds Kafka rows (to drop those another node consumed again); after it, every row is kept and some may be on two nodes. 0 waits until the brokers answer (exactly-once over availability)")
	addNATSFlags(fs, &s.nats)
	return s
}

// enabled reports whether any stream source is configured.
func (s *streamFlags) enabled() bool { return s.kafka.brokers != "" || s.nats.url != "" }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// check validates the stream flags before anything is opened, so that a
// mistake is a usage error (exit 2) rather than a failure after recovery.
func (s *streamFlags) check(dataDir string) error {
	if s.kafka.brokers != "" {
		cfg, err := s.kafkaConfig(dataDir)
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	if s.nats.url != "" {
		cfg, err := natsConfig(&s.nats, dataDir)
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	return nil
}

func (s *streamFlags) kafkaConfig(dataDir string) (kafka.Config, error) {
	k := &s.kafka
	prec, err := columnar.ParsePrecision(k.precision)
	if err != nil {
		return kafka.Config{}, fmt.Errorf("--kafka.precision: %w", err)
	}
	dl := k.deadLetter
	if dl == "" {
		dl = "file:" + filepath.Join(dataDir, "kafka-dead-letter.ndjson")
	}
	// Tests only: a delay between a poll's WAL fsync and its group commit,
	// so that kill -9 rounds hit the window the hand-over must cover.
	var commitDelay time.Duration
	if v := os.Getenv("SILT_TEST_KAFKA_COMMIT_DELAY"); v != "" {
		if commitDelay, err = time.ParseDuration(v); err != nil {
			return kafka.Config{}, fmt.Errorf("SILT_TEST_KAFKA_COMMIT_DELAY: %w", err)
		}
	}
	// Tests only: a delay between building a flush's group commit and
	// sending it, as a rebalance's join and sync can hold it.
	var gateDelay time.Duration
	if v := os.Getenv("SILT_TEST_KAFKA_GATE_DELAY"); v != "" {
		if gateDelay, err = time.ParseDuration(v); err != nil {
			return kafka.Config{}, fmt.Errorf("SILT_TEST_KAFKA_GATE_DELAY: %w", err)
		}
	}
	return kafka.Config{CommitDelay: commitDelay, GateCommitDelay: gateDelay, Brokers: splitList(k.brokers), Topics: splitList(k.topics), Group: k.group,
		Format: stream.Format(k.format), DB: k.db, Table: k.table, Precision: prec, DeadLetter: dl,
		TLS: k.tls, TLSCA: k.tlsCA, TLSCert: k.tlsCert, TLSKey: k.tlsKey, TLSInsecure: k.tlsInsecure,
		SASLMechanism: k.saslMech, SASLUser: k.saslUser, SASLPassword: k.saslPass,
		ClientID: k.clientID, MaxPollRecords: k.maxPoll, FetchMaxBytes: int32(min(int64(k.fetchMaxBytes), 1<<30)),
		Extra: []kgo.Opt{kgo.SessionTimeout(k.sessionTimeout), kgo.RebalanceTimeout(k.rebalanceTimeout),
			kgo.HeartbeatInterval(min(3*time.Second, k.sessionTimeout/5))}}, nil
}

// sourceHooks returns the engine hooks of the stream sources: with Kafka,
// the reconciliation of the WAL with the partitions' later owners at replay
// and the flush's wait for group commits (docs/scaling.md). Call it before
// the engine recovers; startStreams hands the same hooks to the consumer.
func (s *streamFlags) sourceHooks(dataDir string, log *slog.Logger) engine.SourceHooks {
	if s.kafka.brokers == "" {
		return nil
	}
	cfg, err := s.kafkaConfig(dataDir)
	if err != nil {
		return nil // check reported it before
	}
	wait := s.kafka.replayWait
	if wait == 0 {
		wait = -1 // no limit
	}
	s.handover = kafka.NewHandover(cfg, dataDir, wait, log)
	return s.handover
}

// runningStreams are the started stream consumers.
type runningStreams struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed chan error // a consumer stopped with an error
	closes []func() error
	// stopping is set when stop begins: a fenced Kafka source then does
	// not restart the process (restart.go).
	stopping atomic.Bool
}

// startStreams starts the configured consumers on a recovered engine.
func startStreams(s *streamFlags, eng *engine.Engine, dataDir string, log *slog.Logger) (*runningStreams, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningStreams{cancel: cancel, failed: make(chan error, 2)}
	run := func(name string, fn func(context.Context) error, closeFn func() error) {
		r.closes = append(r.closes, closeFn)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := fn(ctx); err != nil {
				r.failed <- fmt.Errorf("%s source: %w", name, err)
			}
		}()
	}
	if k := &s.kafka; k.brokers != "" {
		cfg, err := s.kafkaConfig(dataDir)
		if err != nil {
			return r, err
		}
		cfg.Handover = s.handover
		cfg.MaxLineBytes = eng.Config().Limits.MaxLineBytes
		cfg.OnFenced = onFenced(log, &r.stopping)
		c, err := kafka.New(cfg, eng, eng.Metrics().Registry, log)
		if err != nil {
			return r, err
		}
		run("kafka", c.Run, c.Close)
		log.Info("kafka source started", "brokers", k.brokers, "topics", k.topics, "group", k.group, "db", k.db, "dead_letter", cfg.DeadLetter)
	}
	if err := startNATS(&s.nats, eng, dataDir, log, run); err != nil {
		return r, err
	}
	return r, nil
}

// stop ends the consumers (their last writes finish first) and commits
// their positions upstream. The engine is closed after.
func (r *runningStreams) stop() error {
	if r == nil {
		return nil
	}
	r.stopping.Store(true)
	r.cancel()
	r.wg.Wait()
	var errs []error
	for _, c := range r.closes {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}
