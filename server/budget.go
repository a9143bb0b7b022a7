package server

import (
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// budget bounds what one client, and all clients together, may make the
// server hold at once: a client's requests in flight
// (--max-requests-per-client) and the request bodies being read or handled
// (--max-inflight-body-bytes).
//
// A request takes its share when its headers arrive, before its body is
// read (headerReceived): the body bytes it announces (Content-Length; the
// whole --max-body-bytes for a chunked body, whose size is unknown) and,
// with auth on, a slot of its token. With auth off the client is its IP
// address, which fasthttp shows only to the handler: such a request takes
// its slot when the handler starts, its body already bounded by the body
// budget. Everything a request took is given back when its handler
// returns, or when fasthttp gives up reading it (transportError, expect);
// a request whose answer is streamed (setBodyStreamWriter) keeps it until
// the answer is sent or its client is gone (detach): a client holding
// --max-requests-per-client slow downloads has that many requests in
// flight.
//
// Holds are keyed by the request's header, which fasthttp keeps in the
// connection's RequestCtx for one request at a time; a hold left by a
// request that fasthttp dropped without calling back is given back when
// the next request on that context arrives. The one such drop a client can
// cause, an Expect: 100-continue request whose connection fails as the
// 100 Continue is sent, is caught when the connection closes (connClosed):
// the hold notes the connection its expect step saw.
type budget struct {
	perClient int   // 0: no limit
	bodyMax   int64 // 0: no limit

	mu struct {
		sync.Mutex
		clients map[string]int // requests in flight by client
		body    int64          // body bytes held
		holds   map[*fasthttp.RequestHeader]hold
		// expecting maps a connection to the header of the Expect
		// request it carries, for connClosed.
		expecting map[net.Conn]*fasthttp.RequestHeader
	}
	refused *prometheus.CounterVec // by reason: client-limit, body-budget
}

// hold is what one request took, or why it was refused.
type hold struct {
	client  string // "" when no slot was taken
	body    int64
	refused denial
	conn    net.Conn // set by watchConn
}

func newBudget(perClient int, bodyMax int64) *budget {
	b := &budget{perClient: perClient, bodyMax: bodyMax}
	b.mu.clients = map[string]int{}
	b.mu.holds = map[*fasthttp.RequestHeader]hold{}
	b.mu.expecting = map[net.Conn]*fasthttp.RequestHeader{}
	b.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "silt_http_requests_refused_total",
		Help: "Requests refused for the server's load before they were handled, by reason: client-limit (--max-requests-per-client), body-budget (--max-inflight-body-bytes)."},
		[]string{"reason"})
	return b
}

func (b *budget) collectors() []prometheus.Collector {
	return []prometheus.Collector{b.refused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "silt_http_inflight_body_bytes",
			Help: "Request body bytes the server is reading or handling, as counted against --max-inflight-body-bytes."},
			func() float64 { return float64(b.bodyBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "silt_http_inflight_requests_limited",
			Help: "Requests holding a client slot of --max-requests-per-client."},
			func() float64 { return float64(b.slots()) }),
	}
}

// on reports whether either limit is set; off, nothing is counted.
func (b *budget) on() bool { return b.perClient > 0 || b.bodyMax > 0 }

// admitHeaders takes body bytes and, when client is known (a token), a
// slot of client for the request whose headers are h, or records and
// returns why it may not go on.
func (b *budget) admitHeaders(h *fasthttp.RequestHeader, client string, body int64) denial {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked(h)
	if b.perClient <= 0 {
		client = ""
	}
	if b.bodyMax <= 0 {
		body = 0
	}
	if client == "" && body == 0 {
		return denial{}
	}
	if client != "" && b.mu.clients[client] >= b.perClient {
		d := b.clientDenial(client)
		b.mu.holds[h] = hold{refused: d}
		return d
	}
	// A body larger than the whole budget (--max-body-bytes above it) is
	// read when no other is: the total stays within the larger of the two.
	if body > 0 && b.mu.body > 0 && b.mu.body+body > b.bodyMax {
		b.refused.WithLabelValues("body-budget").Inc()
		d := denial{fasthttp.StatusServiceUnavailable, "server-busy", fmt.Sprintf(
			"the server is reading or handling %d bytes of request bodies and this one (%d bytes) would go over --max-inflight-body-bytes %d; retry shortly",
			b.mu.body, body, b.bodyMax)}
		b.mu.holds[h] = hold{refused: d}
		return d
	}
	if client != "" {
		b.mu.clients[client]++
	}
	b.mu.body += body
	b.mu.holds[h] = hold{client: client, body: body}
	return denial{}
}

// admitHandler takes a slot of client for a request whose handler starts,
// unless it took one with its headers; it returns the refusal recorded
// for the request at its headers, if any.
func (b *budget) admitHandler(h *fasthttp.RequestHeader, client string) denial {
	b.mu.Lock()
	defer b.mu.Unlock()
	hl := b.mu.holds[h]
	if hl.refused.status != 0 || hl.client != "" || b.perClient <= 0 || client == "" {
		return hl.refused
	}
	if b.mu.clients[client] >= b.perClient {
		// A refused request keeps its body bytes until the handler
		// returns, as any other.
		return b.clientDenial(client)
	}
	b.mu.clients[client]++
	hl.client = client
	b.mu.holds[h] = hl
	return denial{}
}

// clientDenial is the 429 of a client at its limit. client names a token
// or an address, never a secret.
func (b *budget) clientDenial(client string) denial {
	b.refused.WithLabelValues("client-limit").Inc()
	return denial{fasthttp.StatusTooManyRequests, "too-many-requests",
		"client " + client + " has " + strconv.Itoa(b.perClient) + " requests in flight, the most --max-requests-per-client allows; retry when one finishes"}
}

// refusal returns why the request of h was refused at its headers, if it was.
func (b *budget) refusal(h *fasthttp.RequestHeader) denial {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.holds[h].refused
}

// release gives back what the request of h took.
func (b *budget) release(h *fasthttp.RequestHeader) {
	b.mu.Lock()
	b.releaseLocked(h)
	b.mu.Unlock()
}

// watchConn notes that the request of h, which holds a share, will have
// its body read on c after a 100 Continue: if fasthttp then drops it
// without a callback (the 100 Continue could not be sent), connClosed
// gives its share back.
func (b *budget) watchConn(h *fasthttp.RequestHeader, c net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	hl, ok := b.mu.holds[h]
	if !ok || c == nil {
		return
	}
	hl.conn = c
	b.mu.holds[h] = hl
	b.mu.expecting[c] = h
}

// connClosed gives back what a request watched on c still holds. The
// header may belong to a later request by then (fasthttp reuses contexts):
// its hold names another connection, or none, and is left alone.
func (b *budget) connClosed(c net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.mu.expecting[c]
	if !ok {
		return
	}
	delete(b.mu.expecting, c)
	if b.mu.holds[h].conn == c {
		b.releaseLocked(h)
	}
}

// detach takes what the request of h holds off its header, which
// fasthttp reuses for another request once the handler returns, and
// returns the function that gives it back, once, however often called.
// A request that holds nothing gets a function that does nothing.
func (b *budget) detach(h *fasthttp.RequestHeader) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	hl, ok := b.mu.holds[h]
	if !ok {
		return func() {}
	}
	b.unkeyLocked(h, hl)
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.giveBackLocked(hl)
			b.mu.Unlock()
		})
	}
}

func (b *budget) releaseLocked(h *fasthttp.RequestHeader) {
	hl, ok := b.mu.holds[h]
	if !ok {
		return
	}
	b.unkeyLocked(h, hl)
	b.giveBackLocked(hl)
}

// unkeyLocked forgets that the request of h holds hl.
func (b *budget) unkeyLocked(h *fasthttp.RequestHeader, hl hold) {
	delete(b.mu.holds, h)
	if hl.conn != nil && b.mu.expecting[hl.conn] == h {
		delete(b.mu.expecting, hl.conn)
	}
}

// giveBackLocked returns the slot and body bytes of hl.
func (b *budget) giveBackLocked(hl hold) {
	if hl.client != "" {
		if n := b.mu.clients[hl.client] - 1; n > 0 {
			b.mu.clients[hl.client] = n
		} else {
			delete(b.mu.clients, hl.client)
		}
	}
	b.mu.body -= hl.body
}

func (b *budget) bodyBytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.body
}

func (b *budget) slots() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.mu.clients {
		n += c
	}
	return n
}

// bodyReserve is the body bytes a request announces in h: its
// Content-Length, or for a chunked body the most it may send (limit).
// A body over limit is refused with 413 without being read, so it
// reserves nothing.
func bodyReserve(h *fasthttp.RequestHeader, limit int) int64 {
	switch n := h.ContentLength(); {
	case n > limit:
		return 0
	case n > 0:
		return int64(n)
	case n == -1: // chunked
		return int64(limit)
	}
	return 0
}

// tokenClient is the client key of a token: its name (never its secret).
func tokenClient(t *Token) string { return "token " + t.Name }
