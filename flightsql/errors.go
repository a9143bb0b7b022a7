package flightsql

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/siltdb/silt/query"
)

// grpcError is err as the gRPC status a client gets, for the errors that
// are not one already (those raised while an answer is encoded and sent):
// the call's end (ctx done) is Canceled or DeadlineExceeded, a memory
// limit ResourceExhausted; anything else is Silt's fault, Internal. gRPC
// itself would answer an error that is no status as Unknown, which
// tells a client nothing.
func grpcError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case ctx.Err() != nil:
		return status.Error(status.FromContextError(ctx.Err()).Code(), err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.Error(status.FromContextError(err).Code(), err.Error())
	case errors.Is(err, query.ErrMemoryLimit):
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// errPanic is a call's failure by a panic in Silt, answered Internal.
var errPanic = errors.New("internal error")

// panicError turns a recovered panic value into the error of the call,
// logging it with its stack.
func (l *Listener) panicError(what string, v any) error {
	l.log.Error("Flight SQL call panicked", "call", what, "panic", v, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, fmt.Errorf("%w: %v", errPanic, v).Error())
}

// unaryErrors and streamErrors give every call's error a gRPC code
// (grpcError) and fail a call that panics with Internal instead of the
// process: gRPC does not recover handlers.
func (l *Listener) unaryErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if v := recover(); v != nil {
			resp, err = nil, l.panicError(info.FullMethod, v)
		}
	}()
	resp, err = h(ctx, req)
	return resp, grpcError(ctx, err)
}

func (l *Listener) streamErrors(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = l.panicError(info.FullMethod, v)
		}
	}()
	return grpcError(ss.Context(), h(srv, ss))
}
