package server

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/siltdb/silt/internal/flagutil"
)

// RegisterFlags adds the HTTP, query and auth settings of silt serve to
// fs, with their defaults, writing into c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "http-addr", "127.0.0.1:8086", "HTTP listen address")
	flagutil.IntBytesVar(fs, &c.MaxBodyBytes, "max-body-bytes", 64<<20, "largest write request body, after gzip decompression; larger gets 413")
	fs.DurationVar(&c.QueryTimeout, "query-timeout", time.Minute, "longest a SQL query may run")
	fs.IntVar(&c.QueryMaxRows, "query-max-rows", 1_000_000, "most rows a SQL result may have")
	flagutil.BytesVar(fs, &c.QueryMaxMemory, "query-max-memory", 1<<30, "memory one SQL query may use for the columns it reads (e.g. 1GiB)")
	fs.Var((*tokenList)(&c.Tokens), "auth-token", "an API token NAME:SECRET:SCOPES (SCOPES: read, write, admin, comma-separated; admin, or all, grants all three and is needed to drop, delete or set retention); repeat for more. With any token, every endpoint but /health and /ping needs one. Prefer --auth-tokens-file: a command line is visible to other local users")
	fs.StringVar(&c.TokensFile, "auth-tokens-file", "", "file of API tokens, one NAME:SECRET:SCOPES a line (# comments); adds to --auth-token")
	fs.BoolVar(&c.DebugPprof, "debug.pprof", false, "serve Go's profiles at /debug/pprof (admin scope with auth on; never the command line; profiles capped at 30 s)")
	flagutil.ListVar(fs, &c.AllowedOrigins, "http-allowed-origins", "a browser origin (scheme://host[:port]) allowed to change state cross-site and answered CORS headers; repeat or comma-separate for more. None: CORS is off and cross-site writes from web pages are refused")
}

// Validate checks the settings as a server is started with them.
func (c *Config) Validate() error {
	switch {
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("max body bytes must be > 0, got %d", c.MaxBodyBytes)
	case c.QueryTimeout <= 0:
		return fmt.Errorf("query timeout must be > 0, got %s", c.QueryTimeout)
	case c.QueryMaxRows <= 0:
		return fmt.Errorf("query max rows must be > 0, got %d", c.QueryMaxRows)
	case c.QueryMaxMemory <= 0:
		return fmt.Errorf("query max memory must be > 0, got %d", c.QueryMaxMemory)
	}
	return nil
}

// LoadTokensFile adds the tokens of TokensFile (if set) to Tokens; it is
// the one setting that reads a file, so it runs when the server opens, not
// in Validate.
func (c *Config) LoadTokensFile() error {
	if c.TokensFile == "" {
		return nil
	}
	more, err := LoadTokens(c.TokensFile)
	if err != nil {
		return err
	}
	c.Tokens = append(c.Tokens, more...)
	return nil
}

// tokenList is the repeatable token flag: each use adds one.
type tokenList []Token

func (l *tokenList) String() string {
	if l == nil {
		return "0 tokens"
	}
	return strconv.Itoa(len(*l)) + " tokens"
}

func (l *tokenList) Set(s string) error {
	t, err := ParseToken(s)
	if err != nil {
		return err
	}
	*l = append(*l, t)
	return nil
}
