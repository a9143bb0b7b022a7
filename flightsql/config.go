package flightsql

import (
	"flag"
	"fmt"
	"log/slog"

	"github.com/siltdb/silt/internal/flagutil"
)

// DefaultAddr is where the listener is on by default: the port of the
// InfluxDB 3 clients' Flight examples, on the loopback interface as
// every Silt listener.
const DefaultAddr = "127.0.0.1:8082"

// Config configures the Arrow Flight SQL listener.
type Config struct {
	// Addr is the listen address; empty turns the listener off.
	Addr string
	// MaxMessageBytes bounds one gRPC message a client sends (a query
	// and its ticket): a larger one is refused before it is read whole.
	MaxMessageBytes int
	// BatchRows is the most rows in one Arrow record batch of an answer.
	BatchRows int
	Logger    *slog.Logger
}

// RegisterFlags adds the listener's settings of silt serve to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "flight-addr", DefaultAddr, "Arrow Flight SQL listen address (Grafana's InfluxDB SQL mode, the influxdb3 client libraries, ADBC and JDBC Flight SQL drivers); it also serves the HTTP API, as InfluxDB 3 serves both on one port. Empty turns it off. If the default port is taken a warning is logged and the rest is served; an address given explicitly that cannot be bound stops the start")
	flagutil.IntBytesVar(fs, &c.MaxMessageBytes, "flight-max-message-bytes", 16<<20, "largest gRPC message a Flight SQL client may send (e.g. 16MiB)")
}

// Validate checks the settings as a listener is started with them.
func (c *Config) Validate() error {
	if c.MaxMessageBytes <= 0 {
		return fmt.Errorf("max message bytes must be > 0, got %d", c.MaxMessageBytes)
	}
	if c.BatchRows < 0 {
		return fmt.Errorf("batch rows must not be negative, got %d", c.BatchRows)
	}
	return nil
}
