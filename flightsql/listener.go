package flightsql

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// Backend is what the listener needs of the server: the SQL and InfluxQL
// executors of the HTTP API with their limits, the catalog and the
// tokens. server.Server implements it. All methods are safe for
// concurrent use.
type Backend interface {
	// CompileSQL plans text over db's tables; RunSQL runs the plan
	// within the server's query limits (--query-timeout,
	// --query-max-memory, --query-max-rows) and returns when ctx is
	// canceled. Their errors are the server's *QueryError.
	CompileSQL(db, text string, now time.Time) (*sql.Query, error)
	RunSQL(ctx context.Context, db string, q *sql.Query, raw bool) (*query.Result, error)
	// RunInfluxQL runs InfluxQL reads and answers them as one table
	// (a first column iox::measurement), as InfluxDB 3 does; params is
	// the JSON object of the values of text's $name parameters (empty:
	// none).
	RunInfluxQL(ctx context.Context, db, text string, params json.RawMessage, now time.Time) (*query.Result, error)
	// HoldAnswer returns ctx under which a query run keeps its answer
	// reserved of the memory all running queries share
	// (--query-max-memory-total), in the returned hold, to which the
	// record batches built from it are charged too; the caller
	// releases the hold once the answer is sent.
	HoldAnswer(ctx context.Context) (context.Context, query.Hold)
	Databases() []string
	Tables(db string) (map[string]*columnar.TableSchema, bool)
	// Ready is false while the engine replays its WAL.
	Ready() bool
	// AuthRequired reports whether tokens are configured; Authenticate
	// checks a token for the read scope and returns its name.
	AuthRequired() bool
	Authenticate(secret string) (string, error)
}

// Listener serves Arrow Flight SQL (gRPC) and, on the same port, the
// HTTP API: a connection that opens with HTTP/2's preface is gRPC, any
// other is handed to the HTTP server. InfluxDB 3 clients use one address
// for both writes (HTTP) and queries (Flight).
type Listener struct {
	cfg  Config
	be   Backend
	log  *slog.Logger
	grpc *grpc.Server
	// http serves the HTTP side of the port; nil answers HTTP
	// connections by closing them.
	http func(net.Listener) error

	mu     sync.Mutex
	ln     net.Listener
	subs   []*subListener
	closed bool
	wg     sync.WaitGroup
}

// New returns a listener that runs queries on be; http, if not nil,
// serves the HTTP/1.1 connections of the port (server.Server.Serve).
func New(be Backend, cfg Config, http func(net.Listener) error) *Listener {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 16 << 20
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Listener{cfg: cfg, be: be, log: cfg.Logger, http: http}
	l.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
		grpc.ChainUnaryInterceptor(l.unaryAuth, l.unaryErrors),
		grpc.ChainStreamInterceptor(l.streamAuth, l.streamErrors),
	)
	flight.RegisterFlightServiceServer(l.grpc, newService(l))
	return l
}

// Serve accepts connections on ln until Close. It returns nil after
// Close.
func (l *Listener) Serve(ln net.Listener) error {
	grpcLn, httpLn := newSubListener(ln.Addr()), newSubListener(ln.Addr())
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ln.Close()
	}
	l.ln = ln
	l.subs = []*subListener{grpcLn, httpLn}
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := l.grpc.Serve(grpcLn); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, grpc.ErrServerStopped) {
			l.log.Error("Flight SQL gRPC server stopped", "err", err)
		}
	}()
	if l.http != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := l.http(httpLn); err != nil && !errors.Is(err, net.ErrClosed) {
				l.log.Error("HTTP on the Flight SQL port stopped", "err", err)
			}
		}()
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go l.route(c, grpcLn, httpLn)
	}
}

// prefaceWait bounds how long a new connection may take to send its
// first bytes, which say whether it is gRPC or HTTP.
const prefaceWait = 10 * time.Second

// http2Preface opens every HTTP/2 connection, gRPC's included.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// route reads a new connection's first bytes and hands it to the gRPC
// or the HTTP side; the bytes read are replayed to whichever reads it.
func (l *Listener) route(c net.Conn, grpcLn, httpLn *subListener) {
	_ = c.SetReadDeadline(time.Now().Add(prefaceWait))
	buf := make([]byte, len(http2Preface))
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if string(buf[:n]) != http2Preface[:n] {
			break // not HTTP/2: no need to wait for more
		}
		if err != nil {
			_ = c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, prefix: buf[:n]}
	if n == len(buf) && string(buf) == http2Preface {
		grpcLn.push(pc)
		return
	}
	if l.http == nil {
		_ = c.Close()
		return
	}
	httpLn.push(pc)
}

// Close stops accepting connections and ends the open streams (their
// queries canceled).
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	ln, subs := l.ln, l.subs
	l.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	l.grpc.Stop()
	for _, s := range subs {
		_ = s.Close()
	}
	l.wg.Wait()
	return err
}

// Addr is the address the listener is bound to (nil before Serve).
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// prefixConn replays the bytes route read before the connection's own.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// subListener is one side (gRPC or HTTP) of the port: it accepts the
// connections route pushes to it.
type subListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newSubListener(addr net.Addr) *subListener {
	return &subListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (s *subListener) push(c net.Conn) {
	select {
	case s.conns <- c:
	case <-s.done:
		_ = c.Close()
	}
}

func (s *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *subListener) Close() error {
	s.closed.Do(func() { close(s.done) })
	return nil
}

func (s *subListener) Addr() net.Addr { return s.addr }

// Auth: every call carries the token as gRPC metadata, as HTTP requests
// carry it in a header: authorization: Bearer <token> (or Token, or
// Basic with the token as the password).

func (l *Listener) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (l *Listener) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := l.check(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// check admits a call: a token with the read scope when auth is on, and
// an engine done replaying its WAL.
func (l *Listener) check(ctx context.Context) error {
	if l.be.AuthRequired() {
		md, _ := metadata.FromIncomingContext(ctx)
		secret, how := credentials(md.Get("authorization"))
		if secret == "" {
			msg := "authentication required: send the metadata authorization: Bearer <token>"
			if how != "" {
				msg = "invalid token (" + how + ")"
			}
			return status.Error(codes.Unauthenticated, msg)
		}
		if name, err := l.be.Authenticate(secret); err != nil {
			if name == "" {
				return status.Error(codes.Unauthenticated, "invalid token (from the authorization metadata)")
			}
			return status.Error(codes.PermissionDenied, err.Error())
		}
	}
	if !l.be.Ready() {
		return status.Error(codes.Unavailable, "the server is starting up (replaying the WAL); retry shortly")
	}
	return nil
}

// credentials reads the token of an authorization value; how says what
// was wrong with one that gives none.
func credentials(vals []string) (secret, how string) {
	if len(vals) == 0 {
		return "", ""
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		if rest == "" {
			return "", "empty token"
		}
		return rest, ""
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", "bad Basic encoding"
		}
		_, pass, _ := strings.Cut(string(raw), ":")
		if pass == "" {
			return "", "Basic credentials without a password"
		}
		return pass, ""
	}
	return "", "unknown authorization scheme: want Bearer"
}

// database is the database a call names in its metadata: database, as
// Grafana's SQL mode and the InfluxDB 3 clients send it, or bucket or
// bucket-name, as older InfluxDB clients do.
func database(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, k := range []string{"database", "bucket", "bucket-name", "iox-namespace-name"} {
		if v := md.Get(k); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}
