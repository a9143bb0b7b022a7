package server

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/siltdb/silt/query/influxql"
)

// TestWriteInfluxJSONMatchesEncoder: the streaming /query encoder writes
// the same bytes as encoding/json's Encoder for every shape of answer.
func TestWriteInfluxJSONMatchesEncoder(t *testing.T) {
	cases := []*influxql.Response{
		{},
		{Error: "bad <query> & \"quotes\"", Code: "influxql-syntax"},
		{Results: []*influxql.Result{{StatementID: 0}}},
		{Results: []*influxql.Result{
			{StatementID: 0, Series: []*influxql.Series{
				{Name: "cpu", Tags: map[string]string{"host": "a", "dc": "<x>"}, Columns: []string{"time", "v", "s"},
					Values: [][]any{{int64(1), 1.5, "x\"y"}, {"2026-01-01T00:00:00Z", nil, true}, {int64(3), math.MaxFloat64, uint64(7)}}},
				{Name: "mem", Columns: []string{"time"}, Partial: true},
				{Columns: nil},
			}, Partial: true},
			{StatementID: 1, Messages: []influxql.Message{{Level: "warning", Text: "w"}}, Error: "database not found: x"},
			{StatementID: 2, Series: []*influxql.Series{{Name: "é\u2028", Columns: []string{"a"}, Values: [][]any{{"\x00"}}}}},
		}},
	}
	for i, resp := range cases {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(resp); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := writeInfluxJSON(&got, resp); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("case %d:\n got %s\nwant %s", i, got.String(), want.String())
		}
	}
}
