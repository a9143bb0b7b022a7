package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/siltdb/silt/ingest/importer"
)

// Exit codes of `silt import`.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130 // the shell convention for "stopped by SIGINT"
)

// maxShownRejects is how many rejected lines are printed at the end.
const maxShownRejects = 10

const importUsage = `Usage: silt import --db NAME [flags] FILE...

Bulk-load InfluxDB line-protocol or NDJSON files into a running Silt server.
Files may be gzip-compressed (detected from their content). The format is
taken from the name (.ndjson, .jsonl, .json, also before .gz, are NDJSON) or
else from the content (a first character '{' means NDJSON), unless --format
says otherwise.

Progress is saved while importing: if the import is interrupted (Ctrl-C, a
crash, a dead server), running the same command again continues where it
stopped, and files that were imported completely are skipped. Some lines
near the interruption point may be sent twice; Silt stores a point with the
same series and timestamp only once, so this is harmless.

Lines the server rejects are reported with their file and line number; the
rest of the file is still imported.

Examples:
  silt import --db metrics cpu.lp mem.lp.gz
  silt import --db metrics --precision s --workers 8 telegraf-*.lp
  silt import --server https://silt.example.com:8086 --db logs --table events events.ndjson.gz
  SILT_TOKEN=s3cret silt import --db metrics --no-resume cpu.lp

Flags:
`

// runImport implements `silt import`. args excludes the subcommand name.
func runImport(args []string) int {
	stderr := os.Stderr
	cfg := importer.DefaultConfig()
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Server, "server", cfg.Server, "Silt server `URL`")
	fs.StringVar(&cfg.DB, "db", "", "database to write to (required)")
	fs.StringVar(&cfg.Table, "table", "", "table for NDJSON rows that do not name one")
	fs.StringVar(&cfg.Precision, "precision", "", "timestamp precision of the input: ns, us, ms or s (default ns)")
	fs.StringVar(&cfg.Format, "format", cfg.Format, "input format: auto, lp or ndjson")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "concurrent requests")
	fs.IntVar(&cfg.BatchLines, "batch-lines", cfg.BatchLines, "lines per request")
	// No default shown for the token: the usage text must not print the
	// secret taken from the environment.
	fs.StringVar(&cfg.Token, "token", "", "API `token` (default $SILT_TOKEN)")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "where progress is saved (default $XDG_CACHE_HOME/silt/import or ~/.cache/silt/import)")
	noResume := fs.Bool("no-resume", false, "ignore saved progress: import every file from its start, even if already imported")
	quiet := fs.Bool("quiet", false, "no progress bar, notices or summary; only errors and rejected lines")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), importUsage)
		fs.PrintDefaults()
	}

	files, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage // the flag package has printed the error and usage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "silt import: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'silt import -h' for usage.")
		return exitUsage
	}
	if cfg.DB == "" {
		return usageErr("--db is required")
	}
	if len(files) == 0 {
		return usageErr("no files to import")
	}
	if cfg.Workers < 1 {
		return usageErr("--workers must be at least 1")
	}
	if cfg.BatchLines < 1 {
		return usageErr("--batch-lines must be at least 1")
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	if cfg.Token == "" {
		cfg.Token = os.Getenv("SILT_TOKEN")
	}
	cfg.Resume = !*noResume
	if !*quiet {
		cfg.Log = stderr
		// A bar redrawn with carriage returns is noise in a log file.
		if isTerminal(stderr) {
			cfg.Progress = stderr
		}
	}

	ctx, stop := interruptible(context.Background(), stderr)
	defer stop()
	res, err := importer.Run(ctx, cfg, files)

	if len(res.Rejected) > 0 {
		printRejected(stderr, res)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "silt import: interrupted; progress is saved, run the same command again to resume")
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "silt import: %v\n", err)
		if res.RowsSent > 0 {
			fmt.Fprintln(stderr, "silt import: progress is saved, run the same command again to resume once the problem is fixed")
		}
		return exitFailed
	}
}

// parseInterspersed parses flags that may come after file names too
// ("silt import a.lp --db x"), which the flag package alone does not allow.
// Everything after "--" is a file name.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return files, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(files, rest...), nil
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
}

// printRejected lists the first rejected lines.
func printRejected(w io.Writer, res importer.Result) {
	n := min(len(res.Rejected), maxShownRejects)
	fmt.Fprintf(w, "%d rows rejected; the server reported these", res.RowsRejected)
	if n < len(res.Rejected) {
		fmt.Fprintf(w, " (first %d of %d listed)", n, len(res.Rejected))
	}
	fmt.Fprintln(w, ":")
	for _, rl := range res.Rejected[:n] {
		fmt.Fprintf(w, "  %s\n", rl)
	}
}

// interruptible returns a context cancelled by the first SIGINT or SIGTERM,
// so that the import stops sending and saves its progress. A second signal
// exits at once, for when that takes too long.
func interruptible(parent context.Context, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "\nsilt import: stopping and saving progress (press Ctrl-C again to quit at once)")
		cancel()
		select {
		case <-sig:
			fmt.Fprintln(stderr, "silt import: quitting; the last second of progress may be resent next time")
			os.Exit(exitInterrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		close(done)
		cancel()
	}
}

// isTerminal reports whether f is a terminal rather than a file or pipe.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
