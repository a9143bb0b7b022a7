package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/engine"
)

// servePushedScan answers cluster.RollupPath on a writer: its own scan of
// its rows outside the bucket (heads and local segments) at the query
// node's rollup widths, as the batches that scan delivers — partials
// where its engine folds them, raw rows elsewhere, deduplicated among its
// own sources exactly as a single node's scan is.
func servePushedScan(w http.ResponseWriter, r *http.Request, e *engine.Engine, log *slog.Logger) {
	if e == nil || !e.Ready() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	q := r.URL.Query()
	db, table := q.Get("db"), q.Get("table")
	minT, err1 := strconv.ParseInt(q.Get("min"), 10, 64)
	maxT, err2 := strconv.ParseInt(q.Get("max"), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		http.Error(w, "bad time range: "+err.Error(), http.StatusBadRequest)
		return
	}
	var widths []int64
	for _, s := range splitList(q.Get("widths")) {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil || x <= 0 {
			http.Error(w, "bad widths: "+q.Get("widths"), http.StatusBadRequest)
			return
		}
		widths = append(widths, x)
	}
	if len(widths) == 0 {
		http.Error(w, "widths: none given", http.StatusBadRequest)
		return
	}
	var tags map[string][]string
	if raw := q.Get("tags"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &tags); err != nil {
			http.Error(w, "bad tags: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	ts, err := e.OpenLocalScanRollups(db, table, minT, maxT, widths)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer ts.Close()
	ts.Columns, ts.RollupColumns, ts.Tags = splitList(q.Get("columns")), splitList(q.Get("rollup_columns")), tags
	if ts.Columns == nil {
		ts.Columns = []string{}
	}
	// Sent before any batch, once the scan is open: the query node checks
	// the range against its other sources before it reads on.
	w.Header().Set("Content-Type", "application/vnd.apache.arrow.stream")
	if lo, hi, ok := ts.SourceRange(); ok {
		w.Header().Set(cluster.RowsMinHeader, strconv.FormatInt(lo, 10))
		w.Header().Set(cluster.RowsMaxHeader, strconv.FormatInt(hi, 10))
		// The values of the table's first tag, if every series has it:
		// writers that split series among them (Kafka partitions by
		// host) hold rows of the same times but never the same point.
		tables, _ := e.Tables(db)
		if s := tables[table]; s != nil && len(s.Tags) > 0 {
			if vals, ok := ts.KeyValues(s.Tags[0]); ok {
				if raw, err := json.Marshal(vals); err == nil && len(raw) <= cluster.MaxKeyValuesHeader {
					w.Header().Set(cluster.KeyHeader, s.Tags[0])
					w.Header().Set(cluster.KeyValuesHeader, string(raw))
				}
			}
		}
	}
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	bw := cluster.NewBatchWriter(w)
	err = ts.RunBatches(r.Context(), bw.Write)
	if err == nil {
		err = bw.Close()
	}
	if err != nil {
		// The status is sent: cut the stream (no end frame) so the reader
		// fails rather than take a part for the whole.
		if r.Context().Err() == nil {
			log.Warn("internal API: pushed-down scan", "db", db, "table", table, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// splitList splits a comma-separated parameter; "" is none.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// registerOverlayMetrics exports how a query node read writers' rows
// outside the bucket: raw, or as their pushed-down scans' batches.
func registerOverlayMetrics(reg *prometheus.Registry, o *cluster.Overlay) {
	counter := func(name, help string, v func(cluster.OverlayStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(o.Stats())) })
	}
	reg.MustRegister(
		counter("silt_cluster_overlay_raw_fetches_total", "Writers' rows outside the bucket fetched raw for a query node's scans.",
			func(s cluster.OverlayStats) int64 { return s.RawFetches }),
		counter("silt_cluster_overlay_raw_bytes_total", "Bytes of those raw fetches.",
			func(s cluster.OverlayStats) int64 { return s.RawBytes }),
		counter("silt_cluster_overlay_pushed_fetches_total", "Writers' pushed-down scans (partials) a query node's scans read instead of raw rows.",
			func(s cluster.OverlayStats) int64 { return s.PushedFetches }),
		counter("silt_cluster_overlay_pushed_bytes_total", "Bytes of those pushed-down scans.",
			func(s cluster.OverlayStats) int64 { return s.PushedBytes }),
		counter("silt_cluster_overlay_pushed_refused_total", "Writers whose pushed-down scan was dropped because their rows could share points with another source (fetched raw instead).",
			func(s cluster.OverlayStats) int64 { return s.PushedRefused }))
}
