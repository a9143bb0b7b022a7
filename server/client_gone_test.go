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
