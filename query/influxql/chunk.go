package influxql

import "strconv"

// DefaultChunkSize is InfluxDB 1.x's rows per chunk when chunked=true comes
// without a usable chunk_size.
const DefaultChunkSize = 10000

// Chunks calls fn with each chunk of resp as InfluxDB 1.x sends a chunked
// answer (chunked=true), one JSON document each: a SELECT's series one at
// a time, cut every size rows, a cut series and every chunk but a
// statement's last marked partial (so SHOW SERIES and SHOW FIELD KEYS);
// SHOW TAG KEYS and SHOW TAG VALUES a series per chunk, uncut and
// unmarked; other statements whole. The response fn gets is reused after
// it returns.
func Chunks(resp *Response, size int, fn func(*Response) error) error {
	k := newChunker(size, fn)
	for _, r := range resp.Results {
		if err := k.result(r); err != nil {
			return err
		}
	}
	return nil
}

// chunker cuts a statement's series, given in answer order and possibly
// a piece at a time, into InfluxDB 1.x's chunks. It holds back the last
// cut piece until it knows what follows, since a piece's partial marks
// say whether more of its series and more of its statement come after it:
// what it holds is at most one chunk of rows.
type chunker struct {
	size int
	emit func(*Response) error

	stmt    int
	sent    bool    // the statement sent a chunk
	pend    *Series // the piece held back; nil when none
	pendKey string  // its series' identity
	// out is the one response every chunk is sent in, reused.
	out Response
	res Result
	one [1]*Series
}

func newChunker(size int, emit func(*Response) error) *chunker {
	if size <= 0 {
		size = DefaultChunkSize
	}
	k := &chunker{size: size, emit: emit}
	k.out.Results = []*Result{&k.res}
	return k
}

// result sends a whole statement's result as its chunking says.
func (k *chunker) result(r *Result) error {
	if r.chunking == chunkWhole || len(r.Series) == 0 {
		return k.emit(&Response{Results: []*Result{r}})
	}
	if r.chunking == chunkPerSeries {
		for _, s := range r.Series {
			if err := k.emit(&Response{Results: []*Result{{StatementID: r.StatementID, Series: []*Series{s}}}}); err != nil {
				return err
			}
		}
		return nil
	}
	k.begin(r.StatementID)
	for i, s := range r.Series {
		// Each series of a whole result is one of its own.
		if err := k.rows(strconv.Itoa(i), s, s.Values); err != nil {
			return err
		}
	}
	return k.end("")
}

// begin starts statement id's rows.
func (k *chunker) begin(id int) {
	k.stmt, k.sent, k.pend, k.pendKey = id, false, nil, ""
}

// rows adds values of the series s describes (its name, tags and
// columns), key naming the series: consecutive calls with one key
// continue one series.
func (k *chunker) rows(key string, s *Series, values [][]any) error {
	if k.pend != nil && k.pendKey != key {
		if err := k.flush(false, true); err != nil {
			return err
		}
	}
	for len(values) > 0 {
		if k.pend != nil && len(k.pend.Values) == k.size {
			// More of this series follows the full piece held back.
			if err := k.flush(true, true); err != nil {
				return err
			}
		}
		if k.pend == nil {
			k.pend = &Series{Name: s.Name, Tags: s.Tags, Columns: s.Columns, Values: make([][]any, 0, min(k.size, len(values)))}
			k.pendKey = key
		}
		n := min(k.size-len(k.pend.Values), len(values))
		k.pend.Values = append(k.pend.Values, values[:n]...)
		values = values[n:]
	}
	return nil
}

// end closes the statement: the piece held back is its last chunk, or
// the statement sends an empty result (with errMsg, if it failed) when
// it sent nothing. A statement that fails after sending chunks sends its
// error in a result of its own.
func (k *chunker) end(errMsg string) error {
	if k.pend != nil {
		if err := k.flush(errMsg != "", errMsg != ""); err != nil {
			return err
		}
	}
	if !k.sent || errMsg != "" {
		return k.emit(&Response{Results: []*Result{{StatementID: k.stmt, Error: errMsg}}})
	}
	return nil
}

// flush sends the piece held back with its marks.
func (k *chunker) flush(seriesPartial, resultPartial bool) error {
	p := k.pend
	p.Partial = seriesPartial
	k.one[0] = p
	k.res = Result{StatementID: k.stmt, Series: k.one[:], Partial: resultPartial}
	k.pend, k.sent = nil, true
	return k.emit(&k.out)
}
