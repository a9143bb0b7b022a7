package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/siltdb/silt/columnar"
)

// RollupPath answers a query node's scan of db.table that reads rollups
// with the batches the writer's own scan of its rows outside the bucket
// delivers — partials per series and window where its engine folds them,
// raw rows elsewhere — as framed Arrow IPC (BatchWriter). Parameters:
// db, table, min, max (ns, [min, max)), widths (ns, comma-separated,
// coarsest first), columns and rollup_columns (comma-separated), tags
// (JSON {tag: [values]}, optional). The answer's headers say whether the
// writer has rows in range (RowsMinHeader, RowsMaxHeader: the first and
// last time of its sources there; absent: none). The headers are sent once
// the writer's scan is open: what it answers is fixed from then on.
const (
	RollupPath    = "/internal/v1/rollup"
	RowsMinHeader = "Silt-Rows-Min"
	RowsMaxHeader = "Silt-Rows-Max"
	// KeyHeader names a tag every series of the writer's rows in range
	// has, and KeyValuesHeader its values there (a JSON array): a source
	// holding none of them shares no point with the writer's rows.
	KeyHeader       = "Silt-Rows-Key"
	KeyValuesHeader = "Silt-Rows-Key-Values"
	// MaxKeyValuesHeader bounds KeyValuesHeader; past it the writer sends
	// neither (its rows are then apart only in time).
	MaxKeyValuesHeader = 256 << 10
)

// RollupRequest is a query node's scan that may take writers' rows as
// their scans' batches.
type RollupRequest struct {
	Min, Max      int64
	Widths        []int64
	Columns       []string
	RollupColumns []string
	Tags          map[string][]string
	// Refuse names the writers whose rows must come raw.
	Refuse map[string]bool
}

// Pushed is one writer's answer to a RollupRequest: open, its batches not
// read yet. Run reads them; Close ends the answer (both, once).
type Pushed struct {
	Node     string
	Rows     bool  // the writer has rows in range
	Min, Max int64 // their bound, inclusive
	// Key and Values: KeyHeader and KeyValuesHeader ("": not sent).
	Key    string
	Values []string
	body   io.ReadCloser
	cancel context.CancelFunc
	o      *Overlay
	addr   string
}

// Run passes the batches to emit (valid until it returns); a writer that
// fails mid-answer fails the query, as the raw path's fetch does.
func (p *Pushed) Run(ctx context.Context, emit func(*columnar.ColumnBatch) error) error {
	stop := context.AfterFunc(ctx, p.cancel)
	defer stop()
	p.o.pushedFetches.Add(1)
	br := NewBatchReader(p.body)
	err := br.Each(emit)
	p.o.pushedBytes.Add(br.Bytes)
	if err != nil {
		return fmt.Errorf("writer %s at %s: pushed-down scan: %w", p.Node, p.addr, err)
	}
	return nil
}

// Close ends the answer.
func (p *Pushed) Close() {
	p.cancel()
	_ = p.body.Close()
}

// OverlayStats counts how a query node read writers' rows outside the
// bucket.
type OverlayStats struct {
	// RawFetches and RawBytes: writers' rows fetched raw (RowsPath).
	RawFetches, RawBytes int64
	// PushedFetches and PushedBytes: answers to pushed-down scans
	// (RollupPath) that were read.
	PushedFetches, PushedBytes int64
	// PushedRefused: pushed-down answers dropped because their rows could
	// share points with other sources (the scan then fetched them raw).
	PushedRefused int64
}

// Stats returns the counters since the overlay was made.
func (o *Overlay) Stats() OverlayStats {
	return OverlayStats{RawFetches: o.rawFetches.Load(), RawBytes: o.rawBytes.Load(),
		PushedFetches: o.pushedFetches.Load(), PushedBytes: o.pushedBytes.Load(), PushedRefused: o.pushedRefused.Load()}
}

// CountRefused counts pushed-down answers a scan dropped as inexact.
func (o *Overlay) CountRefused(n int) { o.pushedRefused.Add(int64(n)) }

// countingReader counts the bytes read through it into n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// fetchPushed asks writer w for its scan's batches; ok is false when the
// writer does not serve RollupPath (an older build): its rows come raw.
func (o *Overlay) fetchPushed(ctx context.Context, w Record, db, table string, req *RollupRequest) (p *Pushed, ok bool, err error) {
	widths := make([]string, len(req.Widths))
	for i, x := range req.Widths {
		widths[i] = strconv.FormatInt(x, 10)
	}
	q := url.Values{"db": {db}, "table": {table}, "min": {strconv.FormatInt(req.Min, 10)}, "max": {strconv.FormatInt(req.Max, 10)},
		"widths": {strings.Join(widths, ",")}, "columns": {strings.Join(req.Columns, ",")}, "rollup_columns": {strings.Join(req.RollupColumns, ",")}}
	if len(req.Tags) > 0 {
		raw, err := json.Marshal(req.Tags)
		if err != nil {
			return nil, false, err
		}
		q.Set("tags", string(raw))
	}
	// The answer is read while the query runs, after this returns: its
	// own context, ended by Close (or the query's end, Run).
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	resp, err := o.getWith(sctx, o.stream, w, RollupPath+"?"+q.Encode())
	stop()
	if err != nil {
		cancel()
		return nil, false, fmt.Errorf("writer %s at %s: %w", w.NodeID, w.InternalAddress, err)
	}
	fail := func(err error) (*Pushed, bool, error) {
		resp.Body.Close()
		cancel()
		return nil, false, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		// No such route: an older writer, whose rows come raw. (A
		// writer without the table answers 200 with no rows.)
		return fail(nil)
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fail(fmt.Errorf("writer %s at %s: pushed-down scan of %s.%s: %s: %s", w.NodeID, w.InternalAddress, db, table, resp.Status, strings.TrimSpace(string(msg))))
	}
	p = &Pushed{Node: w.NodeID, body: resp.Body, cancel: cancel, o: o, addr: w.InternalAddress}
	if lo, hi := resp.Header.Get(RowsMinHeader), resp.Header.Get(RowsMaxHeader); lo != "" || hi != "" {
		var e1, e2 error
		p.Min, e1 = strconv.ParseInt(lo, 10, 64)
		p.Max, e2 = strconv.ParseInt(hi, 10, 64)
		if e1 != nil || e2 != nil {
			return fail(fmt.Errorf("writer %s at %s: pushed-down scan: bad range %q..%q", w.NodeID, w.InternalAddress, lo, hi))
		}
		p.Rows = true
	}
	if key := resp.Header.Get(KeyHeader); key != "" {
		if err := json.Unmarshal([]byte(resp.Header.Get(KeyValuesHeader)), &p.Values); err != nil {
			return fail(fmt.Errorf("writer %s at %s: pushed-down scan: bad %s: %w", w.NodeID, w.InternalAddress, KeyValuesHeader, err))
		}
		p.Key = key
	}
	return p, true, nil
}
