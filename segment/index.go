package segment

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// The tag index of a segment, stored base64 under MetaKeyIndex in the Parquet
// footer (so a segment is one self-describing file). Binary form, integers
// uvarint:
//
//	version(1 byte) nCols col*
//	col   = len(name) name nVals val*
//	val   = len(value) value len(bitmap) bitmap   (roaring portable format)
//
// Bitmaps hold segment row numbers; rows are sorted by series, so each
// bitmap is a handful of runs. Row groups follow from RowGroupRows.
const indexVersion = 1

func (ti *tagIndex) encode() string {
	var buf bytes.Buffer
	buf.WriteByte(indexVersion)
	var tmp []byte
	putUvarint := func(v int) {
		tmp = binary.AppendUvarint(tmp[:0], uint64(v))
		buf.Write(tmp)
	}
	putUvarint(len(ti.cols))
	for c, name := range ti.cols {
		putUvarint(len(name))
		buf.WriteString(name)
		putUvarint(len(ti.vals[c]))
		for i, v := range ti.vals[c] {
			putUvarint(len(v))
			buf.WriteString(v)
			putUvarint(int(ti.bms[c][i].GetSerializedSizeInBytes()))
			if _, err := ti.bms[c][i].WriteTo(&buf); err != nil {
				panic(err) // bytes.Buffer writes cannot fail
			}
		}
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// TagIndex is a decoded segment tag index: tag key → value → row bitmap.
type TagIndex map[string]map[string]*roaring.Bitmap

// DecodeTagIndex parses the MetaKeyIndex value of a segment.
func DecodeTagIndex(s string) (TagIndex, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decode tag index: %w", err)
	}
	r := indexReader{p: raw}
	if v := r.byte1(); r.err == nil && v != indexVersion {
		return nil, fmt.Errorf("tag index version %d unsupported", v)
	}
	str := func() string {
		n := r.uvarint()
		if r.err != nil || n > uint64(len(r.p)) {
			r.err = errBadIndex
			return ""
		}
		s := string(r.p[:n])
		r.p = r.p[n:]
		return s
	}
	ti := TagIndex{}
	ncols := r.uvarint()
	for c := uint64(0); c < ncols && r.err == nil; c++ {
		name := str()
		vals := map[string]*roaring.Bitmap{}
		nv := r.uvarint()
		for i := uint64(0); i < nv && r.err == nil; i++ {
			v := str()
			n := r.uvarint()
			if r.err != nil || n > uint64(len(r.p)) {
				return nil, fmt.Errorf("decode tag index: truncated bitmap")
			}
			bm := roaring.New()
			if _, err := bm.FromBuffer(append([]byte(nil), r.p[:n]...)); err != nil {
				return nil, fmt.Errorf("decode tag index bitmap %s=%s: %w", name, v, err)
			}
			r.p = r.p[n:]
			vals[v] = bm
		}
		ti[name] = vals
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode tag index: %w", r.err)
	}
	return ti, nil
}

// PathName makes a database or table name safe as one path element while
// keeping ordinary names readable: bytes outside [A-Za-z0-9_.-] become %XX,
// and names that are empty or all dots are escaped whole.
func PathName(s string) string {
	var b strings.Builder
	allDots := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '.' {
			allDots = false
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	if allDots {
		b.Reset()
		b.WriteString("%")
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%02X", s[i])
		}
	}
	return b.String()
}

// unsafeBytes views s as bytes without copying; the result must not be
// modified.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
