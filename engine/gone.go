package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/siltdb/silt/tiering"
)

// A query reads cold segments from the object store as it goes, on the
// manifest it took when it started. On a read-only node (a cluster's query
// node, --s3.read-only) that manifest is the writers', and a writer deletes
// an object --tier.delete-grace after its manifest stopped naming it
// (compaction, retention or a drop replaced the segment): a query that
// runs longer than the grace, or a node cut off from the bucket for
// longer, can find an object gone (S3 NoSuchKey). Such a query is not
// answered from what it read: it is run again, from the start, on the
// manifests read again (RetryGone).

// ErrObjectGone: a query needed a segment whose object is gone from the
// object store, and running it again on the reloaded manifests did not
// help (or part of a streamed answer was already sent). Its message says
// what was tried; it wraps the last read's error.
var ErrObjectGone = errors.New("an object the query read is gone from the object store")

// GoneRetries is how many times RetryGone runs a query again after an
// object it read was gone. Each run reloads the manifests first; one is
// enough unless the writers keep replacing the query's segments faster
// than it runs.
const GoneRetries = 2

// IsObjectGone reports whether err is a read of an object that is not in
// the object store (and not already the final error of RetryGone).
func IsObjectGone(err error) bool {
	return errors.Is(err, tiering.ErrNotFound) && !errors.Is(err, ErrObjectGone)
}

type goneKey struct{}

// RetryGone runs run (a whole query: plan, scans, answer) and, when it
// fails because an object it read is gone from the object store, reloads
// the manifests (a read-only node's, ReloadBucketManifest; a writer's own
// is current) and runs it again, at most GoneRetries times. A run's
// partial work is dropped whole: run must build its answer from scratch
// each time and hand nothing to its caller before it returns.
//
// sent, if not nil, reports whether part of the answer already left (a
// streamed answer): then the query is not run again and the error says
// that the answer was cut short. Nested calls (a query run under another
// RetryGone) run once: the outermost one retries.
//
// The attempts count in silt_query_object_gone_retries_total, and queries
// that still failed in silt_query_object_gone_failures_total.
func (e *Engine) RetryGone(ctx context.Context, sent func() bool, run func(context.Context) error) error {
	if e.tier == nil || ctx.Value(goneKey{}) != nil {
		return run(ctx)
	}
	ctx = context.WithValue(ctx, goneKey{}, true)
	var tried []string
	for attempt := 0; ; attempt++ {
		err := run(ctx)
		if err == nil || !IsObjectGone(err) || ctx.Err() != nil {
			return err
		}
		if sent != nil && sent() {
			e.tier.m.GoneFailures.Inc()
			return fmt.Errorf("%w: part of the answer was already sent, so the query was not run again and the answer is cut short (run it again): %w",
				ErrObjectGone, err)
		}
		if attempt == GoneRetries {
			e.tier.m.GoneFailures.Inc()
			return fmt.Errorf("%w: ran the query %d times, reloading the manifests before each new run (%s), and each run found an object gone; the writers may be replacing segments faster than the query runs, or a manifest names an object that was deleted: %w",
				ErrObjectGone, attempt+1, strings.Join(tried, "; "), err)
		}
		e.tier.m.GoneRetries.Inc()
		what := "manifest current"
		if e.tier.cfg.ReadOnly {
			gen := e.Manifest().Generation
			if rerr := e.ReloadBucketManifest(ctx); rerr != nil {
				e.tier.m.GoneFailures.Inc()
				return fmt.Errorf("%w: %w; reloading the manifests to run the query again failed: %w", ErrObjectGone, err, rerr)
			}
			if e.Manifest().Generation == gen {
				what = "reloaded, unchanged"
			} else {
				what = "reloaded, changed"
			}
		}
		tried = append(tried, what)
		e.log.Warn("an object a query read is gone from the object store (replaced by a writer after its delete grace); running the query again on the reloaded manifests",
			"attempt", attempt+1, "manifests", what, "err", err)
	}
}
