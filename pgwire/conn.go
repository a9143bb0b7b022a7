package pgwire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Causes of a query's cancellation.
var (
	errCanceledByClient = errors.New("canceling statement due to user request")
	errClientGone       = errors.New("client closed the connection")
	errShutdown         = errors.New("terminating connection due to administrator command")
)

// outFlushBytes is how much output a connection buffers before writing
// it out: large results stream in writes of about this size, small ones
// go in one write with their ReadyForQuery.
const outFlushBytes = 64 << 10

// writeTimeout bounds one write to a client, as the HTTP listener's
// WriteTimeout does.
const writeTimeout = 5 * time.Minute

// conn is one client connection. Its messages are handled in order on
// its own goroutine (serve); a second goroutine (readLoop) reads ahead
// so that a client that goes away is noticed while a query runs.
type conn struct {
	l      *Listener
	nc     net.Conn // raw, or the TLS session over it
	raw    net.Conn // the accepted connection: Close closes it from any goroutine
	br     *bufio.Reader
	pid    uint32
	secret [4]byte
	tls    bool // the session is encrypted
	// refused is set past MaxConnections: the startup is answered 53300.
	refused bool

	db, user string
	tx       byte // transaction status for ReadyForQuery: 'I' or 'T'
	out      []byte
	werr     error // first write error: the client is gone

	stmts   map[string]*statement
	portals map[string]*portal
	// skipping is set after an error in the extended protocol: messages
	// are discarded up to the next Sync.
	skipping bool

	in   chan inbound
	done chan struct{}

	cancel struct {
		sync.Mutex
		// fn cancels the running query; nil between queries, when a
		// cancel request is ignored, as PostgreSQL ignores one that
		// finds its backend idle.
		fn context.CancelCauseFunc
	}
}

type inbound struct {
	f   frame
	err error
}

// serve runs the connection until the client leaves or the listener
// closes. A panic is a bug: it is logged with its stack and ends this
// connection only.
func (c *conn) serve() {
	defer func() {
		if r := recover(); r != nil {
			c.l.log.Error("pgwire: panic serving a connection (a bug); connection closed", "panic", r, "stack", string(debug.Stack()))
			c.sendError(&pgError{severity: "FATAL", code: "XX000", msg: fmt.Sprint("internal error: ", r)})
			c.flush()
		}
		_ = c.nc.Close()
		c.dropPortals()
	}()
	c.br = bufio.NewReaderSize(c.nc, 8<<10)
	if !c.startup() {
		return
	}
	c.in = make(chan inbound, 1)
	c.done = make(chan struct{})
	defer close(c.done)
	go c.readLoop()
	for m := range c.in {
		if m.err != nil {
			if errors.Is(m.err, errTooLarge) {
				c.sendError(&pgError{severity: "FATAL", code: "08P01", msg: m.err.Error()})
				c.flush()
			} else if !isDisconnect(m.err) {
				c.sendError(&pgError{severity: "FATAL", code: "08P01", msg: "invalid message: " + m.err.Error()})
				c.flush()
			}
			return
		}
		msg, err := decodeFrontend(m.f)
		if err != nil {
			// A message whose body does not decode: its length framed it,
			// so the stream is still in step. PostgreSQL closes the
			// connection on a malformed message; so does Silt.
			c.sendError(&pgError{severity: "FATAL", code: "08P01", msg: "invalid message: " + err.Error()})
			c.flush()
			return
		}
		if !c.handle(msg) {
			c.flush()
			return
		}
		if c.werr != nil {
			return
		}
	}
}

// readLoop reads messages ahead of serve. When the client goes away it
// cancels the running query (cause errClientGone) and hands serve the
// error. It holds at most one message it has read and serve has not
// taken.
func (c *conn) readLoop() {
	defer close(c.in)
	for {
		f, err := readFrame(c.br, c.l.cfg.MaxMessageBytes)
		if err != nil {
			if isDisconnect(err) {
				c.cancelQuery(errClientGone)
			}
			select {
			case c.in <- inbound{err: err}:
			case <-c.done:
			}
			return
		}
		select {
		case c.in <- inbound{f: f}:
		case <-c.done:
			return
		}
	}
}

func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET)
}

// handle answers one message; false ends the connection.
func (c *conn) handle(msg pgproto3.FrontendMessage) bool {
	if c.skipping {
		switch msg.(type) {
		case *pgproto3.Sync:
			c.skipping = false
		case *pgproto3.Terminate:
			return false
		default:
			return true
		}
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		c.simpleQuery(m.String)
	case *pgproto3.Parse:
		c.parse(m)
	case *pgproto3.Bind:
		c.bind(m)
	case *pgproto3.Describe:
		c.describe(m)
	case *pgproto3.Execute:
		c.execute(m)
	case *pgproto3.Close:
		if m.ObjectType == 'S' {
			delete(c.stmts, m.Name)
		} else {
			c.dropPortal(m.Name)
		}
		c.send(&pgproto3.CloseComplete{})
	case *pgproto3.Sync:
		// Unnamed portals end with the implicit transaction.
		c.dropPortal("")
		c.readyForQuery()
	case *pgproto3.Flush:
		c.flush()
	case *pgproto3.Terminate:
		return false
	case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
		// Leftovers of a COPY FROM that was refused: ignored, as
		// PostgreSQL does outside COPY IN.
	case *pgproto3.FunctionCall:
		// Answered like a simple query: an error, then ReadyForQuery.
		c.sendError(&pgError{code: "0A000", msg: "the function call protocol is not supported"})
		c.readyForQuery()
	default:
		c.sendError(&pgError{severity: "FATAL", code: "08P01", msg: fmt.Sprintf("unexpected message %T", msg)})
		return false
	}
	return true
}

// send buffers a message, writing the buffer out when it is large.
func (c *conn) send(msg pgproto3.BackendMessage) {
	out, err := msg.Encode(c.out)
	if err != nil {
		// Only a message over 1 GiB fails to encode; nothing Silt sends.
		c.l.log.Error("pgwire: encode message", "type", fmt.Sprintf("%T", msg), "err", err)
		return
	}
	c.out = out
	if len(c.out) >= outFlushBytes {
		c.flush()
	}
}

// flush writes out the buffered messages.
func (c *conn) flush() {
	if len(c.out) == 0 || c.werr != nil {
		c.out = c.out[:0]
		return
	}
	// A client that stops reading must not hold a connection and its
	// result forever: the HTTP listener's write timeout.
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(c.out)
	if err != nil {
		c.werr = err
		c.cancelQuery(errClientGone)
	}
	if cap(c.out) > 4*outFlushBytes {
		c.out = nil // a huge row once: do not keep its buffer
	} else {
		c.out = c.out[:0]
	}
}

func (c *conn) readyForQuery() {
	c.send(&pgproto3.ReadyForQuery{TxStatus: c.tx})
	c.flush()
}

// queryContext returns the context the next query runs under; the
// returned function must be called when it ends.
func (c *conn) queryContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	c.cancel.Lock()
	c.cancel.fn = cancel
	c.cancel.Unlock()
	return ctx, func() {
		c.cancel.Lock()
		c.cancel.fn = nil
		c.cancel.Unlock()
		cancel(nil)
	}
}

// cancelQuery cancels the running query, if any, with cause. Safe from
// any goroutine.
func (c *conn) cancelQuery(cause error) {
	c.cancel.Lock()
	if c.cancel.fn != nil {
		c.cancel.fn(cause)
	}
	c.cancel.Unlock()
}
