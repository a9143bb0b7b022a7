package server

import (
	"io"
	"net"
	"testing"
	"time"
)

// The watcher must notice a closed client over a real TCP connection, and
// must neither fire nor consume bytes while the client is connected, even
// with a pipelined request waiting in the socket.
func TestWatchClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gone := make(chan struct{})
	stop := watchClient(conn, func() { close(gone) })
	defer stop()

	if _, err := client.Write([]byte("GET /next HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
		t.Fatal("reported gone while the client is connected")
	case <-time.After(10 * clientPoll):
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	// The pipelined bytes are still there for the server to read: peeking
	// consumed nothing. Only after them does the connection end.
	got, err := io.ReadAll(io.LimitReader(conn, 20))
	if err != nil || string(got) != "GET /next HTTP/1.1\r\n" {
		t.Fatalf("server read %q, %v", got, err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("closed client not noticed")
	}
}

// A stopped watcher never reports the client gone, even when the client
// then leaves (the answer was sent; the query is over).
func TestWatchClientStopped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gone := make(chan struct{})
	stop := watchClient(conn, func() { close(gone) })
	stop()
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
		t.Fatal("a stopped watcher reported the client gone")
	case <-time.After(5 * clientPoll):
	}
}

// One watcher goroutine checks every running query's connection: closing
// one client reports that query alone, and after the watcher has gone idle
// (no query left to watch) a new query's client is still watched.
func TestWatchClientShared(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (client, server net.Conn) {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close(); server.Close() })
		return client, server
	}
	var clientConns []net.Conn
	var gones []chan struct{}
	var stops []func()
	for range 3 {
		c, s := pair()
		gone := make(chan struct{})
		clientConns, gones = append(clientConns, c), append(gones, gone)
		stops = append(stops, watchClient(s, func() { close(gone) }))
	}
	if err := clientConns[1].Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gones[1]:
	case <-time.After(10 * time.Second):
		t.Fatal("the closed client not noticed")
	}
	for _, i := range []int{0, 2} {
		select {
		case <-gones[i]:
			t.Fatalf("query %d reported gone: its client is connected", i)
		case <-time.After(3 * clientPoll):
		}
	}
	for _, stop := range stops {
		stop()
	}
	// Ticks with nothing to watch: the watcher's goroutine ends.
	time.Sleep(4 * clientPoll)
	c, s := pair()
	gone := make(chan struct{})
	defer watchClient(s, func() { close(gone) })()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("a client closed after the watcher went idle not noticed")
	}
}
