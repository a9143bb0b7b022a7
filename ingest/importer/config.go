package importer

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Input formats accepted in Config.Format.
const (
	FormatAuto   = "auto"
	FormatLP     = "lp"
	FormatNDJSON = "ndjson"
)

// DefaultServer is the server address used when Config.Server is empty.
const DefaultServer = "http://127.0.0.1:8086"

// MaxStoredRejects caps Result.Rejected; the counters keep counting past it.
const MaxStoredRejects = 1000

// Config controls an import. Start from DefaultConfig: the zero value of
// Resume is false, every other zero field is replaced by its default.
type Config struct {
	// Server is the base URL of the Silt server (default DefaultServer).
	Server string
	// DB is the database to write to. Required.
	DB string
	// Table is the table NDJSON rows are written to when they do not name
	// one. Unused for line protocol, where the measurement is the table.
	Table string
	// Precision of the timestamps in the input: "ns", "us", "ms" or "s".
	// Empty leaves it to the server (nanoseconds).
	Precision string
	// Format is FormatAuto (default), FormatLP or FormatNDJSON. Auto picks
	// NDJSON for .ndjson, .jsonl and .json names (also with .gz after them)
	// and for content whose first non-blank byte is '{', else line protocol.
	Format string
	// Workers is the number of concurrent requests (default 4).
	Workers int
	// BatchLines is the number of data lines per request (default 5000).
	BatchLines int
	// Token is sent as "Authorization: Token <Token>" when not empty.
	Token string
	// StateDir holds the resume checkpoints (default
	// $XDG_CACHE_HOME/silt/import, or ~/.cache/silt/import).
	StateDir string
	// Resume continues files from their checkpoint and skips files that
	// were imported completely. When false every file is imported from the
	// start (checkpoints are still written).
	Resume bool
	// Progress receives a progress bar; nil means no bar.
	Progress io.Writer
	// Log receives notices (resuming, skipping, server busy) and the final
	// summary. Nil means Progress; both nil means silent.
	Log io.Writer
}

// DefaultConfig returns a Config with every default filled in, including
// Resume, which cannot default to true through the zero value.
func DefaultConfig() Config {
	return Config{
		Server:     DefaultServer,
		Format:     FormatAuto,
		Workers:    4,
		BatchLines: 5000,
		Resume:     true,
	}
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Server == "" {
		c.Server = d.Server
	}
	c.Server = strings.TrimRight(c.Server, "/")
	if c.Format == "" {
		c.Format = d.Format
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.BatchLines == 0 {
		c.BatchLines = d.BatchLines
	}
	if c.StateDir == "" {
		dir, err := defaultStateDir()
		if err != nil {
			return c, err
		}
		c.StateDir = dir
	}
	if c.Log == nil {
		c.Log = c.Progress
	}
	return c, nil
}

// Validate reports the first invalid setting, so that callers can treat it
// as a usage error before starting.
func (c Config) Validate() error {
	if c.DB == "" {
		return errors.New("no database given")
	}
	if c.Server != "" {
		u, err := url.Parse(c.Server)
		if err != nil {
			return fmt.Errorf("invalid server address %q: %w", c.Server, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("invalid server address %q: want http://host:port or https://host:port", c.Server)
		}
	}
	switch c.Precision {
	case "", "ns", "us", "ms", "s":
	default:
		return fmt.Errorf("invalid precision %q: want ns, us, ms or s", c.Precision)
	}
	switch c.Format {
	case "", FormatAuto, FormatLP, FormatNDJSON:
	default:
		return fmt.Errorf("invalid format %q: want auto, lp or ndjson", c.Format)
	}
	if c.Workers < 0 {
		return fmt.Errorf("invalid worker count %d: want at least 1", c.Workers)
	}
	if c.BatchLines < 0 {
		return fmt.Errorf("invalid batch size %d: want at least 1 line", c.BatchLines)
	}
	return nil
}

// defaultStateDir is $XDG_CACHE_HOME/silt/import, or ~/.cache/silt/import
// when XDG_CACHE_HOME is unset or not absolute (as the XDG spec requires).
func defaultStateDir() (string, error) {
	if dir := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "silt", "import"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the checkpoint directory (set a state directory explicitly): %w", err)
	}
	return filepath.Join(home, ".cache", "silt", "import"), nil
}

// Result summarises an import. After an interrupted or failed run it covers
// what was acknowledged before the run stopped.
type Result struct {
	Files        int // input files given
	FilesSkipped int // files skipped because a previous run imported them

	RowsSent     int64 // data rows in acknowledged requests
	RowsWritten  int64 // rows the server wrote
	RowsRejected int64 // rows the server rejected (all of them, not just the stored ones)

	Bytes     int64 // input bytes acknowledged (uncompressed, excluding resumed-over prefixes)
	WireBytes int64 // gzip-compressed request bytes acknowledged

	Elapsed time.Duration

	// Rejected holds, by file and line, the bad lines the server
	// reported, up to MaxStoredRejects. The server lists only the first
	// few bad lines of a request (at least the first one), so there may be
	// fewer entries than RowsRejected.
	Rejected []RejectedLine
}

// RejectedLine is a line the server refused.
type RejectedLine struct {
	File   string // path as given to Run
	Line   int64  // 1-based line number in the (uncompressed) file; 0 if unknown
	Reason string // server's error message
	Code   string // server's stable error code
}

func (r RejectedLine) String() string {
	s := fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Reason)
	if r.Code != "" {
		s += " [" + r.Code + "]"
	}
	return s
}

// Summary returns a one-line human summary of r.
func (r Result) Summary() string {
	var w strings.Builder
	if r.Files > 0 && r.FilesSkipped == r.Files {
		if r.Files == 1 {
			return "nothing to do: the file was already imported"
		}
		return fmt.Sprintf("nothing to do: all %d files were already imported", r.Files)
	}
	secs := r.Elapsed.Seconds()
	rate := func(n float64) float64 {
		if secs <= 0 {
			return 0
		}
		return n / secs
	}
	fmt.Fprintf(&w, "%s rows written, %s rejected in %s (%s rows/s, %.1f MB/s)",
		groupThousands(r.RowsWritten), groupThousands(r.RowsRejected),
		r.Elapsed.Round(time.Millisecond),
		groupThousands(int64(rate(float64(r.RowsSent)))),
		rate(float64(r.Bytes))/1e6)
	if r.FilesSkipped > 0 {
		fmt.Fprintf(&w, "; %d of %d files already imported", r.FilesSkipped, r.Files)
	}
	return w.String()
}

// groupThousands formats n as 1,234,567.
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
