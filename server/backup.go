package server

import (
	"errors"
	"fmt"
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
		id := string(ctx.QueryArgs().Peek("id"))
		if err := s.eng.DropSnapshot(id); err != nil {
			// The engine's error names the data directory's path: the
			// answer names only what the client asked for.
			s.log.Warn("release backup snapshot", "id", id, "err", err)
			s.writeError(ctx, fasthttp.StatusNotFound, "snapshot-not-found", fmt.Sprintf("no backup snapshot %q to release", id))
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
	id, rel := string(ctx.QueryArgs().Peek("id")), string(ctx.QueryArgs().Peek("path"))
	// Errors name what the client asked for, never the data directory's
	// path on this machine.
	notFound := fmt.Sprintf("backup snapshot %q has no file %q", id, rel)
	p, err := s.eng.SnapshotPath(id, rel)
	if err != nil {
		s.log.Warn("backup snapshot file", "id", id, "path", rel, "err", err)
		s.writeError(ctx, fasthttp.StatusNotFound, "snapshot-file-not-found", notFound)
		return
	}
	f, err := os.Open(p)
	if err != nil {
		s.log.Warn("backup snapshot file", "id", id, "path", rel, "err", err)
		s.writeError(ctx, fasthttp.StatusNotFound, "snapshot-file-not-found", notFound)
		return
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		s.writeError(ctx, fasthttp.StatusNotFound, "snapshot-file-not-found", notFound)
		return
	}
	ctx.SetContentType("application/octet-stream")
	ctx.SetBodyStream(f, int(st.Size())) // fasthttp closes f
}
