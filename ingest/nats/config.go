package nats

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/ingest/stream"
	"github.com/siltdb/silt/internal/flagutil"
)

// Config configures a Consumer.
type Config struct {
	URL        string
	Stream     string
	Consumer   string // durable consumer name
	Subject    string // filter subject ("" = every subject of the stream)
	Format     stream.Format
	DB         string // database unless a message header "db" names another
	Table      string // table of JSON rows that name none
	Precision  columnar.Precision
	DeadLetter string // "file:PATH" or "subject:NAME" (a subject bound to a stream)
	// MaxLineBytes bounds one line of a message (0: the decoders' default);
	// a message with a longer line is dead-lettered.
	MaxLineBytes int
	Batch        int // messages per fetch (and per WAL record)
	AckWait      time.Duration

	// Credentials and TLS, each optional.
	User, Password string
	Token          string
	Creds          string // credentials file (JWT and seed)
	TLSCA          string // PEM file of CAs to trust

	Options []nats.Option // more connection options (tests)
}

// RegisterFlags adds the --nats.* settings of silt serve to fs, with their
// defaults, writing into c. A URL enables the source.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "nats.url", "", "NATS server URL(s), comma separated (nats://host:4222); enables the JetStream source")
	fs.StringVar(&c.Stream, "nats.stream", "", "JetStream stream to consume")
	fs.StringVar(&c.Consumer, "nats.consumer", "silt", "durable pull consumer name (created if missing); one per Silt instance")
	fs.StringVar(&c.Subject, "nats.subject", "", "filter subject of the consumer (default: every subject of the stream)")
	fs.StringVar((*string)(&c.Format), "nats.format", string(stream.FormatLine), "message format: line or json")
	fs.StringVar(&c.DB, "nats.db", "", "database for the rows, unless a message header 'db' names another")
	fs.StringVar(&c.Table, "nats.table", "", "table of JSON rows that name none")
	stream.PrecisionVar(fs, &c.Precision, "nats.precision", "unit of timestamps in the messages: ns, us, ms, s")
	fs.StringVar(&c.DeadLetter, "nats.dead-letter", "", "where undecodable messages go: subject:NAME (captured by a stream) or file:PATH (default file:<data-dir>/nats-dead-letter.ndjson)")
	fs.StringVar(&c.User, "nats.user", "", "NATS user")
	fs.StringVar(&c.Password, "nats.password", "", "NATS password; visible to other local users in ps: prefer --nats.password-file")
	flagutil.SecretFileVar(fs, &c.Password, "nats.password-file", "file holding the NATS password (must not be readable by group or others: chmod 600)")
	fs.StringVar(&c.Token, "nats.token", "", "NATS token; visible to other local users in ps: prefer --nats.token-file")
	flagutil.SecretFileVar(fs, &c.Token, "nats.token-file", "file holding the NATS token (must not be readable by group or others: chmod 600)")
	fs.StringVar(&c.Creds, "nats.creds", "", "NATS credentials file (JWT + seed)")
	fs.StringVar(&c.TLSCA, "nats.tls-ca", "", "PEM file of CA certificates to trust for TLS")
	fs.IntVar(&c.Batch, "nats.batch", defaultBatch, "messages per fetch (one WAL record per database)")
	fs.DurationVar(&c.AckWait, "nats.ack-wait", defaultAckWait, "ack wait of a consumer Silt creates")
}

// Enabled reports whether the source is configured (a URL is set).
func (c *Config) Enabled() bool { return c.URL != "" }

// DefaultDeadLetter sets DeadLetter, if unset, to a file in dataDir.
func (c *Config) DefaultDeadLetter(dataDir string) {
	if c.DeadLetter == "" {
		c.DeadLetter = "file:" + filepath.Join(dataDir, "nats-dead-letter.ndjson")
	}
}

// connOptions are the connection options the settings name.
func (c *Config) connOptions() []nats.Option {
	opts := []nats.Option{nats.Name("silt"), nats.MaxReconnects(-1)}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, nats.Token(c.Token))
	}
	if c.Creds != "" {
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	return append(opts, c.Options...)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.URL == "":
		return flagutil.Invalid("nats.url", "nats: no server URL")
	case c.Stream == "":
		return flagutil.Invalid("nats.stream", "nats: no stream")
	case c.Consumer == "":
		return flagutil.Invalid("nats.consumer", "nats: no durable consumer name")
	case c.DB == "":
		return flagutil.Invalid("nats.db", "nats: no database")
	case !strings.HasPrefix(c.DeadLetter, "file:") && !strings.HasPrefix(c.DeadLetter, "subject:"):
		return flagutil.Invalid("nats.dead-letter", "nats: dead letter %q: want file:PATH or subject:NAME", c.DeadLetter)
	case c.Batch < 0, c.AckWait < 0:
		return fmt.Errorf("nats: batch and ack wait must not be negative (%d, %s)", c.Batch, c.AckWait)
	}
	if _, err := stream.ParseFormat(string(c.Format)); err != nil {
		return &flagutil.SettingError{Key: "nats.format", Err: fmt.Errorf("nats: format: %w", err)}
	}
	if err := sink.ValidateDestination(c.DB, c.Table); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	return nil
}
