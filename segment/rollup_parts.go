package segment

import (
	"slices"
	"strings"

	"github.com/siltdb/silt/columnar"
)

// PartSet is a set of the parts of a rollup (bit i: RollupParts[i]). A
// read that finishes only some aggregates (TSBS's max per minute reads a
// field's count and max) asks the head's fold for those parts only: the
// fold then skips the running mean and squared deviations — a division
// per value, in a chain, most of a fold's time — and passes on two
// columns per field rather than nine.
type PartSet uint16

// AllParts is every part of RollupParts.
const AllParts PartSet = 1<<9 - 1

// partBit is part's bit in a PartSet (0 for a name not in RollupParts).
func partBit(part string) PartSet {
	if i := slices.Index(RollupParts, part); i >= 0 {
		return 1 << i
	}
	return 0
}

// Has reports whether s holds part.
func (s PartSet) Has(part string) bool { return s&partBit(part) != 0 }

// PartsOf returns the parts that the rollup columns named in columns
// (RollupColumn names; tags and RollupRows among them are passed over)
// hold, of any field, and always the count (a window without values of a
// field is known by it); nil columns ask for every part.
func PartsOf(columns []string) PartSet {
	if columns == nil {
		return AllParts
	}
	s := partBit(PartCount)
	for _, c := range columns {
		if c == RollupRows {
			continue
		}
		if i := strings.LastIndexByte(c, ':'); i > 0 {
			s |= partBit(c[i+1:])
		}
	}
	return s
}

// appendRollupFieldsOf is appendRollupFields with only the parts in s:
// the row count, then each rollable field's parts of s in RollupParts
// order.
func appendRollupFieldsOf(dst []columnar.FieldSchema, fields []columnar.FieldSchema, s PartSet) []columnar.FieldSchema {
	dst = append(dst, columnar.FieldSchema{Name: RollupRows, Type: columnar.FieldInt})
	for _, f := range fields {
		if !Rollable(f.Type) {
			continue
		}
		for i, p := range RollupParts {
			if s&(1<<i) != 0 {
				dst = append(dst, columnar.FieldSchema{Name: RollupColumn(f.Name, p), Type: RollupPartType(f.Type, p)})
			}
		}
	}
	return dst
}
