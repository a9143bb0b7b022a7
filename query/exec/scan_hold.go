package exec

import (
	"context"

	"github.com/siltdb/silt/query"
)

type scanHoldKey struct{}

// withScanHold returns ctx under which the engine's scans charge their
// readers' buffers to res, the running query's part of the shared
// budget (query.ScanCharge).
func withScanHold(ctx context.Context, res *Reservation) context.Context {
	return context.WithValue(ctx, scanHoldKey{}, res)
}

// scanHold is what the scans of ctx's query charge their readers'
// buffers to; nil: nothing.
func scanHold(ctx context.Context) query.Hold {
	if r, _ := ctx.Value(scanHoldKey{}).(*Reservation); r != nil {
		return r
	}
	return nil
}
