package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/sink"
)

// The InfluxDB v2 API beyond /api/v2/write: enough of its shape for v2
// clients and tools to show Silt's errors and to find their bucket. A v2
// bucket is a Silt database; Silt has no organizations, so every org a
// client names exists and holds every bucket.

// defaultOrg is the organization listed when a client asks for none.
const defaultOrg = "silt"

// addV2Message gives an error answer of an /api/v2 endpoint the message
// key v2 clients read (influxdb-client-go, Telegraf's influxdb_v2 output
// print it, and without it only the status), holding the same text as
// Silt's error key. writeError adds it to the errors it writes; this
// runs after the handler for the answers written otherwise (a write's
// rejected lines).
func (s *Server) addV2Message(ctx *fasthttp.RequestCtx) {
	if ctx.Response.StatusCode() < 400 || !bytes.HasPrefix(ctx.Response.Header.ContentType(), []byte("application/json")) {
		return
	}
	body := ctx.Response.Body()
	var e struct {
		Error   *string          `json:"error"`
		Message *json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil || e.Message != nil {
		return
	}
	end := bytes.LastIndexByte(body, '}')
	if end < 0 {
		return
	}
	msg, _ := json.Marshal(*e.Error)
	out := make([]byte, 0, len(body)+len(msg)+12)
	out = append(out, body[:end]...)
	out = append(out, `,"message":`...)
	out = append(out, msg...)
	out = append(out, body[end:]...)
	ctx.Response.SetBody(out)
}

// v2ErrorBody is the error answer of the /api/v2 paths: Silt's shape
// with message, where v2 clients look for the reason.
type v2ErrorBody struct {
	Error   string `json:"error"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RequestID is as in ErrorBody.
	RequestID string `json:"request_id,omitempty"`
}

// isV2Path reports whether ctx is a request for an InfluxDB v2 path.
// The refusals made before a handler runs (transportError) have a path
// too: it is read with the headers.
func isV2Path(ctx *fasthttp.RequestCtx) bool {
	return bytes.HasPrefix(ctx.Path(), []byte("/api/v2/"))
}

// handleHealth answers /health in InfluxDB v2's shape (name, message,
// status, checks, version, commit), which keeps the status and version
// keys it always had. It is liveness: it passes while the WAL replays
// (/ready says when queries are answered).
func (s *Server) handleHealth(ctx *fasthttp.RequestCtx) {
	msg := "ready for queries and writes"
	if !s.eng.Ready() {
		msg = "replaying the WAL; /ready answers 503 until done"
	}
	s.writeJSON(ctx, fasthttp.StatusOK, struct {
		Name    string   `json:"name"`
		Message string   `json:"message"`
		Status  string   `json:"status"`
		Checks  []string `json:"checks"`
		Version string   `json:"version"`
		Commit  string   `json:"commit"`
	}{"silt", msg, "pass", []string{}, Version, ""})
}

// msgFlux is the answer of /api/v2/query.
const msgFlux = "Flux is not supported by Silt: query with InfluxQL (GET or POST /query?db=DB&q=..., the InfluxDB 1.x API; " +
	"/api/v3/query_influxql) or SQL (/api/v3/query_sql, /api/v1/sql, the PostgreSQL wire protocol, Arrow Flight SQL)"

// handleV2Query answers /api/v2/query, InfluxDB v2's Flux endpoint.
func (s *Server) handleV2Query(ctx *fasthttp.RequestCtx) {
	s.writeError(ctx, fasthttp.StatusBadRequest, "flux-not-supported", msgFlux)
}

// influxID is the 16-hex-digit ID of an InfluxDB v2 resource, made from
// its name: stable across restarts and servers without storing anything.
func influxID(kind, name string) string {
	h := fnv.New64a()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return fmt.Sprintf("%016x", h.Sum64())
}

type v2Org struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	CreatedAt   string            `json:"createdAt"`
	UpdatedAt   string            `json:"updatedAt"`
	Links       map[string]string `json:"links"`
}

func newV2Org(name string) v2Org {
	id := influxID("org", name)
	return v2Org{ID: id, Name: name, Description: "Silt has no organizations: every org holds every database",
		CreatedAt: time.Unix(0, 0).UTC().Format(time.RFC3339), UpdatedAt: time.Unix(0, 0).UTC().Format(time.RFC3339),
		Links: map[string]string{"self": "/api/v2/orgs/" + id, "buckets": "/api/v2/buckets?org=" + name}}
}

// handleOrgs serves /api/v2/orgs: GET lists one organization (the one
// named by org=, else "silt"); POST answers the organization of its
// body's name as created. Nothing is stored: writes and bucket lists
// ignore the org.
func (s *Server) handleOrgs(ctx *fasthttp.RequestCtx) {
	switch {
	case ctx.IsGet():
		name := string(ctx.QueryArgs().Peek("org"))
		if name == "" {
			name = defaultOrg
		}
		s.writeJSON(ctx, fasthttp.StatusOK, map[string]any{
			"links": map[string]string{"self": "/api/v2/orgs"}, "orgs": []v2Org{newV2Org(name)}})
	case ctx.IsPost():
		var req struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
			s.writeError(ctx, fasthttp.StatusBadRequest, "bad-json", `request body: `+err.Error()+`: want {"name": "org"}`)
			return
		}
		if req.Name == "" {
			s.writeError(ctx, fasthttp.StatusBadRequest, "missing-name", `the organization name is required: {"name": "org"}`)
			return
		}
		s.writeJSON(ctx, fasthttp.StatusCreated, newV2Org(req.Name))
	default:
		ctx.Response.Header.Set("Allow", "GET, POST")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use GET to list organizations or POST to create one")
	}
}

type v2RetentionRule struct {
	Type         string `json:"type"`
	EverySeconds int64  `json:"everySeconds"`
}

type v2Bucket struct {
	ID             string            `json:"id"`
	OrgID          string            `json:"orgID"`
	Type           string            `json:"type"`
	Name           string            `json:"name"`
	RetentionRules []v2RetentionRule `json:"retentionRules"`
	CreatedAt      string            `json:"createdAt"`
	UpdatedAt      string            `json:"updatedAt"`
	Links          map[string]string `json:"links"`
}

func (s *Server) v2Bucket(db, org string) v2Bucket {
	id := influxID("bucket", db)
	b := v2Bucket{ID: id, OrgID: influxID("org", org), Type: "user", Name: db, RetentionRules: []v2RetentionRule{},
		CreatedAt: time.Unix(0, 0).UTC().Format(time.RFC3339), UpdatedAt: time.Unix(0, 0).UTC().Format(time.RFC3339),
		Links: map[string]string{"self": "/api/v2/buckets/" + id, "write": "/api/v2/write?bucket=" + db}}
	if d, _, ok := s.eng.Retention(db); ok && d > 0 {
		b.RetentionRules = append(b.RetentionRules, v2RetentionRule{"expire", int64(d / time.Second)})
	}
	return b
}

// handleBuckets serves /api/v2/buckets: GET lists the databases as
// buckets (name= narrows to one, limit= and offset= page), POST creates a
// database from {"name": ..., "retentionRules": [{"everySeconds": N}]}
// and answers 422 when it exists, as InfluxDB v2 does. Setting retention
// deletes data: with auth on it needs the admin scope, as on
// /api/v1/databases.
func (s *Server) handleBuckets(ctx *fasthttp.RequestCtx, tok *Token) {
	org := string(ctx.QueryArgs().Peek("org"))
	if org == "" {
		org = defaultOrg
	}
	switch {
	case ctx.IsGet():
		args := ctx.QueryArgs()
		limit, offset := 20, 0
		for _, p := range []struct {
			name     string
			v        *int
			min, max int
		}{{"limit", &limit, 1, 100}, {"offset", &offset, 0, 1 << 30}} {
			raw := args.Peek(p.name)
			if len(raw) == 0 {
				continue
			}
			n, err := strconv.Atoi(string(raw))
			if err != nil || n < p.min || n > p.max {
				s.writeError(ctx, fasthttp.StatusBadRequest, "bad-parameter",
					fmt.Sprintf("bad %s parameter %q: want an integer from %d to %d", p.name, truncate(raw, 32), p.min, p.max))
				return
			}
			*p.v = n
		}
		names := s.eng.Databases()
		if name := args.Peek("name"); len(name) > 0 {
			names = names[:0:0]
			if _, ok := s.eng.Tables(string(name)); ok {
				names = append(names, string(name))
			}
		}
		names = names[min(offset, len(names)):]
		names = names[:min(limit, len(names))]
		buckets := make([]v2Bucket, 0, len(names))
		for _, db := range names {
			buckets = append(buckets, s.v2Bucket(db, org))
		}
		s.writeJSON(ctx, fasthttp.StatusOK, map[string]any{
			"links": map[string]string{"self": "/api/v2/buckets"}, "buckets": buckets})
	case ctx.IsPost():
		var req struct {
			Name           string             `json:"name"`
			RetentionRules *[]v2RetentionRule `json:"retentionRules"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
			s.writeError(ctx, fasthttp.StatusBadRequest, "bad-json", `request body: `+err.Error()+`: want {"name": "bucket", "retentionRules": [{"type": "expire", "everySeconds": 86400}]}`)
			return
		}
		if req.Name == "" {
			s.writeError(ctx, fasthttp.StatusBadRequest, "missing-name", `the bucket name is required: {"name": "bucket"}`)
			return
		}
		if _, ok := s.eng.Tables(req.Name); ok {
			s.writeError(ctx, fasthttp.StatusUnprocessableEntity, "conflict", "bucket with name "+req.Name+" already exists")
			return
		}
		var every int64 = -1
		if req.RetentionRules != nil && len(*req.RetentionRules) > 0 {
			if len(*req.RetentionRules) > 1 {
				s.writeError(ctx, fasthttp.StatusBadRequest, "bad-retention", "a bucket takes one retention rule")
				return
			}
			every = (*req.RetentionRules)[0].EverySeconds
			if every < 0 {
				s.writeError(ctx, fasthttp.StatusBadRequest, "bad-retention", "everySeconds must not be negative (0 keeps data forever)")
				return
			}
			if tok != nil && !tok.has(scopeAdmin) {
				s.writeError(ctx, fasthttp.StatusForbidden, "insufficient-scope", "token "+tok.Name+" lacks the admin scope to set retention")
				return
			}
		}
		var err error
		if every < 0 {
			err = s.eng.CreateDatabase(req.Name)
		} else {
			err = s.eng.SetRetention(req.Name, time.Duration(every)*time.Second)
		}
		if err != nil {
			s.databaseError(ctx, err)
			return
		}
		s.writeJSON(ctx, fasthttp.StatusCreated, s.v2Bucket(req.Name, org))
	default:
		ctx.Response.Header.Set("Allow", "GET, POST")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use GET to list buckets or POST to create one")
	}
}

// databaseError answers an engine error of creating or dropping a
// database.
func (s *Server) databaseError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, sink.ErrBadName):
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-db-name", err.Error())
	case errors.Is(err, engine.ErrReadOnly):
		s.writeError(ctx, fasthttp.StatusForbidden, "read-only", err.Error())
	case errors.Is(err, engine.ErrNotReady):
		ctx.Response.Header.Set("Retry-After", "1")
		s.writeError(ctx, fasthttp.StatusServiceUnavailable, "not-ready", err.Error())
	default:
		s.writeError(ctx, fasthttp.StatusInternalServerError, "database-failed", err.Error())
	}
}
