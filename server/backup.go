package server

import (
	"errors"
	"os"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/engine"
)

// Backup endpoints (admin scope with auth on; `silt backup` is the client):
//
//	POST   /api/v1/backup                    pin a snapshot; answers engine.Snapshot
//	GET    /api/v1/backup/file?id=ID&path=P  one file of the snapshot
//	DELETE /api/v1/backup?id=ID              release the snapshot
//
// A snapshot is a directory of hard links in the data directory; it holds no
// lock and costs disk space only for files the live directory has since
// deleted, until it is released or the server restarts.
const (
	backupPath     = "/api/v1/backup"
	backupFilePath = "/api/v1/backup/file"
)

func (s *Server) handleBackup(ctx *fasthttp.RequestCtx) {
	switch {
	case ctx.IsPost():
		snap, err := s.eng.CreateSnapshot()
		switch {
		case errors.Is(err, engine.ErrNotReady), errors.Is(err, engine.ErrClosed):
			s.writeError(ctx, fasthttp.StatusServiceUnavailable, "not-ready", "snapshot: "+err.Error())
		case err != nil:
			s.writeError(ctx, fasthttp.StatusInternalServerError, "snapshot-failed", err.Error())
		default:
			s.writeJSON(ctx, fasthttp.StatusOK, snap)
		}
	case ctx.IsDelete():
		if err := s.eng.DropSnapshot(string(ctx.QueryArgs().Peek("id"))); err != nil {
			s.writeError(ctx, fasthttp.StatusNotFound, "snapshot-not-found", err.Error())
			return
		}
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		ctx.Response.Header.Set("Allow", "POST, DELETE")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "POST creates a backup snapshot, DELETE ?id= releases it")
	}
}

func (s *Server) handleBackupFile(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		ctx.Response.Header.Set("Allow", "GET")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "GET "+backupFilePath+"?id=ID&path=P")
		return
	}
	p, err := s.eng.SnapshotPath(string(ctx.QueryArgs().Peek("id")), string(ctx.QueryArgs().Peek("path")))
	if err != nil {
		s.writeError(ctx, fasthttp.StatusNotFound, "snapshot-file-not-found", err.Error())
		return
	}
	f, err := os.Open(p)
	if err != nil {
		s.writeError(ctx, fasthttp.StatusNotFound, "snapshot-file-not-found", "open snapshot file: "+err.Error())
		return
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		s.writeError(ctx, fasthttp.StatusNotFound, "snapshot-file-not-found", "not a snapshot file: "+string(ctx.QueryArgs().Peek("path")))
		return
	}
	ctx.SetContentType("application/octet-stream")
	ctx.SetBodyStream(f, int(st.Size())) // fasthttp closes f
}
