package exec

import (
	"context"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/query"
)

type scanHoldKey struct{}

// scanHoldVal is what withScanHold puts in a context.
type scanHoldVal struct {
	res      *Reservation
	maxBytes int64 // the query's Limits.MaxMemoryBytes (0: none)
}

// withScanHold returns ctx under which the engine's scans charge their
// readers' buffers to res, the running query's part of the shared
// budget (query.ScanCharge), and the copies a parallel scan makes ahead
// of its turn too, bounded by the query's own limit maxBytes (scanLookahead).
func withScanHold(ctx context.Context, res *Reservation, maxBytes int64) context.Context {
	return context.WithValue(ctx, scanHoldKey{}, scanHoldVal{res, maxBytes})
}

// scanHold is what the scans of ctx's query charge their readers'
// buffers to; nil: nothing.
func scanHold(ctx context.Context) query.Hold {
	if v, _ := ctx.Value(scanHoldKey{}).(scanHoldVal); v.res != nil {
		return v.res
	}
	return nil
}

// scanLookahead is what a parallel scan of ctx's query may hold ahead of
// its consumer (engine.Lookahead): its copies are charged to the query's
// reservation, so that --query-max-memory-total counts them, and are
// bounded by half of --query-max-memory. They are not charged against
// that limit — its count is the consumer's (the table's columns) — but a
// copy becomes those columns when it is handed on, so a lookahead of half
// the limit keeps a query that fits its limit within twice it at worst,
// rather than the limit plus 32 MiB per scan.
func scanLookahead(ctx context.Context) engine.Lookahead {
	v, _ := ctx.Value(scanHoldKey{}).(scanHoldVal)
	la := engine.Lookahead{Max: v.maxBytes / 2}
	if v.res != nil {
		la.Hold = v.res
	}
	if v.maxBytes > 0 && la.Max == 0 {
		la.Max = 1 // a limit of 1 byte: no lookahead, not the default
	}
	return la
}
