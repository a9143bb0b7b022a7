package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// readBufSize is the buffer in front of the file and of the decompressor.
// Large reads keep syscalls and decompressor calls off the profile.
const readBufSize = 1 << 20

// sniffLen is how far into a file format detection looks for the first
// non-blank byte.
const sniffLen = 64 << 10

// input is an input file opened for reading its uncompressed content.
type input struct {
	f       *os.File
	raw     *countingReader // bytes read from the file
	rawBuf  *bufio.Reader   // buffer over raw; the decompressor reads from it
	r       *bufio.Reader   // uncompressed content
	gzipped bool
}

// openInput opens path and, if it starts with the gzip magic bytes, wraps
// it in a decompressor. The name is never consulted: files called .gz are
// sometimes plain and compressed files often lack the suffix.
func openInput(path string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	in := &input{f: f, raw: &countingReader{r: f}}
	in.rawBuf = bufio.NewReaderSize(in.raw, readBufSize)
	magic, err := in.rawBuf.Peek(2)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		// The bufio.Reader is an io.ByteReader, so the decompressor
		// reads from it directly and rawBuf.Buffered() tells how far
		// ahead of the decompressor the file has been read.
		zr, err := gzip.NewReader(in.rawBuf)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open gzip stream in %s: %w", path, err)
		}
		in.gzipped = true
		in.r = bufio.NewReaderSize(zr, readBufSize)
	} else {
		in.r = in.rawBuf
	}
	return in, nil
}

// rawPos is roughly how many bytes of the file have been consumed. It is
// exact for plain files; for gzip files it runs a little ahead of the
// decompressed position, which is good enough for progress display.
func (in *input) rawPos() int64 {
	return in.raw.n - int64(in.rawBuf.Buffered())
}

func (in *input) Close() error { return in.f.Close() }

// skipTo moves the uncompressed stream forward to offset off, which must
// be at the start of a line or at the end of the content. Plain files seek;
// gzip files have no index, so their content up to off is decompressed and
// discarded.
func (in *input) skipTo(off int64) error {
	var last byte
	if !in.gzipped {
		var b [1]byte
		if _, err := in.f.ReadAt(b[:], off-1); err != nil {
			if err == io.EOF {
				return fmt.Errorf("the file has fewer than %d bytes", off)
			}
			return err
		}
		if _, err := in.f.Seek(off, io.SeekStart); err != nil {
			return err
		}
		in.raw.n = off
		in.rawBuf.Reset(in.raw)
		last = b[0]
	} else {
		lw := &lastByteWriter{}
		n, err := io.CopyN(lw, in.r, off)
		if err == io.EOF {
			return fmt.Errorf("the uncompressed content has %d bytes, fewer than %d", n, off)
		}
		if err != nil {
			return err
		}
		last = lw.last
	}
	if last == '\n' {
		return nil
	}
	if _, err := in.r.Peek(1); err == io.EOF {
		return nil // an unterminated last line ends at off
	}
	return fmt.Errorf("offset %d is not at the start of a line", off)
}

// lastByteWriter discards what is written to it except the last byte.
type lastByteWriter struct{ last byte }

func (w *lastByteWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.last = p[len(p)-1]
	}
	return len(p), nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// formatByName returns the format implied by a file name, or "" when the
// name says nothing. A trailing .gz is looked through.
func formatByName(path string) string {
	name := strings.ToLower(filepath.Base(path))
	name = strings.TrimSuffix(name, ".gz")
	switch filepath.Ext(name) {
	case ".ndjson", ".jsonl", ".json":
		return FormatNDJSON
	case ".lp", ".line", ".influx":
		return FormatLP
	}
	return ""
}

// firstNonBlank returns the first byte of r that is not whitespace, without
// consuming anything, looking at most sniffLen bytes ahead. ok is false when
// there is none in that window.
func firstNonBlank(r *bufio.Reader) (b byte, ok bool, err error) {
	n := min(sniffLen, r.Size())
	head, err := r.Peek(n)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return 0, false, err
	}
	i := bytes.IndexFunc(head, func(c rune) bool {
		return c != ' ' && c != '\t' && c != '\r' && c != '\n'
	})
	if i < 0 {
		return 0, false, nil
	}
	return head[i], true, nil
}

// detectFormat decides the format of the file at path whose uncompressed
// content is r. want is the configured Config.Format.
func detectFormat(path, want string, r *bufio.Reader) (string, error) {
	first, ok, err := firstNonBlank(r)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	format := want
	if format == "" || format == FormatAuto {
		format = formatByName(path)
		if format == "" {
			format = FormatLP
			if ok && first == '{' {
				format = FormatNDJSON
			}
		}
	}
	// A JSON array would be sent line by line and every line rejected;
	// say what is wrong instead.
	if format == FormatNDJSON && ok && first == '[' {
		return "", fmt.Errorf("%s holds a JSON array; the importer needs NDJSON (one JSON object per line)", path)
	}
	return format, nil
}
