package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/stream"
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
	FetchMaxBytes  int32
	ClientID       string
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
	// CommitDelay (tests only) delays each poll's group commit after its
	// WAL fsync, widening the window a kill -9 must hit to leave the group
	// behind the WAL.
	CommitDelay time.Duration
	// GateCommitDelay (tests only) delays a flush's group commit between
	// building it and handing it to franz-go, as a rebalance's join and
	// sync can: the window in which a revoke must not be overtaken by it.
	GateCommitDelay time.Duration
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
		return errors.New("kafka: no brokers (--kafka.brokers)")
	case len(c.Topics) == 0:
		return errors.New("kafka: no topics (--kafka.topics)")
	case c.Group == "":
		return errors.New("kafka: no consumer group (--kafka.group)")
	case c.DB == "":
		return errors.New("kafka: no database (--kafka.db)")
	case c.DeadLetter == "":
		return errors.New("kafka: no dead letter (--kafka.dead-letter file:PATH or a topic)")
	}
	if _, err := stream.ParseFormat(string(c.Format)); err != nil {
		return fmt.Errorf("kafka: --kafka.format: %w", err)
	}
	for _, t := range c.Topics {
		if t == c.deadLetterTopic() {
			return fmt.Errorf("kafka: the dead-letter topic %q is also consumed", t)
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
	if c.TLS || c.TLSCA != "" || c.TLSCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecure} //nolint:gosec // opt-in flag
		if c.TLSCA != "" {
			pem, err := os.ReadFile(c.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("kafka: read --kafka.tls-ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka: --kafka.tls-ca %s holds no PEM certificate", c.TLSCA)
			}
		}
		if c.TLSCert != "" || c.TLSKey != "" {
			cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("kafka: load --kafka.tls-cert/--kafka.tls-key: %w", err)
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
		return nil, fmt.Errorf("kafka: unknown --kafka.sasl-mechanism %q (want plain, scram-sha-256 or scram-sha-512)", c.SASLMechanism)
	}
	return opts, nil
}
