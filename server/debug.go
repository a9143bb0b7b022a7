package server

import (
	"net/http/pprof"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// maxProfileSeconds caps the seconds parameter of /debug/pprof/profile and
// /debug/pprof/trace: a profile keeps a core busy sampling for as long as
// it is asked to.
const maxProfileSeconds = 30

var (
	pprofIndex   = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Index)
	pprofProfile = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Profile)
	pprofTrace   = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Trace)
	pprofSymbol  = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Symbol)
)

// The runtime takes one CPU profile and one execution trace at a time;
// net/http/pprof answers a second one with a 500. These locks answer it
// with 409 instead, before the runtime is asked.
var cpuProfiling, tracing sync.Mutex

// The mutex and block profiles sample nothing by default: sampling costs
// every contended Unlock and every blocking event, all the time. A profile
// over a window (?seconds=N, at most maxProfileSeconds) turns sampling on
// for that window only and off again after it, so a server pays for it only
// while someone asks, and the answer is what the window sampled (who waited
// for the engine's lock, and behind whom). One such window at a time:
// another gets 409. Without seconds the profile is what earlier windows
// sampled.
var contentionProfiling sync.Mutex

const (
	// Every contention event: the window is short.
	mutexProfileFraction = 1
	// One sample per 100 µs spent blocked, on average.
	blockProfileRateNs = 100_000
)

// serveContention serves the mutex or block profile, sampling it for the
// window its seconds parameter asks.
func (s *Server) serveContention(ctx *fasthttp.RequestCtx, name string) {
	serve := fasthttpadaptor.NewFastHTTPHandler(pprof.Handler(name))
	args := ctx.QueryArgs()
	v := args.Peek("seconds")
	if len(v) == 0 {
		serve(ctx)
		return
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n <= 0 {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-seconds", "seconds must be a positive whole number")
		return
	}
	if n > maxProfileSeconds {
		args.Set("seconds", strconv.Itoa(maxProfileSeconds))
		ctx.Request.Header.SetRequestURI("/debug/pprof/" + name + "?" + args.String())
	}
	if !contentionProfiling.TryLock() {
		s.writeError(ctx, fasthttp.StatusConflict, "profile-busy", "a mutex or block profile is being taken already; retry when it ends")
		return
	}
	defer contentionProfiling.Unlock()
	if name == "mutex" {
		prev := runtime.SetMutexProfileFraction(mutexProfileFraction)
		defer runtime.SetMutexProfileFraction(prev)
	} else {
		runtime.SetBlockProfileRate(blockProfileRateNs)
		defer runtime.SetBlockProfileRate(0) // the rate cannot be read back: off, as the server starts
	}
	serve(ctx)
}

// handlePprof serves Go's profiles when --debug.pprof is on (admin scope
// with auth on). There is no cmdline endpoint: the command line holds
// --auth-token secrets.
func (s *Server) handlePprof(ctx *fasthttp.RequestCtx, path string) {
	name := strings.TrimPrefix(strings.TrimPrefix(path, "/debug/pprof"), "/")
	switch name {
	case "":
		pprofIndex(ctx)
	case "profile", "trace":
		args := ctx.QueryArgs()
		if v := args.Peek("seconds"); len(v) > 0 {
			n, err := strconv.Atoi(string(v))
			if err != nil || n <= 0 {
				s.writeError(ctx, fasthttp.StatusBadRequest, "bad-seconds", "seconds must be a positive whole number")
				return
			}
			if n > maxProfileSeconds {
				// The adaptor reads the request line, not the parsed
				// arguments: rewrite the line.
				args.Set("seconds", strconv.Itoa(maxProfileSeconds))
				ctx.Request.Header.SetRequestURI("/debug/pprof/" + name + "?" + args.String())
			}
		}
		lock, serve := &cpuProfiling, pprofProfile
		if name == "trace" {
			lock, serve = &tracing, pprofTrace
		}
		if !lock.TryLock() {
			s.writeError(ctx, fasthttp.StatusConflict, "profile-busy", "a "+name+" is being taken already: the runtime takes one at a time; retry when it ends")
			return
		}
		defer lock.Unlock()
		serve(ctx)
	case "symbol":
		pprofSymbol(ctx)
	case "block", "mutex":
		s.serveContention(ctx, name)
	case "allocs", "goroutine", "heap", "threadcreate":
		fasthttpadaptor.NewFastHTTPHandler(pprof.Handler(name))(ctx)
	default:
		s.writeError(ctx, fasthttp.StatusNotFound, "not-found", "no profile "+name+" (the command line is never served)")
	}
}
