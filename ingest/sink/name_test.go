package sink

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/siltdb/silt/segment"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"metrics", true},
		{"höhe-℃_1.0", true},
		{"a/b", true},
		{"..", true}, // escaped as "%2E2E": never a path component of its own
		{strings.Repeat("a", 255), true},
		{strings.Repeat("/", 85), true}, // 255 bytes once escaped
		{"", false},
		{"\xff\xfe", false},
		{"ok\xc3", false}, // truncated UTF-8 sequence
		{"a\x00b", false},
		{strings.Repeat("a", 256), false},
		{strings.Repeat("/", 86), false},  // 258 bytes once escaped
		{strings.Repeat("/", 100), false}, // 300 bytes once escaped
		{strings.Repeat("é", 43), false},  // 86 bytes, 258 once escaped
		{strings.Repeat(".", 128), false}, // all dots: 1 + 2*128 bytes
	} {
		err := ValidateName("database", tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("ValidateName(%q) = %v, does not wrap ErrBadName", tc.name, err)
		}
	}
}

// TestEscapedLenMatchesPathName holds the validator's count to the escaping
// the segment paths really use.
func TestEscapedLenMatchesPathName(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("aZ09_-./%\x00\xff é")
	for range 20000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
		}
		s := string(b)
		if got, want := escapedLen(s), len(segment.PathName(s)); got != want {
			t.Fatalf("escapedLen(%q) = %d, len(PathName) = %d", s, got, want)
		}
	}
	for _, s := range []string{".", "..", "...", strings.Repeat("/", 100)} {
		if got, want := escapedLen(s), len(segment.PathName(s)); got != want {
			t.Fatalf("escapedLen(%q) = %d, len(PathName) = %d", s, got, want)
		}
	}
}
