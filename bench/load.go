package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Protocol is how a loader writes: InfluxDB v1 /write (Silt, InfluxDB) or
// ClickHouse's HTTP interface (INSERT ... FORMAT TabSeparated).
type Protocol string

const (
	ProtoInflux     Protocol = "influx"
	ProtoClickHouse Protocol = "clickhouse"
)

// Batches splits a dataset into request bodies of batch rows each, in the
// format its protocol wants. The whole dataset is generated before a load
// starts so the generator's time is not counted.
func Batches(d Dataset, p Protocol, batch int) ([][]byte, error) {
	switch p {
	case ProtoInflux:
		d.Format = LineProtocol
	case ProtoClickHouse:
		d.Format = TSV
	default:
		return nil, fmt.Errorf("unknown protocol %q (want influx or clickhouse)", p)
	}
	if batch <= 0 {
		return nil, fmt.Errorf("need --batch-size > 0")
	}
	var out [][]byte
	var cur []byte
	rows := 0
	err := d.Generate(func(chunk []byte) error {
		for len(chunk) > 0 {
			i := bytes.IndexByte(chunk, '\n') + 1
			cur = append(cur, chunk[:i]...)
			chunk = chunk[i:]
			if rows++; rows == batch {
				out = append(out, cur)
				cur, rows = nil, 0
			}
		}
		return nil
	})
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, err
}

// LoadConfig says where and how to load.
type LoadConfig struct {
	URL      string // base URL of the server
	DB       string
	Protocol Protocol
	Workers  int
	// Table is ClickHouse's table (default cpu); InfluxDB-style servers take
	// the measurement from the line protocol.
	Table string
	// MaxAttempts bounds how often one body is sent when the server answers
	// 429 or 503 (back-pressure, a full head, not ready yet, shutting down):
	// the body is sent again after Retry-After, or after a doubling backoff
	// when the answer gives none. 0 means DefaultMaxAttempts; 1 never retries.
	MaxAttempts int

	// ExpectContinue sends InfluxDB-protocol bodies with Expect:
	// 100-continue, so that a server refusing a request before reading its
	// body (Silt's 503 server-busy under --max-inflight-body-bytes) is seen
	// to answer 503, not as a broken pipe under the body being written.
	// Off by default: Telegraf and the InfluxDB clients send no Expect, and
	// waiting for the 100 Continue costs a round trip per body (the TSBS
	// load measured 5-10% fewer rows/s with it).
	ExpectContinue bool

	// wait replaces the sleep between attempts (tests).
	wait func(ctx context.Context, d time.Duration) error
}

// DefaultMaxAttempts: with Retry-After: 1 (what Silt sends) a body is
// retried for about ten seconds, a flush's length under load, before the
// load gives up.
const DefaultMaxAttempts = 10

// Retry waits: the first backoff without a Retry-After, its cap, and the
// longest Retry-After honoured (a server asking for more is waited only
// this long, then asked again, within the attempts).
const (
	retryBackoffStart = 250 * time.Millisecond
	retryBackoffMax   = 5 * time.Second
	retryAfterMax     = 30 * time.Second
)

// LoadResult is what a load measured.
type LoadResult struct {
	Rows    int64         `json:"rows"`
	Values  int64         `json:"values"`
	Bytes   int64         `json:"bytes"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Retries are bodies sent again after a 429 or 503 answer, and
	// RetryWait the time the workers spent waiting before them (summed
	// over workers: it can exceed Elapsed). Elapsed includes the waits.
	Retries   int64         `json:"retries"`
	RetryWait time.Duration `json:"retry_wait_ns"`
}

// RowsPerSec is rows per second of wall clock.
func (r LoadResult) RowsPerSec() float64 { return float64(r.Rows) / r.Elapsed.Seconds() }

// ValuesPerSec is field values per second of wall clock.
func (r LoadResult) ValuesPerSec() float64 { return float64(r.Values) / r.Elapsed.Seconds() }

// Load posts bodies with cfg.Workers concurrent requests and returns when
// all are acknowledged. progress, when not nil, is called after each body
// with the rows acknowledged so far. A 429 or 503 answer is waited out and
// the body sent again, at most cfg.MaxAttempts times in all; any other
// failed request, or a body still refused after its attempts, stops the
// load.
func Load(ctx context.Context, cfg LoadConfig, bodies [][]byte, progress func(rows int64)) (LoadResult, error) {
	target, err := loadURL(cfg)
	if err != nil {
		return LoadResult{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Expect: 100-continue on InfluxDB-protocol bodies only when asked
	// (LoadConfig.ExpectContinue); ClickHouse's loads always go without: a
	// server that never answers 100 Continue would delay each body by
	// ExpectContinueTimeout.
	expect := cfg.ExpectContinue && cfg.Protocol == ProtoInflux
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers, DisableCompression: true,
		ExpectContinueTimeout: time.Second}}
	attempts := cfg.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	wait := cfg.wait
	if wait == nil {
		wait = sleepCtx
	}
	var next, rows, size, retries, waited atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < max(cfg.Workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) || ctx.Err() != nil {
					return
				}
				body := bodies[i]
				var err error
				for try, backoff := 1, retryBackoffStart; ; try++ {
					var after time.Duration
					var retryable bool
					retryable, after, err = post(ctx, client, target, body, expect)
					if err == nil || !retryable || ctx.Err() != nil {
						break
					}
					if try == attempts {
						err = fmt.Errorf("%w (refused %d times, the last attempt)", err, attempts)
						break
					}
					d := after
					if d < 0 { // no Retry-After: back off, doubling
						d, backoff = backoff, min(2*backoff, retryBackoffMax)
					}
					retries.Add(1)
					waited.Add(int64(d))
					if err = wait(ctx, d); err != nil {
						break
					}
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("load body %d into %s: %w", i, cfg.URL, err); cancel() })
					return
				}
				n := rows.Add(int64(bytes.Count(body, []byte{'\n'})))
				size.Add(int64(len(body)))
				if progress != nil {
					progress(n)
				}
			}
		}()
	}
	wg.Wait()
	r := LoadResult{Rows: rows.Load(), Bytes: size.Load(), Elapsed: time.Since(start),
		Retries: retries.Load(), RetryWait: time.Duration(waited.Load())}
	r.Values = r.Rows * int64(len(CPUFields))
	return r, firstErr
}

func loadURL(cfg LoadConfig) (string, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return "", fmt.Errorf("parse --url %q: %w", cfg.URL, err)
	}
	q := url.Values{}
	switch cfg.Protocol {
	case ProtoInflux:
		u.Path = joinPath(u.Path, "/write")
		q.Set("db", cfg.DB)
	case ProtoClickHouse:
		table := cfg.Table
		if table == "" {
			table = "cpu"
		}
		q.Set("query", "INSERT INTO "+cfg.DB+"."+table+" FORMAT TabSeparated")
	default:
		return "", fmt.Errorf("unknown protocol %q (want influx or clickhouse)", cfg.Protocol)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func joinPath(base, p string) string {
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	return base + p
}

// post sends body once, with Expect: 100-continue when expect. A 429 or 503 answer is retryable: after is its
// Retry-After (capped at retryAfterMax), or -1 when it gives none.
func post(ctx context.Context, client *http.Client, target string, body []byte, expect bool) (retryable bool, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if expect {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, 0, err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return false, 0, nil
	}
	err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return false, 0, err
	}
	return true, retryAfter(resp.Header.Get("Retry-After"), time.Now()), err
}

// retryAfter parses a Retry-After value, delay-seconds or an HTTP date
// (RFC 9110 10.2.3), into a wait of at most retryAfterMax; -1 when v is
// empty or neither.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return -1
		}
		return min(time.Duration(min(s, int64(retryAfterMax/time.Second)))*time.Second, retryAfterMax)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), retryAfterMax)
	}
	return -1
}

// sleepCtx waits d, or less if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
