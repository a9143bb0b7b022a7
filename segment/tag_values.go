package segment

import "slices"

// TagValues returns the values of tag key among the segment's rows whose
// tags match filter (for each k, one of filter[k]; nil: all rows), read
// from the tag index alone. ok is false when the index cannot tell (no
// index, or a tag column it does not cover).
func (s *Segment) TagValues(key string, filter map[string][]string) (vals []string, ok bool) {
	if s.Index == nil {
		return nil, false
	}
	byVal, has := s.Index[key]
	if !has {
		// A tag column without an index entry: cannot tell. No such
		// column: no row has a value.
		return nil, !slices.Contains(s.Info.Tags, key)
	}
	want, indexed := s.matchingRows(filter)
	if len(filter) > 0 && !indexed {
		return nil, false
	}
	for v, bm := range byVal {
		if bm.IsEmpty() || (indexed && !bitmapMeetsSpans(bm, want)) {
			continue
		}
		vals = append(vals, v)
	}
	return vals, true
}

// TagValues returns the values of tag key among the head's series that
// match filter (MatchSeries; nil: all), from its dictionaries: no row is
// read. A frozen head or a View only.
func (h *Head) TagValues(key string, filter map[string][]string) []string {
	c, ok := h.Schema.TagCol(key)
	if !ok || c >= len(h.dicts) {
		return nil
	}
	keep := h.MatchSeries(filter)
	seen := make([]bool, len(h.dicts[c].vals))
	var vals []string
	for sid := range h.seriesTags {
		if keep != nil && !keep[sid] {
			continue
		}
		if id := h.tagID(uint32(sid), c); id >= 0 && !seen[id] {
			seen[id] = true
			vals = append(vals, h.dicts[c].vals[id])
		}
	}
	return vals
}
