package flightsql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/siltdb/silt/query/sql"
)

// The tickets this server reads: the JSON ticket of the InfluxDB 3
// clients (influxdb3-go, -python, -java, ...), which DoGet gets without a
// FlightInfo first, and the handle of a Flight SQL statement, which
// GetFlightInfo makes and DoGet reads back. Both come from the client:
// anything may be in them.

// Query languages of a ticket.
const (
	langSQL      = "sql"
	langInfluxQL = "influxql"
)

// maxTicketBytes bounds a ticket's size (its query text with it).
const maxTicketBytes = 1 << 20

// influxTicket is an InfluxDB 3 client's ticket:
// {"database": ..., "sql_query": ..., "query_type": "sql"|"influxql",
// "params": {...}}.
type influxTicket struct {
	Database  string          `json:"database"`
	Query     string          `json:"sql_query"`
	QueryType string          `json:"query_type"`
	Params    json.RawMessage `json:"params"`
}

// isJSONTicket reports whether t looks like a JSON ticket rather than a
// Flight SQL command (a protobuf Any, whose first byte is never '{').
func isJSONTicket(t []byte) bool {
	t = bytes.TrimLeft(t, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// decodeInfluxTicket reads an InfluxDB 3 client's ticket. The database
// may be empty (then the request's metadata names it); the query may
// not. params is the ticket's params, a JSON object or nothing.
func decodeInfluxTicket(t []byte) (db, text, lang string, params json.RawMessage, err error) {
	if len(t) > maxTicketBytes {
		return "", "", "", nil, fmt.Errorf("ticket of %d bytes is larger than %d", len(t), maxTicketBytes)
	}
	var tk influxTicket
	dec := json.NewDecoder(bytes.NewReader(t))
	if err := dec.Decode(&tk); err != nil {
		return "", "", "", nil, fmt.Errorf(`ticket is not JSON {"database": ..., "sql_query": ..., "query_type": "sql" or "influxql"}: %w`, err)
	}
	if dec.More() {
		return "", "", "", nil, errors.New("ticket has data after its JSON object")
	}
	switch lang = strings.ToLower(tk.QueryType); lang {
	case "":
		lang = langSQL
	case langSQL, langInfluxQL:
	default:
		return "", "", "", nil, fmt.Errorf("ticket query_type %q: want sql or influxql", truncate(tk.QueryType, 32))
	}
	if strings.TrimSpace(tk.Query) == "" {
		return "", "", "", nil, errors.New("ticket has no sql_query: the query to run")
	}
	if p := strings.TrimSpace(string(tk.Params)); p != "" && p != "null" && !strings.HasPrefix(p, "{") {
		return "", "", "", nil, errors.New(`ticket params must be a JSON object of values, as {"host": "a"}`)
	}
	return tk.Database, tk.Query, lang, tk.Params, nil
}

// bindParams writes the values of a ticket's params into the $name
// parameters of its SQL query (sql.BindNamed), as InfluxDB 3 binds them.
func bindParams(text string, params json.RawMessage) (string, error) {
	if p := strings.TrimSpace(string(params)); p == "" || p == "null" || p == "{}" {
		return text, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(params, &m); err != nil {
		return "", fmt.Errorf(`ticket params must be a JSON object of values, as {"host": "a"}: %w`, err)
	}
	return sql.BindNamed(text, m)
}

// statementHandle is what a Flight SQL statement's ticket carries from
// GetFlightInfo to DoGet: the database and query, so that the server
// keeps no state between the two calls (a client may send the ticket to
// any node, or never).
type statementHandle struct {
	DB    string `json:"db"`
	Query string `json:"q"`
}

func encodeHandle(db, text string) []byte {
	b, _ := json.Marshal(statementHandle{db, text})
	return b
}

func decodeHandle(h []byte) (statementHandle, error) {
	var s statementHandle
	if len(h) > maxTicketBytes {
		return s, fmt.Errorf("statement handle of %d bytes is larger than %d", len(h), maxTicketBytes)
	}
	if err := json.Unmarshal(h, &s); err != nil {
		return s, fmt.Errorf("statement handle is not one this server made: %w", err)
	}
	if s.Query == "" {
		return s, errors.New("statement handle has no query")
	}
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
