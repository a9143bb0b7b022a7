package server

import (
	"bufio"
	"errors"
	"io"

	"github.com/valyala/fasthttp"
)

// setBodyWriterTo sets sw as ctx's answer, written by fasthttp through
// WriteTo when it sends the response: sw writes into a buffer of
// writeToBufBytes on the connection's goroutine, and each buffer is one
// chunk and one write to the connection. ctx.SetBodyStreamWriter instead
// runs sw on a goroutine of its own behind a pipe, which fasthttp reads
// and sends 4 KiB at a time, a chunk, a flush and a write system call
// each: a SELECT * answer of 12 MB spent a quarter of its server CPU in
// those 3000 writes and the pipe's hand-offs.
func (s *Server) setBodyWriterTo(ctx *fasthttp.RequestCtx, sw fasthttp.StreamWriter) {
	s.setBodyStream(ctx, sw, func(sw fasthttp.StreamWriter) {
		ctx.SetBodyStream(&writerToStream{sw: sw}, -1) // -1: chunked
	})
}

// writeToBufBytes is the size of a chunk of an answer set by
// setBodyWriterTo.
const writeToBufBytes = 64 << 10

// writerToStream is an answer written by sw, once: through WriteTo, or
// through Read (a pipe, as fasthttp.NewStreamReader does) for a caller
// that only reads. Closed without being read (a HEAD request, a failed
// header write), it still runs sw, into a writer that fails, so that what
// sw releases once done (the request's budget and held answer) is
// released.
type writerToStream struct {
	sw  fasthttp.StreamWriter
	ran bool
	pr  *io.PipeReader
}

// SupportsBodyWriteTo tells fasthttp it may call WriteTo
// (fasthttp.BodyWriterTo).
func (s *writerToStream) SupportsBodyWriteTo() bool { return !s.ran }

func (s *writerToStream) WriteTo(w io.Writer) (int64, error) {
	if s.ran {
		return 0, errStreamRan
	}
	s.ran = true
	c := &countWriter{w: w}
	bw := bufio.NewWriterSize(c, writeToBufBytes)
	s.sw(bw)
	err := bw.Flush()
	return c.n, err
}

func (s *writerToStream) Read(p []byte) (int, error) {
	if s.pr == nil {
		if s.ran {
			return 0, errStreamRan
		}
		s.ran = true
		pr, pw := io.Pipe()
		s.pr = pr
		go func() {
			bw := bufio.NewWriterSize(pw, writeToBufBytes)
			s.sw(bw)
			pw.CloseWithError(bw.Flush())
		}()
	}
	return s.pr.Read(p)
}

func (s *writerToStream) Close() error {
	if s.pr != nil {
		// The writer's goroutine sees its writes fail and returns.
		return s.pr.CloseWithError(errStreamClosed)
	}
	if !s.ran {
		s.ran = true
		s.sw(bufio.NewWriterSize(failWriter{}, 16))
	}
	return nil
}

var (
	errStreamRan    = errors.New("answer stream already written")
	errStreamClosed = errors.New("answer stream closed before it was written")
)

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errStreamClosed }

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
