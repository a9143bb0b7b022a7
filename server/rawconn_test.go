package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// dialRaw opens a TCP connection to s for hand-written requests.
func dialRaw(t *testing.T, s *testServer) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // hang guard only
	return conn, bufio.NewReader(conn)
}

// readRawAnswer reads one response; HEAD answers are read without a body, as
// a client must.
func readRawAnswer(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read answer to %s: %v", method, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of the answer to %s: %v", method, err)
	}
	return resp, string(body)
}

// TestStrayCRLFBetweenRequests: some clients (Telegraf versions among
// them) send a stray CRLF after a request's body on a keep-alive
// connection. RFC 9112 §2.2 says a server should ignore empty lines before
// a request line; the next request must get its own answer, not a 400 or
// a hung connection.
func TestStrayCRLFBetweenRequests(t *testing.T) {
	s := startServer(t, 1<<20)
	for _, stray := range []string{"\r\n", "\r\n\r\n", "\n"} {
		t.Run(fmt.Sprintf("%q", stray), func(t *testing.T) {
			conn, br := dialRaw(t, s)
			body := "cpu,host=a v=1 1700000000000000000\n"
			// Two writes, each followed by the stray bytes, then a ping,
			// all sent at once (pipelined) and then one at a time.
			req := fmt.Sprintf("POST /write?db=crlf HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			ping := "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
			if _, err := io.WriteString(conn, req+stray+req+stray+ping); err != nil {
				t.Fatal(err)
			}
			for i, want := range []int{204, 204, 204} {
				resp, got := readRawAnswer(t, br, "POST")
				if resp.StatusCode != want {
					t.Fatalf("answer %d: %d %q, want %d", i, resp.StatusCode, got, want)
				}
			}
			for i := 0; i < 2; i++ {
				if _, err := io.WriteString(conn, req+stray); err != nil {
					t.Fatal(err)
				}
				if resp, got := readRawAnswer(t, br, "POST"); resp.StatusCode != 204 {
					t.Fatalf("write %d after a stray %q: %d %q", i, stray, resp.StatusCode, got)
				}
				time.Sleep(20 * time.Millisecond) // the stray bytes arrive alone
			}
			if _, err := io.WriteString(conn, ping); err != nil {
				t.Fatal(err)
			}
			if resp, got := readRawAnswer(t, br, "GET"); resp.StatusCode != 204 {
				t.Fatalf("ping after stray bytes: %d %q", resp.StatusCode, got)
			}
		})
	}
}

// TestHeadErrorsHaveNoBody: the answers to HEAD requests that fail, in
// fasthttp's reading (431 for headers too large, 400 for a malformed
// request) or in a handler (400, 404), have headers only, and the
// connection stays usable where it is kept open.
func TestHeadErrorsHaveNoBody(t *testing.T) {
	s := startServer(t, 1<<20)
	cases := []struct {
		name, req string
		status    int
	}{
		{"headers too large", "HEAD /query?q=x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", maxHeaderBytes+10) + "\r\n\r\n", 431},
		{"malformed header", "HEAD /ping HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400},
		{"handler error", "HEAD /api/v1/sql HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"unknown path", "HEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, br := dialRaw(t, s)
			if _, err := io.WriteString(conn, c.req); err != nil {
				t.Fatal(err)
			}
			resp, _ := readRawAnswer(t, br, "HEAD")
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			// Whatever follows the headers is a body the answer must not
			// have, or the start of the next answer.
			if resp.Close {
				rest, _ := io.ReadAll(br)
				if len(rest) > 0 {
					t.Fatalf("HEAD answer %d is followed by %q", c.status, rest)
				}
				return
			}
			if _, err := io.WriteString(conn, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if next, got := readRawAnswer(t, br, "GET"); next.StatusCode != 204 {
				t.Fatalf("the answer after the HEAD's is %d %q, want the ping's 204 (a body was sent?)", next.StatusCode, got)
			}
		})
	}
}
