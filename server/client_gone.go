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
// read means the peer sent FIN. One goroutine (clients) checks every
// running query's connection on one ticker, not a goroutine or a timer of
// each query's own: most queries end before the first check, and arming
// a timer for each woke a sleeping thread (the runtime's netpoller) per
// query, a third of a small query's fixed CPU in process.
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
	clients.add(w)
	return func() { clients.remove(w) }
}

// clientWatch is one watchClient's connection and callback.
type clientWatch struct {
	raw  syscall.RawConn
	gone func()
}

// clientWatcher holds the watched connections. Its goroutine runs while
// there are any: it ends at the first tick that finds none, and the next
// add starts it again, so an idle server wakes for nothing.
type clientWatcher struct {
	mu      sync.Mutex
	watches map[*clientWatch]struct{}
	running bool
}

var clients = &clientWatcher{watches: map[*clientWatch]struct{}{}}

func (cw *clientWatcher) add(w *clientWatch) {
	cw.mu.Lock()
	cw.watches[w] = struct{}{}
	start := !cw.running
	cw.running = true
	cw.mu.Unlock()
	if start {
		go cw.loop()
	}
}

// remove ends w's watch: gone is not called after remove returns, unless
// a check that found the client gone had already taken w out.
func (cw *clientWatcher) remove(w *clientWatch) {
	cw.mu.Lock()
	delete(cw.watches, w)
	cw.mu.Unlock()
}

func (cw *clientWatcher) loop() {
	t := time.NewTicker(clientPoll)
	defer t.Stop()
	var batch []*clientWatch
	for range t.C {
		cw.mu.Lock()
		if len(cw.watches) == 0 {
			cw.running = false
			cw.mu.Unlock()
			return
		}
		batch = batch[:0]
		for w := range cw.watches {
			batch = append(batch, w)
		}
		cw.mu.Unlock()
		// The peeks run without the lock: queries start and end
		// meanwhile.
		for i, w := range batch {
			batch[i] = nil // nothing of a finished query kept to the next tick
			if !peerClosed(w.raw) {
				continue
			}
			cw.mu.Lock()
			_, live := cw.watches[w] // not stopped meanwhile
			delete(cw.watches, w)
			cw.mu.Unlock()
			if live {
				w.gone()
			}
		}
	}
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
