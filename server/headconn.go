package server

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// A request whose line or headers fasthttp cannot read (too large, not
// HTTP) reaches transportError with its header reset, method included, so
// the answer could not tell a HEAD, whose answer must have no body (RFC
// 9110 §9.3.2). headListener's connections remember whether the bytes
// that began the current request — the first read after the previous
// answer was written — began with "HEAD ". Pipelined requests that arrive
// in one read share the first one's verdict; an error answer closes the
// connection anyway.

type headListener struct{ net.Listener }

func (l headListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &headConn{Conn: c}
	hc.fresh.Store(true)
	return hc, nil
}

type headConn struct {
	net.Conn
	fresh  atomic.Bool // the next read begins a request
	prefix [5]byte     // its first bytes, stray CR and LF skipped
	n      int         // bytes of prefix filled
	head   atomic.Bool // the request began with "HEAD "
}

func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.fresh.Load() && n > 0 {
		c.fresh.Store(false)
		c.n = 0
		c.head.Store(false)
	}
	if c.n < len(c.prefix) {
		for _, b := range p[:n] {
			if c.n == 0 && (b == '\r' || b == '\n') {
				continue
			}
			c.prefix[c.n] = b
			c.n++
			if c.n == len(c.prefix) {
				c.head.Store(string(c.prefix[:]) == "HEAD ")
				break
			}
		}
	}
	return n, err
}

func (c *headConn) Write(p []byte) (int, error) {
	c.fresh.Store(true)
	return c.Conn.Write(p)
}

// SyscallConn lets watchClient peek at the socket through the wrapper.
func (c *headConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("connection has no file descriptor")
}

// requestWasHead reports whether the request being answered on conn began
// with HEAD, as far as its first bytes tell.
func requestWasHead(conn net.Conn) bool {
	hc, ok := conn.(*headConn)
	return ok && hc.head.Load()
}
