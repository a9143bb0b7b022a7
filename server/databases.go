package server

import (
	"encoding/json"
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/sink"
)

// DatabaseInfo is the answer of POST /api/v1/databases.
type DatabaseInfo struct {
	Name        string `json:"name"`
	Retention   string `json:"retention"` // Go duration, or "inf"
	RetentionNs int64  `json:"retention_ns"`
	Default     bool   `json:"retention_is_default"` // the server's --retention applies
}

// handleCreateDatabase serves POST /api/v1/databases: body
// {"name": "db", "retention": "30d"} (or name= and retention= parameters)
// creates the database if needed and sets its retention: a duration such as
// 30d, 2w or 720h, "inf" to keep data forever, or nothing to leave the
// database on the server default. Idempotent. Setting retention deletes
// data, so with auth on it needs the admin scope.
func (s *Server) handleCreateDatabase(ctx *fasthttp.RequestCtx, tok *Token) {
	req := struct {
		Name      string  `json:"name"`
		Retention *string `json:"retention"`
	}{Name: string(ctx.QueryArgs().Peek("name"))}
	if r := ctx.QueryArgs().Peek("retention"); r != nil {
		v := string(r)
		req.Retention = &v
	}
	if body := ctx.PostBody(); len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			s.writeError(ctx, fasthttp.StatusBadRequest, "bad-json", "request body: "+err.Error())
			return
		}
	}
	if req.Name == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-name", `the database name is required: {"name": "db", "retention": "30d"}`)
		return
	}
	if req.Retention != nil && tok != nil && !tok.has(scopeAdmin) {
		s.writeError(ctx, fasthttp.StatusForbidden, "insufficient-scope", "token "+tok.Name+" lacks the admin scope to set retention")
		return
	}
	var err error
	if req.Retention == nil {
		err = s.eng.CreateDatabase(req.Name)
	} else {
		d, perr := engine.ParseRetention(*req.Retention)
		if perr != nil {
			s.writeError(ctx, fasthttp.StatusBadRequest, "bad-retention", perr.Error())
			return
		}
		err = s.eng.SetRetention(req.Name, d)
	}
	switch {
	case errors.Is(err, sink.ErrBadName):
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-db-name", err.Error())
		return
	case errors.Is(err, engine.ErrReadOnly):
		s.writeError(ctx, fasthttp.StatusForbidden, "read-only", err.Error())
		return
	case err != nil:
		s.writeError(ctx, fasthttp.StatusInternalServerError, "create-database-failed", err.Error())
		return
	}
	d, def, _ := s.eng.Retention(req.Name)
	info := DatabaseInfo{Name: req.Name, Retention: "inf", RetentionNs: int64(d), Default: def}
	if d > 0 {
		info.Retention = d.String()
	}
	s.writeJSON(ctx, fasthttp.StatusOK, info)
}
