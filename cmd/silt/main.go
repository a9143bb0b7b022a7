// Command silt is Silt's one binary: the server, its clients and tools.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/siltdb/silt/flightsql"
	"github.com/siltdb/silt/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `silt — a columnar time-series store with InfluxDB-compatible ingest.

Usage:
  silt serve   [flags]       run the server (see 'silt serve --help')
  silt import  [flags] FILE  bulk-load line protocol or NDJSON files into a server
  silt query   [flags] "SQL" run SQL against a server, print a table (--format csv|json)
  silt bench gen|load|query|report|membw
                             TSBS cpu-only workload: generate, load into Silt, InfluxDB or
                             ClickHouse, run the query types, compare (see 'silt bench help')
  silt check   [flags]       list what needs an operator in a data directory (the quarantine)
  silt version               print version and build information

Quick start:
  silt serve                                   # data in ./silt-data, HTTP on 127.0.0.1:8086
  curl -XPOST 'http://127.0.0.1:8086/write?db=demo' --data-binary 'cpu,host=a usage=0.5'
  silt query --db demo "SELECT * FROM cpu"
`

func main() {
	server.Version = version
	flightsql.Version = version
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		os.Exit(runServe(args))
	case "import":
		os.Exit(runImport(args))
	case "bench":
		os.Exit(runBench(args))
	case "query":
		os.Exit(runQuery(args))
	case "check":
		os.Exit(runCheck(args))
	case "version", "--version", "-v":
		printVersion()
	case "help", "--help", "-h":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "silt: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

func printVersion() {
	fmt.Printf("silt %s\n", version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Printf("go: %s\n", bi.GoVersion)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH":
				fmt.Printf("%s: %s\n", s.Key, s.Value)
			}
		}
	}
}
