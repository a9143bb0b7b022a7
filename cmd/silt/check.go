package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/tiering"
)

const checkUsage = `Usage: silt check [flags]

Checks a data directory and reports what is damaged or needs an operator:

  manifest    it parses; segment ids are unique and below the next id;
              every segment's table has a schema; rollups have their
              raw segment
  segments    every local segment the manifest names exists, has the size
              the manifest records, and reads whole: Parquet footer, Silt's
              segment info and tag index, every page decoded with its
              CRC-32 checked; its rows and time range agree with the
              manifest. Files under segments/ the manifest does not name
              are noted (the server removes them at its next start)
  wal         every record of the WAL files the manifest does not cover:
              header, length, CRC-32C, decompression
  bucket      with --bucket and the server's --s3.* flags: every tiered
              segment's object exists with the size and CRC-64/NVME the
              manifest records
  quarantine  batches of rows that could not be flushed or replayed and
              were moved to <data-dir>/quarantine

It only reads, so it may run next to a live server: a file that a running
server's compaction or tiering replaces meanwhile is not reported, and the
newest WAL file may end in a record being written (noted, not reported).

With --repair (server stopped) it moves what is wrong into the quarantine,
each with a reason.json: a damaged segment's file leaves the manifest (with
its rollups); a missing file or object leaves the manifest; damaged WAL
records are cut out of their file (the original file is kept in the
quarantine); a torn WAL tail is truncated.

Exit status: 0 when nothing needs attention, 1 when a problem was found or
the quarantine holds batches, 2 on a usage or read error.

Flags:
`

func runCheck(args []string) int {
	return check(args, os.Stdout, os.Stderr)
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "silt-data", "the server's data directory")
	repair := fs.Bool("repair", false, "quarantine what is damaged (the server must be stopped)")
	bucket := fs.Bool("bucket", false, "also check the tiered segments' objects in the bucket the --s3.* flags name")
	tc := tiering.DefaultConfig()
	all := flag.NewFlagSet("", flag.ContinueOnError)
	tc.RegisterFlags(all)
	all.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "s3.") && f.Name != "s3.create-bucket" {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
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
	c := &checker{dir: *dataDir, out: stdout}
	if *bucket {
		if !tc.Enabled() {
			fmt.Fprintln(stderr, "silt check: --bucket needs the server's --s3.endpoint, --s3.bucket and --s3.prefix")
			return 2
		}
		if err := tc.LoadSecrets(); err != nil {
			fmt.Fprintf(stderr, "silt check: %v\n", err)
			return 2
		}
		store, err := tiering.NewS3Store(tc.S3)
		if err != nil {
			fmt.Fprintf(stderr, "silt check: %v\n", err)
			return 2
		}
		c.store = store
	}
	unlock, err := c.lock(*repair)
	if err != nil {
		fmt.Fprintf(stderr, "silt check: %v\n", err)
		return 2
	}
	defer unlock()
	if err := c.run(); err != nil {
		fmt.Fprintf(stderr, "silt check: %v\n", err)
		return 2
	}
	status := 0
	if len(c.problems) > 0 {
		status = 1
		if *repair {
			if err := c.repair(); err != nil {
				fmt.Fprintf(stderr, "silt check: repair: %v\n", err)
				return 2
			}
		} else if c.repairable() {
			fmt.Fprintln(stdout, "run with --repair (server stopped) to move what is damaged into the quarantine")
		}
	}

	q, err := engine.ListQuarantine(*dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "silt check: %v\n", err)
		return 2
	}
	if len(q) == 0 {
		fmt.Fprintf(stdout, "quarantine: empty\n")
		return status
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
