package segment

import "slices"

// KeyValues returns the values of tag key among all the head's series and
// whether every series has one. Two sources can hold the same point only
// if they hold the same series, so only if they share a value of key or
// both have series without it: disjoint values of a tag every series has
// prove two sources share no point, whatever their time ranges. A frozen
// head or a View only.
func (h *Head) KeyValues(key string) (vals []string, all bool) {
	c, ok := h.Schema.TagCol(key)
	if !ok || c >= len(h.dicts) {
		return nil, len(h.seriesTags) == 0
	}
	all = true
	seen := make([]bool, len(h.dicts[c].vals))
	for sid := range h.seriesTags {
		id := h.tagID(uint32(sid), c)
		if id < 0 {
			all = false
			continue
		}
		if !seen[id] {
			seen[id] = true
			vals = append(vals, h.dicts[c].vals[id])
		}
	}
	return vals, all
}

// KeyValues is Head.KeyValues from the segment's tag index: every row has
// a value of key when the rows of its values add up to the segment's. ok
// is false when the index cannot tell.
func (s *Segment) KeyValues(key string) (vals []string, all, ok bool) {
	if s.Index == nil {
		return nil, false, false
	}
	byVal, has := s.Index[key]
	if !has {
		// A tag column the index does not cover: cannot tell. No such
		// column: no row has a value.
		if slices.Contains(s.Info.Tags, key) {
			return nil, false, false
		}
		return nil, s.Info.Rows == 0, true
	}
	var rows uint64
	for v, bm := range byVal {
		if n := bm.GetCardinality(); n > 0 {
			rows += n
			vals = append(vals, v)
		}
	}
	return vals, rows == uint64(s.Info.Rows), true
}
