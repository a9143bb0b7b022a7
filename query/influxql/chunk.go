package influxql

// DefaultChunkSize is InfluxDB 1.x's rows per chunk when chunked=true comes
// without a usable chunk_size.
const DefaultChunkSize = 10000

// Chunks calls fn with each chunk of resp as InfluxDB 1.x sends a chunked
// answer (chunked=true), one JSON document each: a SELECT's series one at
// a time, cut every size rows, a cut series marked partial and every
// chunk but a statement's last marked partial (so SHOW SERIES and SHOW
// FIELD KEYS); SHOW TAG KEYS and SHOW TAG VALUES a series per chunk, uncut
// and unmarked; other statements whole.
func Chunks(resp *Response, size int, fn func(*Response) error) error {
	if size <= 0 {
		size = DefaultChunkSize
	}
	for _, r := range resp.Results {
		if r.chunking == chunkWhole || len(r.Series) == 0 {
			if err := fn(&Response{Results: []*Result{r}}); err != nil {
				return err
			}
			continue
		}
		if r.chunking == chunkPerSeries {
			for _, s := range r.Series {
				if err := fn(&Response{Results: []*Result{{StatementID: r.StatementID, Series: []*Series{s}}}}); err != nil {
					return err
				}
			}
			continue
		}
		for j, s := range r.Series {
			vals := s.Values
			for {
				n := min(size, len(vals))
				last := n == len(vals)
				piece := &Series{Name: s.Name, Tags: s.Tags, Columns: s.Columns, Values: vals[:n], Partial: !last}
				res := &Result{StatementID: r.StatementID, Series: []*Series{piece}, Partial: !last || j < len(r.Series)-1}
				if err := fn(&Response{Results: []*Result{res}}); err != nil {
					return err
				}
				vals = vals[n:]
				if last {
					break
				}
			}
		}
	}
	return nil
}
