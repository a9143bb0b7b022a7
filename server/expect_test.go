package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// countingBody is a request body that counts the bytes the client's
// transport read from it: none when the server refused the request at
// its Expect: 100-continue step.
type countingBody struct {
	r    io.Reader
	read *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// expectPost sends body to path of s with Go's own client and
// Expect: 100-continue, as InfluxDB and Prometheus clients built on
// net/http do; it returns the answer and how many body bytes the client
// sent. The client waits up to a minute for the server's 100 Continue or
// its refusal (a hang guard, not a latency bound): a refusal comes before
// any of the body is sent.
func expectPost(t *testing.T, s *testServer, path, authz string, body []byte) (*http.Response, []byte, int64) {
	t.Helper()
	var read atomic.Int64
	req, err := http.NewRequest("POST", s.url+path, countingBody{bytes.NewReader(body), &read})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Expect", "100-continue")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	c := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s with Expect: 100-continue: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s with Expect: 100-continue: reading the answer: %v", path, err)
	}
	return resp, b, read.Load()
}

// A request refused at its Expect: 100-continue step, before its body is
// sent, is answered as the same refusal of a request without Expect:
// 503 server-busy (--max-inflight-body-bytes) and 429 too-many-requests
// (--max-requests-per-client) with Retry-After and Silt's error body (with
// the v2 API's message on /api/v2), 401 with its challenge; fasthttp alone
// sent the bare status. Net/http's client, as real clients send it; the
// client never sends the body. Mutation-checked: expect returning the
// status without deny fails every case.
func TestExpectContinueRefusalsAnswerInFull(t *testing.T) {
	line := []byte("m,host=a v=1 1\n")
	body := bytes.Repeat(line, 400_000/len(line))

	refused := func(what string, resp *http.Response, b []byte, sent int64, wantStatus int, wantCode string) {
		t.Helper()
		if sent != 0 {
			t.Errorf("%s: the client sent %d body bytes, want none (refused at its Expect step)", what, sent)
		}
		var e v2ErrorBody
		if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != wantStatus || e.Code != wantCode || e.Error == "" {
			t.Errorf("%s: %d %q, want %d with an error body of code %q", what, resp.StatusCode, b, wantStatus, wantCode)
		}
		if wantStatus == 503 || wantStatus == 429 {
			if got := resp.Header.Get("Retry-After"); got != "1" {
				t.Errorf("%s: Retry-After %q, want 1 (as the same refusal without Expect)", what, got)
			}
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q, want JSON", what, ct)
		}
	}

	t.Run("body budget", func(t *testing.T) {
		s := startServerWith(t, Config{MaxBodyBytes: 512 << 10, MaxInflightBodyBytes: 1 << 20})
		held := []*heldRequest{holdRequest(t, s, "/write?db=d", "", body), holdRequest(t, s, "/write?db=d", "", body)}
		waitMetric(t, s, "", "silt_http_inflight_body_bytes", float64(2*len(body)))
		for _, path := range []string{"/write?db=d", "/api/v2/write?bucket=d"} {
			resp, b, sent := expectPost(t, s, path, "", body)
			refused("POST "+path+" over the body budget", resp, b, sent, 503, "server-busy")
			if path == "/api/v2/write?bucket=d" {
				var e v2ErrorBody
				if json.Unmarshal(b, &e) != nil || e.Message != e.Error {
					t.Errorf("v2 refusal %s: want message equal to error, as the v2 API's other errors", b)
				}
			}
		}
		for i, h := range held {
			if code, _, b := h.finish(t); code != 204 {
				t.Fatalf("held write %d: %d %s", i, code, b)
			}
		}
		waitMetric(t, s, "", "silt_http_inflight_body_bytes", 0)
		// Room again: the same request with Expect goes through whole.
		resp, b, sent := expectPost(t, s, "/write?db=d", "", body)
		if resp.StatusCode != 204 || sent != int64(len(body)) {
			t.Fatalf("with room again: %d %s, %d of %d body bytes sent", resp.StatusCode, b, sent, len(body))
		}
	})

	t.Run("client limit and auth", func(t *testing.T) {
		s := startServerWith(t, Config{Tokens: testTokens, MaxRequestsPerClient: 2})
		rows := func(from int) []byte {
			var b bytes.Buffer
			for i := range 1000 {
				fmt.Fprintf(&b, "m,host=h v=1 %d\n", from+i)
			}
			return b.Bytes()
		}
		held := []*heldRequest{
			holdRequest(t, s, "/write?db=d", "Authorization: Token w-secret\r\n", rows(0)),
			holdRequest(t, s, "/write?db=d", "Authorization: Token w-secret\r\n", rows(1000)),
		}
		waitMetric(t, s, "Token a-secret", "silt_http_inflight_requests_limited", 3)
		resp, b, sent := expectPost(t, s, "/write?db=d", "Token w-secret", rows(2000))
		refused("the writer over its request limit", resp, b, sent, 429, "too-many-requests")
		resp, b, sent = expectPost(t, s, "/write?db=d", "Token nope", rows(2000))
		refused("an unknown token", resp, b, sent, 401, "unauthorized")
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 at the Expect step without WWW-Authenticate")
		}
		for i, h := range held {
			if code, _, b := h.finish(t); code != 204 {
				t.Fatalf("held write %d: %d %s", i, code, b)
			}
		}
	})
}
