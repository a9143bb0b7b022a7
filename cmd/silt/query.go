package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

const queryUsage = `Usage: silt query [flags] "SQL"

Runs SQL (PostgreSQL grammar, see docs/sql.md) against a Silt server and
prints the result as an aligned table, CSV or JSON.

Examples:
  silt query --db benchmark "SELECT hostname, max(usage_user) FROM cpu GROUP BY hostname ORDER BY 2 DESC LIMIT 5"
  silt query --db benchmark --format csv "SELECT * FROM cpu LIMIT 100" > cpu.csv
  echo "SHOW TABLES" | silt query --db benchmark -

Flags:
`

func runQuery(args []string) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	server := fs.String("server", "http://127.0.0.1:8086", "Silt server URL")
	db := fs.String("db", "", "database (required)")
	format := fs.String("format", "table", "output: table, csv or json")
	token := fs.String("token", "", "API token (default $SILT_TOKEN)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	fs.Usage = func() { fmt.Fprint(fs.Output(), queryUsage); fs.PrintDefaults() }
	pos, err := parseInterspersed(fs, args) // "SQL" --db x works too
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var problem string
	switch {
	case len(pos) == 0:
		problem = "need one SQL argument ('-' reads it from stdin)"
	case len(pos) > 1:
		problem = fmt.Sprintf("got %d arguments, want one SQL argument: quote the whole statement", len(pos))
	case *db == "":
		problem = "need --db"
	}
	if problem != "" {
		fmt.Fprintln(os.Stderr, "silt query: "+problem)
		fs.Usage()
		return 2
	}
	text := pos[0]
	if text == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "silt query: read stdin:", err)
			return 1
		}
		text = string(b)
	}
	wire := "json"
	if *format == "csv" {
		wire = "csv"
	} else if *format != "table" && *format != "json" {
		fmt.Fprintf(os.Stderr, "silt query: unknown --format %q (table, csv or json)\n", *format)
		return 2
	}
	u := strings.TrimRight(*server, "/") + "/api/v1/sql?" + url.Values{"db": {*db}, "format": {wire}}.Encode()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(text))
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt query:", err)
		return 2
	}
	req.Header.Set("Content-Type", "text/plain")
	if *token == "" {
		*token = os.Getenv("SILT_TOKEN")
	}
	if *token != "" {
		req.Header.Set("Authorization", "Token "+*token)
	}
	resp, err := (&http.Client{Timeout: *timeout}).Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "silt query: cannot reach %s: %v\n", *server, err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt query: read response:", err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Code string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			fmt.Fprintf(os.Stderr, "silt query: %s (%s)\n", e.Error, e.Code)
		} else {
			fmt.Fprintf(os.Stderr, "silt query: HTTP %d: %s\n", resp.StatusCode, bytes.TrimSpace(body))
		}
		return 1
	}
	if *format != "table" {
		os.Stdout.Write(body)
		return 0
	}
	var res struct {
		Columns []struct{ Name, Type string }
		Rows    [][]any
		Stats   struct {
			Rows      int     `json:"rows"`
			ElapsedMs float64 `json:"elapsed_ms"`
		}
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&res); err != nil {
		fmt.Fprintln(os.Stderr, "silt query: decode response:", err)
		return 1
	}
	header := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		header[i] = c.Name
	}
	cells := make([][]string, len(res.Rows))
	for r, row := range res.Rows {
		cells[r] = make([]string, len(row))
		for c, v := range row {
			if v == nil {
				cells[r][c] = "NULL"
			} else {
				cells[r][c] = fmt.Sprint(v)
			}
		}
	}
	printTable(os.Stdout, header, cells)
	fmt.Printf("(%d rows, %.1f ms)\n", res.Stats.Rows, res.Stats.ElapsedMs)
	return 0
}

// printTable prints cells as an aligned table with a header rule.
func printTable(w io.Writer, header []string, cells [][]string) {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(vals []string) {
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(v)
			b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(v)))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(header)
	rule := make([]string, len(header))
	for i := range rule {
		rule[i] = strings.Repeat("-", width[i])
	}
	fmt.Fprintln(w, strings.Join(rule, "-+-"))
	for _, row := range cells {
		line(row)
	}
}
