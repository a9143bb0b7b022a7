package engine

import (
	"context"
	"slices"
)

// TagValues returns, sorted, the distinct non-empty values of tag key in
// db.table among rows whose tags match filter (for each k, one of
// filter[k]; nil: all rows) — from segments' tag indexes and heads'
// dictionaries, without reading rows: what Grafana's variable and editor
// queries (SHOW TAG VALUES) ask on every dashboard load. ok is false when
// the indexes cannot answer exactly (retention is hiding rows of a window,
// or a segment lacks an index); the caller then scans.
func (e *Engine) TagValues(db, table, key string, filter map[string][]string) (vals []string, ok bool, err error) {
	// The footers of cold segments are read at the open: one whose object
	// is gone is read again on the reloaded manifests (RetryGone).
	err = e.RetryGone(context.Background(), nil, func(context.Context) error {
		var err error
		vals, ok, err = e.tagValues(db, table, key, filter)
		return err
	})
	return vals, ok, err
}

func (e *Engine) tagValues(db, table, key string, filter map[string][]string) (vals []string, ok bool, err error) {
	ts, err := e.OpenScan(db, table)
	if err != nil {
		return nil, false, err
	}
	defer ts.Close()
	if ts.clip {
		return nil, false, nil // an index counts expired rows too
	}
	set := map[string]bool{}
	for _, seg := range ts.segs {
		vs, ok := seg.TagValues(key, filter)
		if !ok {
			return nil, false, nil
		}
		for _, v := range vs {
			set[v] = true
		}
	}
	for _, h := range ts.heads {
		for _, v := range h.TagValues(key, filter) {
			set[v] = true
		}
	}
	for v := range set {
		if v != "" {
			vals = append(vals, v)
		}
	}
	slices.Sort(vals)
	return vals, true, nil
}
