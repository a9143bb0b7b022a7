package server

import (
	"embed"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

// The web console: a page at / and its scripts and styles under
// /console/, embedded in the binary so that it works offline and needs no
// build step. The files are plain JavaScript, HTML and CSS, written for
// this repository (server/console/); they call the same HTTP API as any
// client, with the token the user typed in (kept in the browser's
// sessionStorage).
//
//go:embed console
var consoleFiles embed.FS

// consolePrefix is where the console's assets are served.
const consolePrefix = "/console/"

// isConsolePath reports whether path is the console's page or one of its
// assets: these are served without a token (they hold no data; the page
// asks for a token before it calls the API).
func isConsolePath(path string) bool {
	return path == "/" || strings.HasPrefix(path, consolePrefix)
}

// consoleCSP keeps the page to its own scripts and styles: no inline
// script runs, so text from the server that reached the page as markup by
// mistake could still not execute.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// handleConsole serves the console's page (/) and assets (/console/NAME).
func (s *Server) handleConsole(ctx *fasthttp.RequestCtx, p string) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "the console ("+p+") is read with GET")
		return
	}
	name := "index.html"
	if p != "/" {
		name = strings.TrimPrefix(p, consolePrefix)
	}
	// Only the files of the console directory itself: no subdirectories,
	// no dot files, no "..".
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		s.writeError(ctx, fasthttp.StatusNotFound, "not-found", "no endpoint "+p)
		return
	}
	b, err := consoleFiles.ReadFile("console/" + name)
	if err != nil {
		s.writeError(ctx, fasthttp.StatusNotFound, "not-found", "no endpoint "+p)
		return
	}
	h := &ctx.Response.Header
	switch path.Ext(name) {
	case ".html":
		ctx.SetContentType("text/html; charset=utf-8")
	case ".js":
		ctx.SetContentType("text/javascript; charset=utf-8")
	case ".css":
		ctx.SetContentType("text/css; charset=utf-8")
	case ".svg":
		ctx.SetContentType("image/svg+xml")
	default:
		ctx.SetContentType("application/octet-stream")
	}
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// The files change with the binary: revalidate rather than run an old
	// script against a new server.
	h.Set("Cache-Control", "no-cache")
	ctx.SetStatusCode(fasthttp.StatusOK)
	if !ctx.IsHead() {
		ctx.SetBody(b)
	}
}
