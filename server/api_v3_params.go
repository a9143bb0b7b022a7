package server

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/siltdb/silt/query/sql"
)

// hasParams reports whether raw, a request's params, holds any: absent,
// null and {} hold none.
func hasParams(raw json.RawMessage) bool {
	p := strings.TrimSpace(string(raw))
	return p != "" && p != "null" && p != "{}"
}

// BindSQLParams writes the values of params, the JSON object an InfluxDB
// 3 client sends ({"host": "a"}), into text's $name parameters (see
// sql.BindNamed). The /api/v3 query endpoint and the Flight SQL listener
// share it.
func BindSQLParams(text string, params json.RawMessage) (string, error) {
	if !hasParams(params) {
		return text, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(params, &m); err != nil {
		return "", fmt.Errorf(`params must be a JSON object of values, as {"host": "a", "min": 1.5}: %w`, err)
	}
	return sql.BindNamed(text, m)
}
