// Command silt is Silt's one binary: the server, its clients and tools.
package main

import (
	"fmt"
	"os"

	"github.com/siltdb/silt/flightsql"
	"github.com/siltdb/silt/server"
)

// version and revision are set at build time with -ldflags "-X
// main.version=... -X main.revision=..." (make build, the Dockerfile); a
// plain go build reads them from the build information (version.go).
var (
	version  = "dev"
	revision = ""
)

const usage = `silt — a columnar time-series store with InfluxDB-compatible ingest.

Usage:
  silt serve   [flags]       run the server (see 'silt serve --help')
  silt import  [flags] FILE  bulk-load line protocol or NDJSON files into a server
  silt query   [flags] "SQL" run SQL against a server, print a table (--format csv|json)
  silt bench gen|load|query|report|membw
                             TSBS cpu-only workload: generate, load into Silt, InfluxDB or
                             ClickHouse, run the query types, compare (see 'silt bench help')
  silt check   [flags]       verify a data directory (manifest, segments, WAL, bucket); --repair
  silt backup  --to DIR|s3://bucket/prefix
                             copy a consistent snapshot of a running server (incremental)
  silt restore --from DIR|s3://bucket/prefix --data-dir NEW
                             write a backup into a new data directory
  silt ready   [--url URL]   exit 0 once a server is ready (a container health check)
  silt config example        print a config file of every serve setting with its default
  silt version               print version, git revision and build information

Quick start:
  silt serve                                   # data in ./silt-data, HTTP on 127.0.0.1:8086
  curl -XPOST 'http://127.0.0.1:8086/write?db=demo' --data-binary 'cpu,host=a usage=0.5'
  silt query --db demo "SELECT * FROM cpu"
`

func main() {
	version, revision = buildVersion(version, revision)
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
	case "ready":
		os.Exit(runReady(args))
	case "config":
		os.Exit(runConfig(args))
	case "backup":
		os.Exit(runBackup(args))
	case "restore":
		os.Exit(runRestore(args))
	case "version", "--version", "-v":
		printVersion(os.Stdout)
	case "help", "--help", "-h":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "silt: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
