package pgwire

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/siltdb/silt/internal/flagutil"
)

// DefaultAddr is where the listener is on by default: PostgreSQL's port,
// on the loopback interface as every Silt listener.
const DefaultAddr = "127.0.0.1:5432"

// Config configures the PostgreSQL listener.
type Config struct {
	// Addr is the listen address; empty turns the listener off.
	Addr string
	// MaxMessageBytes bounds one client message (a query's text and its
	// parameters): a larger one is answered a protocol error and the
	// connection closed, before its body is read. 16 MiB holds any query
	// a dashboard writes many times over, while bounding what a client
	// can make the server hold per connection.
	MaxMessageBytes int
	// MaxConnections bounds the sessions open at once; one more is
	// answered SQLSTATE 53300 and closed, as PostgreSQL's max_connections.
	MaxConnections int
	// TLSCertFile and TLSKeyFile, both set, turn TLS on: an SSLRequest
	// is answered 'S' and the session continues encrypted. Clients that
	// do not ask for TLS are still served in plain text (libpq's
	// sslmode=prefer asks; require refuses a server without it).
	TLSCertFile, TLSKeyFile string
	Logger                  *slog.Logger
}

// RegisterFlags adds the listener's settings of silt serve to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "pg-addr", DefaultAddr, "PostgreSQL wire protocol listen address (psql, pgx, psycopg2, Grafana's PostgreSQL data source); empty turns it off. If the default port is taken (a local PostgreSQL) a warning is logged and the rest is served; an address given explicitly that cannot be bound stops the start")
	fs.StringVar(&c.TLSCertFile, "pg-tls-cert", "", "PEM certificate (chain) for TLS on the PostgreSQL listener; with --pg-tls-key, clients that ask for TLS (sslmode=prefer, require, verify-full) get it")
	fs.StringVar(&c.TLSKeyFile, "pg-tls-key", "", "PEM private key of --pg-tls-cert")
	fs.IntVar(&c.MaxConnections, "pg-max-connections", 256, "PostgreSQL sessions open at once; one more gets 'too many connections' (SQLSTATE 53300). Each holds a goroutine and, while a query runs, its result")
	flagutil.IntBytesVar(fs, &c.MaxMessageBytes, "pg-max-message-bytes", 16<<20, "largest PostgreSQL protocol message a client may send (a query and its parameters, e.g. 16MiB); larger gets a protocol error")
}

// Validate checks the settings as a listener is started with them.
func (c *Config) Validate() error {
	if c.MaxMessageBytes <= 0 {
		return fmt.Errorf("max message bytes must be > 0, got %d", c.MaxMessageBytes)
	}
	if c.MaxConnections <= 0 {
		return fmt.Errorf("max connections must be > 0, got %d", c.MaxConnections)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("TLS needs both a certificate and a key (--pg-tls-cert, --pg-tls-key)")
	}
	return nil
}

// LoadTLS loads the certificate, or returns nil when TLS is off: New
// calls it, and silt serve before it opens anything, so that a bad key
// pair is a start-up error.
func (c *Config) LoadTLS() (*tls.Config, error) {
	if c.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load PostgreSQL listener TLS key pair (--pg-tls-cert, --pg-tls-key): %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
