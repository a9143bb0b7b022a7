package server

import (
	"bytes"
	"slices"

	"github.com/valyala/fasthttp"
)

// sameSiteOrSafe refuses a request a web page on another site made a
// browser send, when it could change state: a cookie-less API still must
// not let any page a user visits write or drop data on a Silt reachable
// from the user's machine (auth is off by default). Reads are let through:
// without CORS the page cannot see the answer. Clients that are not
// browsers send neither Origin nor Sec-Fetch-Site and are not affected.
// It also answers CORS for the origins of --http-allowed-origins.
func (s *Server) sameSiteOrSafe(ctx *fasthttp.RequestCtx, path string) bool {
	origin := ctx.Request.Header.Peek("Origin")
	allowed := len(origin) > 0 && slices.Contains(s.cfg.AllowedOrigins, string(origin))
	if allowed {
		h := &ctx.Response.Header
		h.Set("Access-Control-Allow-Origin", string(origin))
		h.Set("Vary", "Origin")
		if ctx.IsOptions() {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding, Accept")
			h.Set("Access-Control-Max-Age", "600")
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return false // answered
		}
		return true
	}
	if ctx.IsGet() || ctx.IsHead() || ctx.IsOptions() || !crossSite(&ctx.Request.Header, origin) {
		return true
	}
	s.writeError(ctx, fasthttp.StatusForbidden, "cross-site-request",
		"refused a state-changing request from another site's web page ("+path+"); allow its origin with --http-allowed-origins")
	return false
}

// crossSite reports whether a browser sent the request for a page of
// another origin: Sec-Fetch-Site says so (all current browsers send it),
// or else the Origin header names another host than the request's.
func crossSite(h *fasthttp.RequestHeader, origin []byte) bool {
	switch string(h.Peek("Sec-Fetch-Site")) {
	case "same-origin", "none":
		return false
	case "cross-site", "same-site":
		// same-site still is another origin (a sibling subdomain or
		// another port of the host).
		return true
	}
	if len(origin) == 0 {
		return false
	}
	// Origin is scheme://host[:port]; Host is host[:port].
	_, hostPort, ok := bytes.Cut(origin, []byte("://"))
	return !ok || !bytes.EqualFold(hostPort, h.Host())
}
