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
	flagutil.BytesVar(fs, &c.QueryMaxMemory, "query-max-memory", 1<<30, "memory one query may hold: the columns it reads and its answer's rows (e.g. 1GiB)")
	flagutil.BytesVar(fs, &c.QueryMaxMemoryTotal, "query-max-memory-total", 4<<30, "memory all running queries (SQL, InfluxQL, PromQL, Flight SQL) may hold together, counted as --query-max-memory counts it, answers until they are sent; a query that would pass it gets 422 query-memory-limit (0: no shared bound)")
	fs.Var(&tokenList{toks: &c.Tokens, err: &c.tokenErr}, "auth-token", "an API token NAME:SECRET:SCOPES (SCOPES: read, write, admin, cluster, comma-separated; admin, or all, grants the first three and is needed to drop, delete or set retention; cluster, only a query node's calls to writers); repeat for more. With any token, every endpoint but /health and /ping needs one. Visible to other local users in ps: prefer --auth-tokens-file or $"+TokensEnv)
	fs.StringVar(&c.TokensFile, "auth-tokens-file", "", "file of API tokens, one NAME:SECRET:SCOPES a line (# comments); must not be readable by group or others (chmod 600); adds to --auth-token")
	fs.StringVar(&c.TokensFile, "auth-token-file", "", "alias of --auth-tokens-file")
	fs.IntVar(&c.MaxRequestsPerClient, "max-requests-per-client", 32, "requests one client (a token with auth on, else an IP address) may have in flight; more get 429 with Retry-After (0: no limit)")
	flagutil.BytesVar(fs, &c.MaxInflightBodyBytes, "max-inflight-body-bytes", 256<<20, "request body bytes all clients together may have the server read or hold at once (e.g. 256MiB); a request that would go over gets 503 with Retry-After before its body is read (0: no limit)")
	fs.BoolVar(&c.DebugPprof, "debug.pprof", false, "serve Go's profiles at /debug/pprof (admin scope with auth on; never the command line; profiles capped at 30 s)")
	flagutil.ListVar(fs, &c.AllowedOrigins, "http-allowed-origins", "a browser origin (scheme://host[:port]) allowed to change state cross-site and answered CORS headers; repeat or comma-separate for more. None: CORS is off and cross-site writes from web pages are refused")
	fs.BoolVar(&c.AccessLog, "access-log", false, "log one line per HTTP request: method, path, status, bytes, duration, client address, db and request id (never query strings, headers, tokens or bodies)")
}

// Validate checks the settings as a server is started with them.
func (c *Config) Validate() error {
	switch {
	case c.tokenErr != nil:
		return c.tokenErr
	case c.MaxRequestsPerClient < 0:
		return fmt.Errorf("max requests per client must not be negative, got %d", c.MaxRequestsPerClient)
	case c.MaxInflightBodyBytes < 0:
		return fmt.Errorf("max in-flight body bytes must not be negative, got %d", c.MaxInflightBodyBytes)
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("max body bytes must be > 0, got %d", c.MaxBodyBytes)
	case c.QueryTimeout <= 0:
		return fmt.Errorf("query timeout must be > 0, got %s", c.QueryTimeout)
	case c.QueryMaxRows <= 0:
		return fmt.Errorf("query max rows must be > 0, got %d", c.QueryMaxRows)
	case c.QueryMaxMemory <= 0:
		return fmt.Errorf("query max memory must be > 0, got %d", c.QueryMaxMemory)
	case c.QueryMaxMemoryTotal < 0:
		return fmt.Errorf("query max memory total must not be negative, got %d", c.QueryMaxMemoryTotal)
	}
	return nil
}

// TokensEnv is the environment variable silt serve reads API tokens from
// (NAME:SECRET:SCOPES, separated by newlines or semicolons), in addition to
// --auth-token and --auth-tokens-file: the way to pass secrets to a
// container without a file or the command line.
const TokensEnv = "SILT_AUTH_TOKENS"

// LoadSecrets adds the tokens of TokensFile (if set) and of the TokensEnv
// variable (looked up with getenv) to Tokens. It reads a file, so it runs
// when the server opens, not in Validate. Errors never hold a secret.
func (c *Config) LoadSecrets(getenv func(string) string) error {
	if c.TokensFile != "" {
		more, err := LoadTokens(c.TokensFile)
		if err != nil {
			return fmt.Errorf("--auth-tokens-file: %w", err)
		}
		c.Tokens = append(c.Tokens, more...)
	}
	if v := getenv(TokensEnv); v != "" {
		more, err := ParseTokens("$"+TokensEnv, v)
		if err != nil {
			return err
		}
		c.Tokens = append(c.Tokens, more...)
	}
	return nil
}

// tokenList is the repeatable token flag: each use adds one. A bad token
// is kept in err for Validate rather than returned, because the flag
// package quotes the value of a flag it refuses, secret included.
type tokenList struct {
	toks *[]Token
	err  *error
}

func (l *tokenList) String() string {
	if l == nil || l.toks == nil {
		return "0 tokens"
	}
	return strconv.Itoa(len(*l.toks)) + " tokens"
}

func (l *tokenList) Set(s string) error {
	t, err := ParseToken(s)
	if err != nil {
		if *l.err == nil {
			*l.err = fmt.Errorf("--auth-token: %w", err)
		}
		return nil
	}
	*l.toks = append(*l.toks, t)
	return nil
}
