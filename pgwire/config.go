package pgwire

import (
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
	Logger          *slog.Logger
}

// RegisterFlags adds the listener's settings of silt serve to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "pg-addr", DefaultAddr, "PostgreSQL wire protocol listen address (psql, pgx, psycopg2, Grafana's PostgreSQL data source); empty turns it off. If the default port is taken (a local PostgreSQL) a warning is logged and the rest is served; an address given explicitly that cannot be bound stops the start")
	flagutil.IntBytesVar(fs, &c.MaxMessageBytes, "pg-max-message-bytes", 16<<20, "largest PostgreSQL protocol message a client may send (a query and its parameters, e.g. 16MiB); larger gets a protocol error")
}

// Validate checks the settings as a listener is started with them.
func (c *Config) Validate() error {
	if c.MaxMessageBytes <= 0 {
		return fmt.Errorf("max message bytes must be > 0, got %d", c.MaxMessageBytes)
	}
	return nil
}
