package server

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
)

// handleExport streams every point of a table (or of all tables of a
// database) as line protocol with nanosecond timestamps, merged and
// deduplicated: GET /api/v1/export?db=D[&table=T].
func (s *Server) handleExport(ctx *fasthttp.RequestCtx) {
	db := string(ctx.QueryArgs().Peek("db"))
	if db == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "missing db: the db parameter is required: GET /api/v1/export?db=D[&table=T]")
		return
	}
	tables, ok := s.eng.Tables(db)
	if !ok {
		s.writeError(ctx, fasthttp.StatusNotFound, "db-not-found", "database "+db+" does not exist")
		return
	}
	var names []string
	if t := string(ctx.QueryArgs().Peek("table")); t != "" {
		if _, ok := tables[t]; !ok {
			s.writeError(ctx, fasthttp.StatusNotFound, "table-not-found", "table "+t+" does not exist in "+db)
			return
		}
		names = []string{t}
	} else {
		for n := range tables {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	// Open every table's segments before answering, so that unreadable
	// files give an error status rather than a short 200; a cold segment
	// whose object is gone (replaced by a writer after its delete grace)
	// is opened again on the reloaded manifests (engine.RetryGone). Once
	// the stream has started, a gone object ends it in-band (below).
	var scans []*engine.TableScan
	err := s.eng.RetryGone(context.Background(), nil, func(context.Context) error {
		scans = make([]*engine.TableScan, 0, len(names))
		for _, t := range names {
			ts, err := s.eng.OpenScan(db, t)
			if err != nil {
				for _, o := range scans {
					_ = o.Close()
				}
				return fmt.Errorf("table %s: %w", t, err)
			}
			scans = append(scans, ts)
		}
		return nil
	})
	if err != nil {
		s.log.Error("export failed", "db", db, "err", err)
		s.writeError(ctx, fasthttp.StatusInternalServerError, "export-failed", err.Error())
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	// Written by fasthttp through WriteTo in 64 KiB chunks, on the
	// connection's goroutine (stream_writeto.go), as SQL's answers are:
	// through a pipe, an export of gigabytes went out 4 KiB per write.
	s.setBodyWriterTo(ctx, func(w *bufio.Writer) { // stream_writeto.go
		var line []byte
		var err error
		for i, ts := range scans {
			if err == nil {
				err = ts.Run(func(p *columnar.Point) error {
					line = AppendLineProtocol(line[:0], names[i], p)
					_, err := w.Write(line)
					return err
				})
				if err != nil {
					// The status is gone; say so in-band, as a line
					// protocol comment that a re-import skips.
					s.log.Error("export failed mid-stream", "db", db, "table", names[i], "err", err)
					fmt.Fprintf(w, "# silt: export failed, output incomplete: %v\n", err)
				}
			}
			_ = ts.Close()
		}
	})
}

// AppendLineProtocol appends p as one line of InfluxDB line protocol.
func AppendLineProtocol(dst []byte, table string, p *columnar.Point) []byte {
	dst = appendEscaped(dst, table, ", ")
	for _, t := range p.Tags {
		dst = append(dst, ',')
		dst = appendEscaped(dst, t.Key, ",= ")
		dst = append(dst, '=')
		dst = appendEscaped(dst, t.Value, ",= ")
	}
	for i, f := range p.Fields {
		if i == 0 {
			dst = append(dst, ' ')
		} else {
			dst = append(dst, ',')
		}
		dst = appendEscaped(dst, f.Key, ",= ")
		dst = append(dst, '=')
		switch f.Type {
		case columnar.FieldFloat:
			dst = strconv.AppendFloat(dst, math.Float64frombits(f.Num), 'g', -1, 64)
		case columnar.FieldInt:
			dst = strconv.AppendInt(dst, int64(f.Num), 10)
			dst = append(dst, 'i')
		case columnar.FieldUint:
			dst = strconv.AppendUint(dst, f.Num, 10)
			dst = append(dst, 'u')
		case columnar.FieldBool:
			dst = strconv.AppendBool(dst, f.Num != 0)
		case columnar.FieldString:
			dst = append(dst, '"')
			dst = appendEscaped(dst, f.Str, `"\`)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, p.Time, 10)
	return append(dst, '\n')
}

func appendEscaped(dst []byte, s, special string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		for j := 0; j < len(special); j++ {
			if c == special[j] {
				dst = append(dst, '\\')
				break
			}
		}
		dst = append(dst, c)
	}
	return dst
}
