package importer

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Retry timing. Variables so that tests can run without real waits.
var (
	backoffMin     = 100 * time.Millisecond
	backoffMax     = 10 * time.Second
	retryAfterUnit = time.Second     // unit of a numeric Retry-After
	retryAfterMax  = 5 * time.Minute // a larger Retry-After is capped
)

// maxServerErrors is how many times in a row a chunk is retried after a 500
// or other unexpected 5xx: these may be transient, but they may also be a
// bug the chunk triggers every time.
const maxServerErrors = 5

// sender posts chunks to the server.
type sender struct {
	client *http.Client
	urls   map[string]string // format -> endpoint URL with query
	token  string
	log    *logger

	busyOnce, downOnce sync.Once
}

func newSender(cfg Config, log *logger) *sender {
	// The default transport keeps only two idle connections per host,
	// so with more workers connections would be closed and redialled
	// constantly.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Workers
	// A server that accepts a request and never answers would hang a
	// worker for good; the chunk is resent instead (writes are
	// idempotent).
	tr.ResponseHeaderTimeout = 5 * time.Minute

	q := url.Values{"db": {cfg.DB}}
	if cfg.Precision != "" {
		q.Set("precision", cfg.Precision)
	}
	lp := cfg.Server + "/write?" + q.Encode()
	if cfg.Table != "" {
		q.Set("table", cfg.Table)
	}
	nd := cfg.Server + "/api/v1/ingest?" + q.Encode()

	return &sender{
		client: &http.Client{Transport: tr},
		urls:   map[string]string{FormatLP: lp, FormatNDJSON: nd},
		token:  cfg.Token,
		log:    log,
	}
}

func (s *sender) close() { s.client.CloseIdleConnections() }

// reply is the outcome of a delivered chunk.
type reply struct {
	written, rejected int64
	rejectedLines     []RejectedLine // as reported, possibly fewer than rejected
}

// errorBody is the JSON body of an error response. Line, Error and Code
// describe the first bad line; Errors, which Silt adds, lists the first
// few bad lines with their own messages.
type errorBody struct {
	Error    string      `json:"error"`
	Code     string      `json:"code"`
	Line     int         `json:"line"`
	Written  int64       `json:"written"`
	Rejected int64       `json:"rejected"`
	Errors   []lineError `json:"errors"`
}

type lineError struct {
	Line  int    `json:"line"`
	Code  string `json:"code"`
	Error string `json:"error"`
}

// rejectedLines translates the bad lines of a 400 response for c to file
// line numbers.
func (eb *errorBody) rejectedLines(c *chunk) []RejectedLine {
	errs := eb.Errors
	if len(errs) == 0 {
		errs = []lineError{{Line: eb.Line, Code: eb.Code, Error: eb.Error}}
	}
	out := make([]RejectedLine, 0, len(errs))
	for _, e := range errs {
		out = append(out, RejectedLine{
			File: c.file.path,
			Line: c.fileLine(e.Line),
			// The message may start with the line number within the
			// request, which means nothing to the user.
			Reason: strings.TrimPrefix(e.Error, fmt.Sprintf("line %d: ", e.Line)),
			Code:   e.Code,
		})
	}
	return out
}

// send delivers c, retrying whatever may succeed later until ctx is done.
// An error means the import must stop.
func (s *sender) send(ctx context.Context, c *chunk) (reply, error) {
	var (
		delay     = backoffMin
		serverErr = 0
	)
	for {
		resp, err := s.post(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return reply{}, ctx.Err()
			}
			if permanent(err) {
				return reply{}, fmt.Errorf("write %s lines %d-%d: %w", c.file.path, c.startLine, c.startLine+c.span-1, err)
			}
			s.downOnce.Do(func() {
				s.log.printf("cannot reach the server (%v); retrying until it answers or you interrupt", err)
			})
			if err := sleep(ctx, jitter(delay)); err != nil {
				return reply{}, err
			}
			delay = min(2*delay, backoffMax)
			continue
		}
		body := readBody(resp)

		switch code := resp.StatusCode; {
		case code >= 200 && code < 300:
			return reply{written: int64(c.rows())}, nil

		case code == http.StatusBadRequest:
			var eb errorBody
			if json.Unmarshal(body, &eb) != nil || eb.Line < 1 {
				// No line: the request as a whole is wrong and every
				// other one will be too.
				return reply{}, s.fatal(c, resp, body, "")
			}
			return reply{
				written:       eb.Written,
				rejected:      eb.Rejected,
				rejectedLines: eb.rejectedLines(c),
			}, nil

		case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
			wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			if ok {
				// At least as long as asked, a little more for some
				// workers so that they do not all return at once; and
				// never a busy loop on "Retry-After: 0".
				wait = max(wait+rand.N(wait/5+1), backoffMin)
			} else {
				wait = jitter(delay)
				delay = min(2*delay, backoffMax)
			}
			s.busyOnce.Do(func() {
				msg := resp.Status
				if m := serverMessage(body); m != "" {
					msg += ": " + m
				}
				s.log.printf("server is busy (%s); retrying until it accepts writes or you interrupt", msg)
			})
			if err := sleep(ctx, wait); err != nil {
				return reply{}, err
			}

		case code == http.StatusBadGateway || code == http.StatusGatewayTimeout:
			// A proxy in front of a server that is restarting.
			s.downOnce.Do(func() {
				s.log.printf("cannot reach the server (%s from a proxy); retrying until it answers or you interrupt", resp.Status)
			})
			if err := sleep(ctx, jitter(delay)); err != nil {
				return reply{}, err
			}
			delay = min(2*delay, backoffMax)

		case code >= 500 && code != http.StatusInsufficientStorage:
			serverErr++
			if serverErr >= maxServerErrors {
				return reply{}, s.fatal(c, resp, body, fmt.Sprintf("gave up after %d attempts", serverErr))
			}
			if err := sleep(ctx, jitter(delay)); err != nil {
				return reply{}, err
			}
			delay = min(2*delay, backoffMax)

		default:
			return reply{}, s.fatal(c, resp, body, "")
		}
	}
}

// permanent reports whether a transport error will not go away by
// retrying: an unknown host name or a TLS problem needs the user's
// attention, whereas refused or reset connections are what a restarting
// server looks like.
func permanent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return true
	}
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	return errors.As(err, &certErr) || errors.As(err, &recErr)
}

// post makes one attempt at delivering c.
func (s *sender) post(ctx context.Context, c *chunk) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.urls[c.file.format], bytes.NewReader(c.payload))
	if err != nil {
		return nil, err
	}
	if c.file.format == FormatNDJSON {
		req.Header.Set("Content-Type", "application/x-ndjson")
	} else {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", "silt-import")
	if s.token != "" {
		req.Header.Set("Authorization", "Token "+s.token)
	}
	return s.client.Do(req)
}

// readBody reads (a bounded prefix of) the response body and closes it.
// Draining it lets the connection be reused.
func readBody(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return b
}

// fatal builds the error for a response that stops the import, with advice
// for the statuses a user can do something about.
func (s *sender) fatal(c *chunk, resp *http.Response, body []byte, note string) error {
	msg := serverMessage(body)
	var hint string
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if s.token == "" {
			hint = "the server needs a token: pass --token or set SILT_TOKEN"
		} else {
			hint = "the server did not accept the token"
		}
	case http.StatusForbidden:
		hint = "the token may not write to this database"
	case http.StatusNotFound:
		hint = "check the server address and the database name"
	case http.StatusRequestEntityTooLarge:
		hint = fmt.Sprintf("a request of %d lines (%d bytes uncompressed, from %s line %d) is over the server's size limit; lower --batch-lines",
			c.rows(), len(c.body), c.file.path, c.startLine)
		if c.rows() == 1 {
			hint = fmt.Sprintf("line %d of %s alone is over the server's size limit", c.bodyLine[0], c.file.path)
		}
	case http.StatusInsufficientStorage:
		hint = "the server is out of disk space; nothing from this request was written"
	}
	parts := []string{fmt.Sprintf("server answered %s", resp.Status)}
	if msg != "" {
		parts = append(parts, msg)
	}
	if note != "" {
		parts = append(parts, note)
	}
	if hint != "" {
		parts = append(parts, hint)
	}
	return fmt.Errorf("write %s lines %d-%d: %s", c.file.path, c.startLine, c.startLine+c.span-1, strings.Join(parts, ": "))
}

// serverMessage extracts the error message from a response body: the
// "error" field of a JSON body, else the body text itself, shortened.
func serverMessage(body []byte) string {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		if eb.Code != "" {
			return eb.Error + " [" + eb.Code + "]"
		}
		return eb.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// parseRetryAfter parses a Retry-After header, given either as seconds or
// as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(secs) * retryAfterUnit
		if secs > int64(retryAfterMax/retryAfterUnit) { // avoid overflow
			d = retryAfterMax
		}
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, retryAfterMax), true
}

// jitter spreads retries of concurrent workers over [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gzipPool recycles compressors: each holds about a megabyte of state.
var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level cannot fail
	return w
}}

// compress returns body gzip-compressed at the fastest level: the network
// and the server, not compression ratio, are the bottleneck.
func compress(body []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(body)/4 + 64)
	zw := gzipPool.Get().(*gzip.Writer)
	defer gzipPool.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("compress request: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress request: %w", err)
	}
	return buf.Bytes(), nil
}
