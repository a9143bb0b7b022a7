package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A streamed answer (an export here) keeps its request's client slot
// until it is sent: while a client with --max-requests-per-client 1 is
// slowly reading one, its next request gets 429; once it hangs up, the
// slot comes back.
func TestStreamedAnswerHoldsClientSlot(t *testing.T) {
	s := startServerWith(t, Config{MaxRequestsPerClient: 1})
	// About 10 MB of line protocol: more than the socket buffers of a
	// client that does not read hold.
	loadRows(t, s, "d", 200_000)

	// A small receive buffer, so that the server's writes block soon.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /api/v1/export?db=d HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The answer has begun: its handler has returned, its body is being
	// sent.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", resp, err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}

	code, hdr, body := getFrom(t, http.DefaultClient, s.url+"/api/v1/databases")
	checkRefusal(t, "a second request while the first answer streams", code, hdr, body, 429, "too-many-requests")

	// The client hangs up: the export's writes fail, its slot is given
	// back.
	conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, body = getFrom(t, http.DefaultClient, s.url+"/api/v1/databases")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot was not given back after the client left: %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The /metrics request itself holds one.
	if v := metricValue(t, s, "", "silt_http_inflight_requests_limited"); v != 1 {
		t.Fatalf("slots held after every other request ended: %v, want 1", v)
	}
}
