package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	tsdbchunks "github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/query/prom"
)

// promChunkedContentType is the streamed remote-read answer's type, which
// clients match by prefix to choose their decoder.
const promChunkedContentType = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

// promResponseType is the first response type of accepted that Silt
// speaks, as Prometheus' own server chooses; an empty list means samples.
func promResponseType(accepted []prompb.ReadRequest_ResponseType) (prompb.ReadRequest_ResponseType, bool) {
	if len(accepted) == 0 {
		return prompb.ReadRequest_SAMPLES, true
	}
	for _, t := range accepted {
		if t == prompb.ReadRequest_SAMPLES || t == prompb.ReadRequest_STREAMED_XOR_CHUNKS {
			return t, true
		}
	}
	return 0, false
}

// promFrameBytes bounds one frame of a streamed answer, as Prometheus'
// own server does (its remote_read_max_bytes_in_frame default): a series
// longer than that is split over several frames.
const promFrameBytes = 1 << 20

// streamPromRead answers a remote read with streamed XOR chunks: one
// framed ChunkedReadResponse per series (or per frame of a long one), in
// the order of the queries. The series are selected before the answer
// starts, so a bad matcher or a query past --query-max-memory gets a
// status and a code; only the encoding is streamed, which keeps the
// encoded answer out of memory (samples answers build it whole).
func (s *Server) streamPromRead(ctx *fasthttp.RequestCtx, q *prom.Queryable, queries []*prompb.Query) {
	qctx, cancel := s.queryContext(ctx)
	sets := make([]storage.SeriesSet, len(queries))
	closers := make([]func(), 0, len(queries))
	closeAll := func() {
		for _, c := range closers {
			c()
		}
		cancel()
		q.Shared.Release() // the series selected are sent or dropped
	}
	for i, rq := range queries {
		ss, closer, err := readSelect(qctx, q, rq)
		if err == nil {
			closers = append(closers, closer)
			err = ss.Err() // selection is eager: its error is known now
		}
		if err != nil {
			closeAll()
			if errors.Is(err, prom.ErrMemoryLimit) {
				s.writeError(ctx, fasthttp.StatusUnprocessableEntity, prom.CodeMemoryLimit, fmt.Sprintf("query %d: %v", i, err))
				return
			}
			s.writeError(ctx, fasthttp.StatusBadRequest, "prom-read-failed", fmt.Sprintf("query %d: %v", i, err))
			return
		}
		sets[i] = ss
	}
	ctx.SetContentType(promChunkedContentType)
	ctx.SetStatusCode(fasthttp.StatusOK)
	// In 64 KiB chunks through WriteTo (stream_writeto.go), not 4 KiB per
	// write through a pipe; frames are read as they arrive either way.
	s.setBodyWriterTo(ctx, func(w *bufio.Writer) { // stream_writeto.go
		defer closeAll()
		fw := &promFrameWriter{w: w}
		for i, ss := range sets {
			if err := fw.query(int64(i), storage.NewSeriesSetToChunkSet(ss)); err != nil {
				// The status is sent: the client learns of the failure
				// from a frame that does not decode (as from Prometheus),
				// never from an answer that merely ends early.
				s.log.Warn("stream remote read", "query", i, "err", err)
				_, _ = w.WriteString("\nremote read failed: " + err.Error() + "\n")
				return
			}
		}
	})
}

// promFrameWriter writes the frames of a streamed remote-read answer:
// each a uvarint length, the big-endian CRC-32C of the data, then a
// ChunkedReadResponse holding one series, or the part of a long series
// that fits promFrameBytes. (Prometheus' storage/remote has a writer too,
// but importing it links the cloud providers' auth SDKs into the binary;
// the chunks themselves are encoded by its tsdb packages.)
type promFrameWriter struct {
	w    *bufio.Writer
	buf  []byte // the marshalled frame, reused
	chks []prompb.Chunk
	lbls []prompb.Label
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// query writes the series of query qi, chunk by chunk.
func (f *promFrameWriter) query(qi int64, ss storage.ChunkSeriesSet) error {
	var it tsdbchunks.Iterator
	for ss.Next() {
		series := ss.At()
		f.lbls = prompb.FromLabels(series.Labels(), f.lbls[:0])
		room := promFrameBytes
		for _, l := range f.lbls {
			room -= l.Size()
		}
		left := room
		it = series.Iterator(it)
		for more := it.Next(); more; {
			c := it.At()
			if c.Chunk == nil || c.Chunk.Encoding() != chunkenc.EncXOR {
				return fmt.Errorf("series %s: a chunk that is not XOR-encoded samples", series.Labels())
			}
			f.chks = append(f.chks, prompb.Chunk{MinTimeMs: c.MinTime, MaxTimeMs: c.MaxTime,
				Type: prompb.Chunk_XOR, Data: c.Chunk.Bytes()})
			left -= f.chks[len(f.chks)-1].Size()
			if more = it.Next(); more && left > 0 {
				continue
			}
			if err := f.frame(qi); err != nil {
				return err
			}
			f.chks, left = f.chks[:0], room
		}
		if err := it.Err(); err != nil {
			return err
		}
	}
	return ss.Err()
}

// frame writes the chunks gathered so far as one frame. It does not
// flush: the answer goes out in 64 KiB chunks (setBodyWriterTo), each
// holding many frames of short series, where a flush per frame sent one
// chunk and one write system call per series; the client decodes frames
// as their bytes arrive either way.
func (f *promFrameWriter) frame(qi int64) error {
	resp := prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{{Labels: f.lbls, Chunks: f.chks}}, QueryIndex: qi}
	n := resp.Size()
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	data := f.buf[:n]
	if _, err := resp.MarshalToSizedBuffer(data); err != nil {
		return fmt.Errorf("encode a remote-read frame: %w", err)
	}
	var head [binary.MaxVarintLen64 + 4]byte
	h := binary.PutUvarint(head[:], uint64(n))
	binary.BigEndian.PutUint32(head[h:], crc32.Checksum(data, castagnoli))
	if _, err := f.w.Write(head[:h+4]); err != nil {
		return err
	}
	_, err := f.w.Write(data)
	return err
}
