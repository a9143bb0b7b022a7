package pgwire

import (
	"regexp"
	"strings"
)

// The session commands clients send on connect and around their queries,
// answered here since Silt's planner runs only queries: transaction
// control (a no-op: Silt is read-only over this protocol, and every query
// sees the data committed when it starts), SET (accepted and ignored:
// Silt answers in UTC and ISO whatever is set), SHOW, and the functions
// that report the session (version(), current_schema()…).

var (
	reTxBegin = regexp.MustCompile(`(?is)^\s*(BEGIN|START\s+TRANSACTION)\b`)
	reTxEnd   = regexp.MustCompile(`(?is)^\s*(COMMIT|END|ROLLBACK|ABORT)\b`)
	reTxMisc  = regexp.MustCompile(`(?is)^\s*(SAVEPOINT|RELEASE|ROLLBACK\s+TO)\b`)
	reSet     = regexp.MustCompile(`(?is)^\s*SET\s+(?:SESSION\s+|LOCAL\s+)?(.*?)\s*;?\s*$`)
	reReset   = regexp.MustCompile(`(?is)^\s*(RESET|DISCARD|DEALLOCATE|UNLISTEN|LISTEN|CLOSE)\b`)
	reShow    = regexp.MustCompile(`(?is)^\s*SHOW\s+("?[a-z_][a-z0-9_.]*"?)\s*;?\s*$`)
	reWrite   = regexp.MustCompile(`(?is)^\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE|GRANT|REVOKE|COPY|VACUUM|ANALYZE|CLUSTER|REINDEX|COMMENT|LOCK|PREPARE|EXECUTE|DO|CALL)\b`)
	// SELECT of one session function, alone: what drivers and GUIs send
	// on connect.
	reSessionFunc = regexp.MustCompile(`(?is)^\s*SELECT\s+(?:pg_catalog\.)?(version|current_schema|current_database|current_user|session_user|current_catalog|user|pg_backend_pid|current_setting)\s*(?:\(\s*(?:'([^']*)'\s*)?\))?\s*(?:AS\s+("?[a-z_][a-z0-9_]*"?))?\s*;?\s*$`)
)

// settings answered by SHOW and current_setting() beyond those reported
// at startup.
var moreSettings = map[string]string{
	"transaction_isolation":         "read committed",
	"transaction isolation level":   "read committed",
	"default_transaction_isolation": "read committed",
	"default_transaction_read_only": "on",
	"transaction_read_only":         "on",
	"search_path":                   `"$user", public`,
	"max_identifier_length":         "63",
	"lc_collate":                    "C",
	"lc_ctype":                      "C",
	"statement_timeout":             "0",
	"extra_float_digits":            "1",
	"bytea_output":                  "hex",
	"max_index_keys":                "32",
	"server_version_num":            "150000",
}

func setting(name string) (string, bool) {
	name = strings.ToLower(strings.Trim(name, `"`))
	for _, p := range sessionParams {
		if strings.ToLower(p[0]) == name {
			return p[1], true
		}
	}
	v, ok := moreSettings[name]
	return v, ok
}

// session answers a session command; ok is false for anything else.
func (c *conn) session(text string) (ans *answer, err error, ok bool) {
	text = strings.TrimSpace(stripComments(text))
	switch {
	case reTxBegin.MatchString(text):
		c.tx = 'T'
		return &answer{tag: "BEGIN"}, nil, true
	case reTxMisc.MatchString(text):
		w := strings.ToUpper(strings.Fields(text)[0])
		return &answer{tag: w}, nil, true
	case reTxEnd.MatchString(text):
		w := strings.ToUpper(strings.Fields(text)[0])
		switch w {
		case "END":
			w = "COMMIT"
		case "ABORT":
			w = "ROLLBACK"
		}
		c.tx = 'I'
		return &answer{tag: w}, nil, true
	case reSet.MatchString(text):
		return &answer{tag: "SET"}, nil, true
	case reReset.MatchString(text):
		w := strings.ToUpper(strings.Fields(text)[0])
		if w == "DISCARD" {
			w += " ALL"
		}
		return &answer{tag: w}, nil, true
	}
	if m := reShow.FindStringSubmatch(text); m != nil && !strings.EqualFold(m[1], "tables") {
		name := strings.Trim(m[1], `"`)
		v, known := setting(name)
		if !known {
			return nil, &pgError{code: "42704", msg: "unrecognized configuration parameter \"" + name + "\""}, true
		}
		return &answer{cols: []column{{strings.ToLower(name), oidText}}, rows: [][]any{{v}}, tag: "SHOW"}, nil, true
	}
	if m := reSessionFunc.FindStringSubmatch(text); m != nil {
		fn := strings.ToLower(m[1])
		var v any
		switch fn {
		case "version":
			v = "PostgreSQL " + ServerVersion + " on x86_64-pc-linux-gnu, Silt time-series store"
		case "current_schema":
			v = "public"
		case "current_database", "current_catalog":
			v = c.db
		case "current_user", "session_user", "user":
			v = c.user
		case "pg_backend_pid":
			v = int64(c.pid)
		case "current_setting":
			s, known := setting(m[2])
			if !known {
				return nil, &pgError{code: "42704", msg: "unrecognized configuration parameter \"" + m[2] + "\""}, true
			}
			v = s
		}
		name := fn
		if m[3] != "" {
			name = strings.Trim(m[3], `"`)
		}
		oid := uint32(oidText)
		if fn == "pg_backend_pid" {
			oid = oidInt8
		}
		return &answer{cols: []column{{name, oid}}, rows: [][]any{{v}}}, nil, true
	}
	if m := reWrite.FindStringSubmatch(text); m != nil {
		w := strings.ToUpper(m[1])
		if w == "COPY" {
			if ans, err, ok := c.copyOut(text); ok {
				return ans, err, true
			}
			w = "COPY FROM (only COPY ... TO STDOUT is)"
		}
		return nil, &pgError{code: "0A000", msg: w + " is not supported over the PostgreSQL protocol: Silt takes writes over HTTP (line protocol at /write or /api/v2/write, NDJSON at /api/v1/ingest) and Kafka/NATS; this listener only reads"}, true
	}
	return nil, nil, false
}

var reLineComment = regexp.MustCompile(`(?m)^\s*--[^\n]*\n?`)

// stripComments drops whole-line -- comments at the start of text, which
// psql and GUIs put before their queries.
func stripComments(text string) string {
	for {
		loc := reLineComment.FindStringIndex(text)
		if loc == nil || loc[0] != 0 {
			return text
		}
		text = text[loc[1]:]
	}
}
