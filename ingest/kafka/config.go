package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/ingest/stream"
	"github.com/siltdb/silt/internal/flagutil"
)

// Config configures a Consumer.
type Config struct {
	Brokers    []string
	Topics     []string
	Group      string
	Format     stream.Format
	DB         string // database unless a message header "db" names another
	Table      string // table of JSON rows that name none
	Precision  columnar.Precision
	DeadLetter string // "file:PATH" or a topic name ("topic:NAME" also accepted)
	// MaxLineBytes bounds one line of a message (0: the decoders' default);
	// a message with a longer line is dead-lettered.
	MaxLineBytes int

	TLS           bool
	TLSCA         string // PEM file of CAs to trust (default: system roots)
	TLSCert       string // client certificate (PEM), with TLSKey
	TLSKey        string
	TLSInsecure   bool   // skip server certificate verification (testing only)
	SASLMechanism string // "", "plain", "scram-sha-256" or "scram-sha-512"
	SASLUser      string
	SASLPassword  string

	// MaxPollRecords bounds one fetch taken into one write; together with
	// FetchMaxBytes it bounds the memory held outside the engine.
	MaxPollRecords int
	FetchMaxBytes  int64 // capped at 1 GiB, franz-go's int32 bound with room
	ClientID       string
	// SessionTimeout is how long a silent member keeps its partitions and
	// RebalanceTimeout how long a rebalance waits for members to rejoin;
	// 0 keeps franz-go's defaults.
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// ReplayWait bounds how long the WAL replay waits for the group's
	// offsets (HandoverWait); 0 waits until the brokers answer.
	ReplayWait time.Duration
	// Extra options for tests (e.g. shorter session timeouts).
	Extra []kgo.Opt

	// Handover, when set, names this node (its data directory's node id)
	// and makes flushes wait for group commits; see NewHandover. Without
	// it the node has a random id for the process's life.
	Handover *Handover
	// OnFenced is called, once, when partitions leave this node with rows
	// in its WAL that the group has not confirmed: the group session
	// expired while the node was alive (a stall longer than the session
	// timeout), or a revoke's commit failed. The partitions' next owner
	// consumes those rows again, so from then on flushes are refused (they
	// would make the rows permanent on both nodes) and OnFenced must get
	// them dropped: cmd/silt re-executes the process, a kill -9 and a start
	// in one, whose replay drops them (handover.go). It runs on a franz-go
	// goroutine and is not expected to return. Nil keeps the rows on both
	// nodes, logged with their offsets, and flushes go on.
	OnFenced func(reason string)

	// knobs are delays tests set (knobs.go); zero in production.
	knobs testKnobs
}

// RegisterFlags adds the --kafka.* settings of silt serve to fs, with
// their defaults, writing into c. Brokers enable the source.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	flagutil.ListVar(fs, &c.Brokers, "kafka.brokers", "Kafka seed brokers, comma separated (host:port); enables the Kafka source")
	flagutil.ListVar(fs, &c.Topics, "kafka.topics", "Kafka topics to consume, comma separated")
	fs.StringVar(&c.Group, "kafka.group", "silt", "Kafka consumer group; Silt instances in one group split the partitions")
	fs.StringVar((*string)(&c.Format), "kafka.format", string(stream.FormatLine), "message format: line (InfluxDB line protocol) or json (NDJSON rows as /api/v1/ingest)")
	fs.StringVar(&c.DB, "kafka.db", "", "database for the rows, unless a message header 'db' names another")
	fs.StringVar(&c.Table, "kafka.table", "", "table of JSON rows that name none")
	stream.PrecisionVar(fs, &c.Precision, "kafka.precision", "unit of timestamps in the messages: ns, us, ms, s")
	fs.StringVar(&c.DeadLetter, "kafka.dead-letter", "", "where undecodable messages go: a topic name, or file:PATH (default file:<data-dir>/kafka-dead-letter.ndjson)")
	fs.BoolVar(&c.TLS, "kafka.tls", false, "connect to the brokers with TLS")
	fs.StringVar(&c.TLSCA, "kafka.tls-ca", "", "PEM file of CA certificates to trust (default: the system's); implies --kafka.tls")
	fs.StringVar(&c.TLSCert, "kafka.tls-cert", "", "client certificate (PEM) for mutual TLS, with --kafka.tls-key")
	fs.StringVar(&c.TLSKey, "kafka.tls-key", "", "client key (PEM) for mutual TLS")
	fs.BoolVar(&c.TLSInsecure, "kafka.tls-insecure", false, "do not verify the brokers' certificates (testing only)")
	fs.StringVar(&c.SASLMechanism, "kafka.sasl-mechanism", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&c.SASLUser, "kafka.sasl-user", "", "SASL user")
	fs.StringVar(&c.SASLPassword, "kafka.sasl-password", "", "SASL password; visible to other local users in ps: prefer --kafka.sasl-password-file")
	flagutil.SecretFileVar(fs, &c.SASLPassword, "kafka.sasl-password-file", "file holding the SASL password (must not be readable by group or others: chmod 600)")
	fs.StringVar(&c.ClientID, "kafka.client-id", "silt", "Kafka client id")
	fs.IntVar(&c.MaxPollRecords, "kafka.max-poll-records", defaultMaxPollRecords, "most records taken into one write (one WAL record per database)")
	fs.DurationVar(&c.SessionTimeout, "kafka.session-timeout", 45*time.Second, "group session timeout: how long a silent member keeps its partitions")
	flagutil.BytesVar(fs, &c.FetchMaxBytes, "kafka.fetch-max-bytes", defaultFetchMaxBytes, "most bytes one fetch may buffer (memory held outside --max-head-bytes)")
	fs.DurationVar(&c.RebalanceTimeout, "kafka.rebalance-timeout", time.Minute, "how long a group rebalance waits for members to rejoin (a member that died waits this long, or the session timeout, to be dropped)")
	fs.DurationVar(&c.ReplayWait, "kafka.replay-wait", time.Minute, "at start, how long the WAL replay waits for the group's offsets when it holds Kafka rows (to drop those another node consumed again); after it, every row is kept and some may be on two nodes. 0 waits until the brokers answer (exactly-once over availability)")
}

// Enabled reports whether the source is configured (brokers are named).
func (c *Config) Enabled() bool { return len(c.Brokers) > 0 }

// DefaultDeadLetter sets DeadLetter, if unset, to a file in dataDir.
func (c *Config) DefaultDeadLetter(dataDir string) {
	if c.DeadLetter == "" {
		c.DeadLetter = "file:" + filepath.Join(dataDir, "kafka-dead-letter.ndjson")
	}
}

// HandoverWait is the wait NewHandover takes for ReplayWait: 0 (wait
// until the brokers answer) is a negative wait there, no limit.
func (c *Config) HandoverWait() time.Duration {
	if c.ReplayWait == 0 {
		return -1
	}
	return c.ReplayWait
}

// deadLetterTopic returns the topic named by DeadLetter, or "".
func (c *Config) deadLetterTopic() string {
	switch {
	case c.DeadLetter == "", strings.HasPrefix(c.DeadLetter, "file:"):
		return ""
	case strings.HasPrefix(c.DeadLetter, "topic:"):
		return strings.TrimPrefix(c.DeadLetter, "topic:")
	}
	return c.DeadLetter
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return flagutil.Invalid("kafka.brokers", "kafka: no brokers")
	case len(c.Topics) == 0:
		return flagutil.Invalid("kafka.topics", "kafka: no topics")
	case c.Group == "":
		return flagutil.Invalid("kafka.group", "kafka: no consumer group")
	case c.DB == "":
		return flagutil.Invalid("kafka.db", "kafka: no database")
	case c.DeadLetter == "":
		return flagutil.Invalid("kafka.dead-letter", "kafka: no dead letter (file:PATH or a topic)")
	case c.MaxPollRecords < 0, c.FetchMaxBytes < 0:
		return fmt.Errorf("kafka: max poll records and fetch max bytes must not be negative (%d, %d)", c.MaxPollRecords, c.FetchMaxBytes)
	case c.SessionTimeout < 0, c.RebalanceTimeout < 0, c.ReplayWait < 0:
		return fmt.Errorf("kafka: session, rebalance and replay timeouts must not be negative (%s, %s, %s)", c.SessionTimeout, c.RebalanceTimeout, c.ReplayWait)
	}
	if _, err := stream.ParseFormat(string(c.Format)); err != nil {
		return &flagutil.SettingError{Key: "kafka.format", Err: fmt.Errorf("kafka: format: %w", err)}
	}
	switch strings.ToLower(c.SASLMechanism) {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		return flagutil.Invalid("kafka.sasl-mechanism", "kafka: unknown SASL mechanism %q (want plain, scram-sha-256 or scram-sha-512)", c.SASLMechanism)
	}
	if err := sink.ValidateDestination(c.DB, c.Table); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	for _, t := range c.Topics {
		if t == c.deadLetterTopic() {
			return flagutil.Invalid("kafka.dead-letter", "kafka: the dead-letter topic %q is also consumed", t)
		}
	}
	return nil
}

// clientOpts translates the connection settings into franz-go options.
func (c *Config) clientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.SessionTimeout > 0 {
		// A fifth of the session, as franz-go's defaults (45s, 3s) keep it
		// well under: a few lost heartbeats do not cost the partitions.
		opts = append(opts, kgo.SessionTimeout(c.SessionTimeout), kgo.HeartbeatInterval(min(3*time.Second, c.SessionTimeout/5)))
	}
	if c.RebalanceTimeout > 0 {
		opts = append(opts, kgo.RebalanceTimeout(c.RebalanceTimeout))
	}
	if c.TLS || c.TLSCA != "" || c.TLSCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecure} //nolint:gosec // opt-in flag
		if c.TLSCA != "" {
			pem, err := os.ReadFile(c.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("kafka: read TLS CA file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka: TLS CA file %s holds no PEM certificate", c.TLSCA)
			}
		}
		if c.TLSCert != "" || c.TLSKey != "" {
			cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("kafka: load TLS client certificate and key: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch strings.ToLower(c.SASLMechanism) {
	case "":
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka: unknown SASL mechanism %q (want plain, scram-sha-256 or scram-sha-512)", c.SASLMechanism)
	}
	return opts, nil
}
