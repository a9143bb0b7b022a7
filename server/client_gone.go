package server

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// errClientGone is the cause of a query context canceled because its
// client closed the connection.
var errClientGone = errors.New("client closed the connection")

// clientPoll is how often a running query checks that its client is
// still connected.
const clientPoll = 50 * time.Millisecond

// queryContext returns the context a query runs under: canceled after
// --query-timeout, or as soon as the client disconnects (cause
// errClientGone), so an abandoned dashboard refresh stops using cores.
func (s *Server) queryContext(rc *fasthttp.RequestCtx) (context.Context, context.CancelFunc) {
	ctx, cancelTimeout := context.WithTimeout(context.Background(), s.cfg.QueryTimeout)
	ctx, cancel := context.WithCancelCause(ctx)
	stop := watchClient(rc.Conn(), func() {
		s.metrics.queriesCanceled.WithLabelValues("client-gone").Inc()
		cancel(errClientGone)
	})
	return ctx, func() { stop(); cancel(nil); cancelTimeout() }
}

// watchClient calls gone once if conn's peer closes it, checking every
// clientPoll until stop is called. fasthttp gives handlers no signal for
// this, and reading the connection would take bytes of a pipelined next
// request, so the check peeks at the socket without consuming: a zero-byte
// read means the peer sent FIN. The checks run on a timer, not on a
// goroutine of their own: most queries end before the first check, and a
// goroutine started and woken for each would cost more than the query's
// planning.
func watchClient(conn net.Conn, gone func()) (stop func()) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	w := &clientWatch{raw: raw, gone: gone}
	w.mu.Lock() // the timer's first check reads w.t
	w.t = time.AfterFunc(clientPoll, w.check)
	w.mu.Unlock()
	return w.stop
}

// clientWatch is one watchClient: its timer and whether it has ended.
type clientWatch struct {
	raw  syscall.RawConn
	gone func()
	mu   sync.Mutex
	t    *time.Timer
	done bool // stopped, or the peer was found gone
}

func (w *clientWatch) check() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	if !peerClosed(w.raw) {
		w.t.Reset(clientPoll)
		w.mu.Unlock()
		return
	}
	w.done = true
	w.mu.Unlock()
	w.gone()
}

func (w *clientWatch) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	w.t.Stop()
}

// peerClosed peeks at the socket without blocking or consuming.
func peerClosed(raw syscall.RawConn) bool {
	var closed bool
	var buf [1]byte
	err := raw.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			closed = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default: // ECONNRESET and the like
			closed = true
		}
	})
	return err == nil && closed
}
