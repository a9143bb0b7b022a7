package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
}

// LoadResult is what a load measured.
type LoadResult struct {
	Rows    int64         `json:"rows"`
	Values  int64         `json:"values"`
	Bytes   int64         `json:"bytes"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// RowsPerSec is rows per second of wall clock.
func (r LoadResult) RowsPerSec() float64 { return float64(r.Rows) / r.Elapsed.Seconds() }

// ValuesPerSec is field values per second of wall clock.
func (r LoadResult) ValuesPerSec() float64 { return float64(r.Values) / r.Elapsed.Seconds() }

// Load posts bodies with cfg.Workers concurrent requests and returns when
// all are acknowledged. progress, when not nil, is called after each body
// with the rows acknowledged so far. Any failed request stops the load.
func Load(ctx context.Context, cfg LoadConfig, bodies [][]byte, progress func(rows int64)) (LoadResult, error) {
	target, err := loadURL(cfg)
	if err != nil {
		return LoadResult{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers, DisableCompression: true}}
	var next, rows, size atomic.Int64
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
				if err := post(ctx, client, target, body); err != nil {
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
	r := LoadResult{Rows: rows.Load(), Bytes: size.Load(), Elapsed: time.Since(start)}
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

func post(ctx context.Context, client *http.Client, target string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
