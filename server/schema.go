package server

import (
	"sort"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/columnar"
)

// TableInfo is one table in GET /api/v1/tables.
type TableInfo struct {
	Name   string      `json:"name"`
	Tags   []string    `json:"tags"`
	Fields []FieldInfo `json:"fields"`
}

// FieldInfo is one field column of a table.
type FieldInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

func (s *Server) handleDatabases(ctx *fasthttp.RequestCtx, tok *Token) {
	if ctx.IsPost() {
		s.handleCreateDatabase(ctx, tok) // databases.go
		return
	}
	if ctx.IsDelete() {
		s.handleDrop(ctx) // drop.go
		return
	}
	s.writeJSON(ctx, fasthttp.StatusOK, map[string][]string{"databases": s.eng.Databases()})
}

func (s *Server) handleTables(ctx *fasthttp.RequestCtx) {
	db := string(ctx.QueryArgs().Peek("db"))
	if db == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "the db parameter is required")
		return
	}
	tables, ok := s.eng.Tables(db)
	if !ok {
		s.writeError(ctx, fasthttp.StatusNotFound, "db-not-found", "database "+db+" does not exist")
		return
	}
	out := make([]TableInfo, 0, len(tables))
	for name, sch := range tables {
		out = append(out, tableInfo(name, sch))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	s.writeJSON(ctx, fasthttp.StatusOK, map[string]any{"db": db, "tables": out})
}

func tableInfo(name string, s *columnar.TableSchema) TableInfo {
	ti := TableInfo{Name: name, Tags: append([]string{}, s.Tags...), Fields: []FieldInfo{}}
	for _, f := range s.Fields {
		ti.Fields = append(ti.Fields, FieldInfo{Name: f.Name, Type: f.Type.String()})
	}
	return ti
}
