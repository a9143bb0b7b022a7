package influxql

import (
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"strings"
)

// WriteCSV writes resp as InfluxDB 1.x does for Accept: application/csv:
// a header "name,tags,<columns>" whenever the columns change, a blank line
// between statements, times and numbers as plain numbers, and "error"
// blocks for errors.
func WriteCSV(w io.Writer, resp *Response) error {
	cw := csv.NewWriter(w)
	if resp.Error != "" {
		_ = cw.Write([]string{"error"})
		_ = cw.Write([]string{resp.Error})
		cw.Flush()
		return cw.Error()
	}
	var columns []string
	stmt := -1
	for _, r := range resp.Results {
		if r.StatementID != stmt {
			if len(r.Series) == 0 && r.Error == "" {
				continue
			}
			stmt = r.StatementID
			if columns != nil {
				cw.Flush()
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
				columns = columns[:0]
			}
		}
		if r.Error != "" {
			_ = cw.Write([]string{"error"})
			_ = cw.Write([]string{r.Error})
			columns = []string{}
			continue
		}
		for _, s := range r.Series {
			if len(columns) != len(s.Columns)+2 || !equalStrings(columns[2:], s.Columns) {
				columns = append(append(columns[:0], "name", "tags"), s.Columns...)
				_ = cw.Write(columns)
			}
			// Tags as in a series key: sorted, escaped, empty ones left out.
			keys := make([]string, 0, len(s.Tags))
			for k, v := range s.Tags {
				if v != "" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for i, k := range keys {
				keys[i] = escapeTag(k) + "=" + escapeTag(s.Tags[k])
			}
			tags := strings.Join(keys, ",")
			record := make([]string, 2+len(s.Columns))
			for _, row := range s.Values {
				record[0], record[1] = s.Name, tags
				for i, v := range row {
					record[2+i] = csvValue(v)
				}
				_ = cw.Write(record)
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return ""
}
