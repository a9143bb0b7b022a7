package columnar

// Point is one row in row form: the slow, simple shape used by export and
// tests (the query engine reads columns instead).
type Point struct {
	Time   int64
	Tags   []TagValue // sorted by key
	Fields []FieldValue
}

// TagValue is a tag of a Point.
type TagValue struct{ Key, Value string }

// FieldValue is a field of a Point. Num holds numeric and boolean values as
// in Field; Str holds strings.
type FieldValue struct {
	Key  string
	Type FieldType
	Num  uint64
	Str  string
}

// SortTags sorts a point's tags by key (insertion sort: a handful of tags).
func SortTags(t []TagValue) {
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && t[j].Key < t[j-1].Key; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}
