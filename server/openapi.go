package server

import (
	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/docs"
)

// handleOpenAPI serves the OpenAPI description of this API, as built into
// the binary, so clients and generators get the contract of the server
// they talk to.
func (s *Server) handleOpenAPI(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use GET")
		return
	}
	ctx.SetContentType("application/yaml")
	ctx.SetBody(docs.OpenAPI)
}
