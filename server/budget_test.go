package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// heldRequest is a request whose headers and part of whose body were
// sent over its own connection; the server holds it until finish sends
// the rest.
type heldRequest struct {
	conn net.Conn
	rest []byte
}

// holdRequest sends a POST of body to path with hdr, all but its last
// 100 bytes.
func holdRequest(t *testing.T, s *testServer, path, hdr string, body []byte) *heldRequest {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n", path, hdr, len(body))
	cut := len(body) - 100
	if _, err := conn.Write(append([]byte(head), body[:cut]...)); err != nil {
		t.Fatal(err)
	}
	return &heldRequest{conn: conn, rest: body[cut:]}
}

// finish sends the rest of the body and reads the answer.
func (r *heldRequest) finish(t *testing.T) (int, http.Header, []byte) {
	t.Helper()
	if _, err := r.conn.Write(r.rest); err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, r.conn)
}

func readAnswer(t *testing.T, conn net.Conn) (int, http.Header, []byte) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// sendRaw sends head and body over a new connection and reads the answer,
// which must come before the body is complete when the body is refused.
func sendRaw(t *testing.T, s *testServer, head string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, conn)
}

// metricValue reads one sample of /metrics (the line starting with
// series), fetched with authz.
func metricValue(t *testing.T, s *testServer, authz, series string) float64 {
	t.Helper()
	code, b := s.doGet(t, "/metrics", authz)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, b)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return 0 // a counter with no sample yet
}

// waitMetric polls series until it is want: the server has read the
// headers of requests sent on other connections.
func waitMetric(t *testing.T, s *testServer, authz, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := metricValue(t, s, authz, series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v, want %v", series, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func checkRefusal(t *testing.T, what string, code int, hdr http.Header, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	var e ErrorBody
	if code != wantStatus || hdr.Get("Retry-After") != "1" || json.Unmarshal(body, &e) != nil || e.Code != wantCode || e.Error == "" {
		t.Fatalf("%s: %d Retry-After %q %s, want %d %q with Retry-After", what, code, hdr.Get("Retry-After"), body, wantStatus, wantCode)
	}
}

// A client (a token, with auth on) with --max-requests-per-client requests
// in flight gets 429 with Retry-After for one more, before its body is
// read, while another client still gets through; once its requests end,
// it gets through again.
func TestPerClientRequestLimit(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens, MaxRequestsPerClient: 2})
	const admin = "Token a-secret" // reads /metrics: a third client
	rows := func(from int) []byte {
		var b bytes.Buffer
		for i := range 1000 {
			fmt.Fprintf(&b, "m,host=h v=1 %d\n", from+i)
		}
		return b.Bytes()
	}
	body := rows(10)
	held := []*heldRequest{
		holdRequest(t, s, "/write?db=d", "Authorization: Token w-secret\r\n", body),
		holdRequest(t, s, "/api/v2/write?bucket=d", "Authorization: Token w-secret\r\n", rows(2000)),
	}
	// Two held and the /metrics request reading the gauge.
	waitMetric(t, s, admin, "silt_http_inflight_requests_limited", 3)

	// The writer's third request, announcing a body it never sends: the
	// 429 comes from its headers alone.
	code, hdr, b := sendRaw(t, s, "POST /write?db=d HTTP/1.1\r\nHost: x\r\nAuthorization: Token w-secret\r\nContent-Length: 5000000\r\n\r\n", body[:100])
	checkRefusal(t, "writer over its limit", code, hdr, b, 429, "too-many-requests")
	if bytes.Contains(b, []byte("w-secret")) || !bytes.Contains(b, []byte("token writer")) {
		t.Fatalf("the refusal names the client by its token's name, not its secret: %s", b)
	}
	// Another client writes meanwhile.
	if code, _, b := s.post(t, "/write?db=d", "m,host=b v=2 2", "Authorization", "Token rw-secret"); code != 204 {
		t.Fatalf("another client while the writer is at its limit: %d %s", code, b)
	}
	for i, r := range held {
		if code, _, b := r.finish(t); code != 204 {
			t.Fatalf("held request %d: %d %s", i, code, b)
		}
	}
	waitMetric(t, s, admin, "silt_http_inflight_requests_limited", 1)
	if code, _, b := s.post(t, "/write?db=d", "m,host=a v=3 3", "Authorization", "Token w-secret"); code != 204 {
		t.Fatalf("writer after its requests ended: %d %s", code, b)
	}
	if got := metricValue(t, s, admin, `silt_http_requests_refused_total{reason="client-limit"}`); got != 1 {
		t.Fatalf("refused for client-limit: %v, want 1", got)
	}
	if n := countRows(t, s, "d", "m"); n != 2002 {
		t.Fatalf("rows written: %v, want 2002 (two held bodies of 1000 and two single rows)", n)
	}
}

// The bodies all clients have in flight stay within
// --max-inflight-body-bytes: a request that would go over gets 503 with
// Retry-After before its body is read (Content-Length, chunked and
// Expect: 100-continue alike), small requests still fit, and the bytes
// accounted (silt_http_inflight_body_bytes) are exactly the held bodies.
func TestInflightBodyBudget(t *testing.T) {
	const (
		maxBody = 512 << 10
		budget  = 1 << 20
		size    = 400_000
	)
	s := startServerWith(t, Config{MaxBodyBytes: maxBody, MaxInflightBodyBytes: budget})
	line := []byte("m,host=a v=1 1\n")
	body := bytes.Repeat(line, size/len(line))
	held := []*heldRequest{
		holdRequest(t, s, "/write?db=d", "", body),
		holdRequest(t, s, "/api/v1/ingest?db=e", "", bytes.Repeat([]byte(`{"table":"j","fields":{"v":1}}`+"\n"), len(body)/31)),
	}
	inflight := float64(len(body) + len(body)/31*31)
	waitMetric(t, s, "", "silt_http_inflight_body_bytes", inflight)

	for _, c := range []struct{ name, head string }{
		{"content-length", fmt.Sprintf("POST /write?db=d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))},
		{"chunked (counted as --max-body-bytes)", "POST /write?db=d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n"},
	} {
		code, hdr, b := sendRaw(t, s, c.head, body[:4096])
		checkRefusal(t, c.name, code, hdr, b, 503, "server-busy")
	}
	// Refused before the client sends its body, answered the same way
	// (expect_test.go has net/http's client).
	code, hdr, b := sendRaw(t, s, fmt.Sprintf("POST /write?db=d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body)), nil)
	checkRefusal(t, "expect 100-continue over the budget", code, hdr, b, 503, "server-busy")
	if got := metricValue(t, s, "", "silt_http_inflight_body_bytes"); got != inflight {
		t.Fatalf("after the refusals %v bytes are accounted, want %v", got, inflight)
	}
	// A small body fits in what is left.
	if code, _, b := s.post(t, "/write?db=d", "m,host=small v=1 1"); code != 204 {
		t.Fatalf("small write under the budget: %d %s", code, b)
	}
	if code, _, b := held[0].finish(t); code != 204 {
		t.Fatalf("held write: %d %s", code, b)
	}
	waitMetric(t, s, "", "silt_http_inflight_body_bytes", inflight-float64(len(body)))
	// Room again for a big body.
	if code, _, b := s.post(t, "/write?db=d", string(body)); code != 204 {
		t.Fatalf("big write once room was made: %d %s", code, b)
	}
	if code, _, b := held[1].finish(t); code != 204 {
		t.Fatalf("held ingest: %d %s", code, b)
	}
	waitMetric(t, s, "", "silt_http_inflight_body_bytes", 0)
	if got := metricValue(t, s, "", `silt_http_requests_refused_total{reason="body-budget"}`); got != 3 {
		t.Fatalf("refused for body-budget: %v, want 3", got)
	}

	// A body larger than the whole budget is read when no other is, and
	// only then.
	s = startServerWith(t, Config{MaxBodyBytes: maxBody, MaxInflightBodyBytes: 100_000})
	if code, _, b := s.post(t, "/write?db=d", string(body)); code != 204 {
		t.Fatalf("a body over the budget, alone: %d %s", code, b)
	}
	small := body[:len(line)*66]
	h := holdRequest(t, s, "/write?db=d", "", small)
	waitMetric(t, s, "", "silt_http_inflight_body_bytes", float64(len(small)))
	code, hdr, b = sendRaw(t, s, fmt.Sprintf("POST /write?db=d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body)), nil)
	checkRefusal(t, "a body over the budget, not alone", code, hdr, b, 503, "server-busy")
	if code, _, b := h.finish(t); code != 204 {
		t.Fatalf("held write: %d %s", code, b)
	}
}

// Whatever a client does to its connection mid-request (closes it or
// resets it after the headers, after 100 Continue, mid-body, mid-chunk),
// every share it took is given back: the accounted bytes and slots return
// to zero and a full-size body still fits.
func TestBudgetReturnedWhenClientsVanish(t *testing.T) {
	s := startServerWith(t, Config{Tokens: testTokens, MaxRequestsPerClient: 4, MaxBodyBytes: 1 << 20, MaxInflightBodyBytes: 1 << 20})
	addr := strings.TrimPrefix(s.url, "http://")
	heads := []string{
		"POST /write?db=d HTTP/1.1\r\nHost: x\r\nAuthorization: Token w-secret\r\nContent-Length: 900000\r\n\r\nm v=1 1\n",
		"POST /write?db=d HTTP/1.1\r\nHost: x\r\nAuthorization: Token w-secret\r\nExpect: 100-continue\r\nContent-Length: 900000\r\n\r\n",
		"POST /write?db=d HTTP/1.1\r\nHost: x\r\nAuthorization: Token w-secret\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nm v=1 1\n",
		"POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 900000\r\n\r\nq=SHOW",
	}
	for round := range 40 {
		for i, head := range heads {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write([]byte(head)); err != nil {
				t.Fatal(err)
			}
			switch (round + i) % 3 {
			case 0: // reset at once
				_ = conn.(*net.TCPConn).SetLinger(0)
			case 1: // wait for an answer or a 100 Continue, then reset
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				_, _ = conn.Read(make([]byte, 64))
				_ = conn.(*net.TCPConn).SetLinger(0)
			case 2: // a plain close
			}
			conn.Close()
		}
	}
	waitMetric(t, s, "Token a-secret", "silt_http_inflight_body_bytes", 0)
	waitMetric(t, s, "Token a-secret", "silt_http_inflight_requests_limited", 1) // this /metrics request
	big := strings.Repeat("m v=1 1\n", 900_000/8)
	for range 5 { // more than --max-requests-per-client: no slot was kept
		if code, _, b := s.post(t, "/write?db=d", big, "Authorization", "Token w-secret"); code != 204 {
			t.Fatalf("a full-size write after the vanished clients: %d %s", code, b)
		}
	}
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (all of 127.0.0.0/8 is local on Linux): another client to a
// server that tells clients apart by address.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func getFrom(t *testing.T, c *http.Client, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// With auth off a client is its IP address: while one address has its
// --max-requests-per-client queries running, its next request gets 429 and
// another address's gets through. A running query holds the slot (the
// check is when the handler starts), so the test catches one running and
// tries again if it ended first.
func TestPerAddressRequestLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 300k rows")
	}
	s := startServerWith(t, Config{MaxRequestsPerClient: 1})
	loadRows(t, s, "d", 300_000)
	a, b := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	if code, _, body := getFrom(t, b, s.url+"/ready"); code != 200 {
		t.Skipf("cannot connect from 127.0.0.2: %d %s", code, body)
	}
	slow := s.url + "/api/v1/sql?db=d&q=" + url.QueryEscape("SELECT * FROM m ORDER BY w, v")
	for try := range 10 {
		done := make(chan int, 1)
		go func() {
			resp, err := a.Get(slow)
			if err != nil {
				done <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		// Until the query holds its slot; the /metrics request from b
		// holds one of its own.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			_, _, m := getFrom(t, b, s.url+"/metrics")
			if bytes.Contains(m, []byte("\nsilt_http_inflight_requests_limited 2\n")) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		codeA, hdrA, bodyA := getFrom(t, a, s.url+"/api/v1/tables?db=d")
		codeB, _, bodyB := getFrom(t, b, s.url+"/api/v1/tables?db=d")
		slowCode := <-done
		if slowCode != 200 {
			t.Fatalf("the slow query: %d", slowCode)
		}
		if codeA == 200 {
			t.Logf("try %d: the query ended before the second request", try)
			continue
		}
		checkRefusal(t, "127.0.0.1 over its limit", codeA, hdrA, bodyA, 429, "too-many-requests")
		if !bytes.Contains(bodyA, []byte("client 127.0.0.1 ")) {
			t.Fatalf("the refusal names the address: %s", bodyA)
		}
		if codeB != 200 {
			t.Fatalf("127.0.0.2 while 127.0.0.1 is at its limit: %d %s", codeB, bodyB)
		}
		return
	}
	t.Fatal("the slow query never ran long enough to overlap another request")
}
