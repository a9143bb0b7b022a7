package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// Backend is what the listener needs of the server: the SQL executor of
// /api/v1/sql with its limits, the catalog, and the tokens. server.Server
// implements it. All methods are safe for concurrent use.
type Backend interface {
	// CompileSQL plans text over db's tables. Errors may carry a
	// SQLSTATE (an SQLState() string method, or *sql.Error).
	CompileSQL(db, text string, now time.Time) (*sql.Query, error)
	// RunSQL runs a compiled query within the server's query limits; it
	// returns when ctx is canceled. The result is the caller's.
	RunSQL(ctx context.Context, db string, q *sql.Query, raw bool) (*query.Result, error)
	// HoldAnswer returns ctx under which RunSQL keeps its answer's rows
	// reserved of the memory all running queries share, in the returned
	// hold, which the caller releases once they are sent.
	HoldAnswer(ctx context.Context) (context.Context, query.Hold)
	// Databases lists the databases; Tables gives db's table schemas
	// (false when db does not exist). The schemas must not be changed.
	Databases() []string
	Tables(db string) (map[string]*columnar.TableSchema, bool)
	// Ready is false while the engine replays its WAL.
	Ready() bool
	// AuthRequired reports whether tokens are configured; Authenticate
	// checks a token for the read scope and returns its name.
	AuthRequired() bool
	Authenticate(secret string) (string, error)
	// AuthenticateMatch is Authenticate for SCRAM, where the client sends
	// a proof rather than the token: match reports whether the proof was
	// made from a token's secret.
	AuthenticateMatch(match func(secret string) bool) (string, error)
}

// Listener serves the PostgreSQL wire protocol on one address.
type Listener struct {
	cfg   Config
	be    Backend
	log   *slog.Logger
	tls   *tls.Config // nil: no TLS
	scram *scramState

	mu struct {
		sync.Mutex
		ln     net.Listener
		conns  map[uint32]*conn // by process ID, for cancel requests
		open   int              // sessions counted against MaxConnections
		closed bool
		nextID uint32
	}
	wg sync.WaitGroup
}

// New returns a listener that runs queries on be. It fails when the TLS
// key pair cannot be loaded (or no random salt can be drawn).
func New(be Backend, cfg Config) (*Listener, error) {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 16 << 20
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tc, err := cfg.LoadTLS()
	if err != nil {
		return nil, err
	}
	ss, err := newSCRAMState()
	if err != nil {
		return nil, err
	}
	l := &Listener{cfg: cfg, be: be, log: cfg.Logger, tls: tc, scram: ss}
	l.mu.conns = map[uint32]*conn{}
	return l, nil
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (l *Listener) Serve(ln net.Listener) error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ln.Close()
	}
	l.mu.ln = ln
	l.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			l.mu.Lock()
			closed := l.mu.closed
			l.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: back off as
				// net/http does rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.log.Warn("pgwire accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := l.newConn(nc)
		if c == nil {
			_ = nc.Close()
			continue
		}
		go func() {
			defer l.wg.Done()
			defer l.forget(c)
			c.serve()
		}()
	}
}

// newConn registers a connection under a fresh process ID and secret, or
// returns nil once the listener is closed. Past MaxConnections the
// connection is marked refused: its handshake is answered (SSL requests
// included, so that libpq reads the refusal) with SQLSTATE 53300.
func (l *Listener) newConn(nc net.Conn) *conn {
	c := &conn{l: l, nc: nc, raw: nc, stmts: map[string]*statement{}, portals: map[string]*portal{}, tx: 'I'}
	if _, err := rand.Read(c.secret[:]); err != nil {
		// crypto/rand does not fail on Linux; without a secret no
		// cancel request could be trusted.
		panic("pgwire: crypto/rand: " + err.Error())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return nil
	}
	l.wg.Add(1)
	if l.mu.open >= l.cfg.MaxConnections {
		c.refused = true
	} else {
		l.mu.open++
	}
	for {
		l.mu.nextID++
		if _, taken := l.mu.conns[l.mu.nextID]; !taken && l.mu.nextID != 0 {
			break
		}
	}
	c.pid = l.mu.nextID
	l.mu.conns[c.pid] = c
	return c
}

func (l *Listener) forget(c *conn) {
	l.mu.Lock()
	if !c.refused {
		l.mu.open--
	}
	delete(l.mu.conns, c.pid)
	l.mu.Unlock()
}

// cancelRequest cancels the query running on the connection with process
// ID pid if secret is its key; otherwise it does nothing, as PostgreSQL
// (a cancel request gets no answer either way).
func (l *Listener) cancelRequest(pid uint32, secret []byte) {
	l.mu.Lock()
	c := l.mu.conns[pid]
	l.mu.Unlock()
	if c == nil || len(secret) != len(c.secret) || subtle.ConstantTimeCompare(secret, c.secret[:]) != 1 {
		l.log.Debug("pgwire: cancel request for no connection of ours", "pid", pid)
		return
	}
	c.cancelQuery(errCanceledByClient)
}

// Close stops accepting, closes every connection (canceling their
// queries) and waits for them to finish.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.mu.closed = true
	var err error
	if l.mu.ln != nil {
		err = l.mu.ln.Close()
	}
	for _, c := range l.mu.conns {
		c.cancelQuery(errShutdown)
		_ = c.raw.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Addr is the address the listener accepts on, nil before Serve.
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.ln == nil {
		return nil
	}
	return l.mu.ln.Addr()
}
