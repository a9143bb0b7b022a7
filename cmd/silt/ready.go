package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const readyUsage = `Usage: silt ready [--url URL] [--timeout D]

Exits 0 when the server answers its readiness endpoint with 200 (its WAL is
replayed), 1 otherwise: a container HEALTHCHECK for images without curl.
With auth on, the token is read from $SILT_TOKEN.

Flags:
`

// runReady probes --url once. It prints nothing on success, so a health
// check's log stays quiet; a failure says why on stderr.
func runReady(args []string) int {
	fs := flag.NewFlagSet("ready", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8086/ready", "the server's readiness endpoint")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), readyUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt ready:", err)
		return 2
	}
	if tok := os.Getenv("SILT_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Token "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt ready:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "silt ready: %s answered %d: %s\n", *url, resp.StatusCode, body)
		return 1
	}
	return 0
}
