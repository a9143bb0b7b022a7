package main

import (
	"io"
	"log/slog"
)

// newLogger is silt serve's logger: text (slog's key=value lines, for a
// terminal and journald) or json (one object a line, for log shippers).
// format is checked by validate.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
