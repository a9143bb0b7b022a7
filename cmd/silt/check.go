package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/siltdb/silt/engine"
)

const checkUsage = `Usage: silt check [flags]

Checks a data directory and reports what needs an operator. Today it lists
the quarantine: batches of rows that could not be flushed or replayed and
were moved to <data-dir>/quarantine (each with reason.json and the rows as
WAL records) so that every other table kept working. It reads only that
directory, so it may run next to a live server.

Exit status: 0 when nothing needs attention, 1 when the quarantine holds
batches, 2 on a usage or read error.

Flags:
`

func runCheck(args []string) int {
	return check(args, os.Stdout, os.Stderr)
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "silt-data", "the server's data directory")
	fs.Usage = func() { fmt.Fprint(fs.Output(), checkUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "silt check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if _, err := os.Stat(*dataDir); err != nil {
		fmt.Fprintf(stderr, "silt check: data directory: %v\n", err)
		return 2
	}
	q, err := engine.ListQuarantine(*dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "silt check: %v\n", err)
		return 2
	}
	if len(q) == 0 {
		fmt.Fprintf(stdout, "quarantine: empty\n")
		return 0
	}
	fmt.Fprintf(stdout, "quarantine: %d batch(es) could not be stored; their rows are kept in the directories below\n", len(q))
	for _, e := range q {
		where := e.DB + "." + e.Table
		if e.Table == "" {
			where = e.DB
		}
		if where == "" {
			where = "-"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%d rows\t%s\n  %s\n", e.Time.Format("2006-01-02T15:04:05Z"), e.Stage, where, e.Rows,
			e.Dir, strings.ReplaceAll(e.Reason, "\n", " "))
	}
	return 1
}
