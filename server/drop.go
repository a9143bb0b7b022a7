package server

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/sink"
)

// handleDrop serves DELETE /api/v1/databases?db=D[&table=T]: drops the
// database, or one of its tables, durably (engine.DropDatabase/DropTable);
// needs the admin scope. 404 when the database or table does not exist.
func (s *Server) handleDrop(ctx *fasthttp.RequestCtx) {
	db := string(ctx.QueryArgs().Peek("db"))
	table := string(ctx.QueryArgs().Peek("table"))
	if db == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "the db parameter is required: DELETE /api/v1/databases?db=D[&table=T]")
		return
	}
	tables, ok := s.eng.Tables(db)
	if !ok {
		s.writeError(ctx, fasthttp.StatusNotFound, "db-not-found", "database not found: "+db)
		return
	}
	var err error
	if table == "" {
		err = s.eng.DropDatabase(db)
	} else if _, ok := tables[table]; !ok {
		err = engine.ErrTableNotFound
	} else {
		err = s.eng.DropTable(db, table)
	}
	switch {
	case errors.Is(err, engine.ErrTableNotFound):
		s.writeError(ctx, fasthttp.StatusNotFound, "table-not-found", "table not found: "+db+"."+table)
	case errors.Is(err, sink.ErrBadName):
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-name", err.Error())
	case errors.Is(err, engine.ErrReadOnly):
		s.writeError(ctx, fasthttp.StatusForbidden, "read-only", err.Error())
	case err != nil:
		s.writeError(ctx, fasthttp.StatusInternalServerError, "drop-failed", err.Error())
	default:
		s.writeJSON(ctx, fasthttp.StatusOK, map[string]string{"dropped_db": db, "dropped_table": table})
	}
}
