package sink

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameBytes bounds the on-disk form of a database or table name. Each
// name is one path component of the segment files
// (segments/<db>/<table>/...), escaped so that any byte other than a
// letter, a digit, '_', '-' or '.' takes three bytes ("%2F"); file systems
// refuse components longer than 255 bytes (NAME_MAX), and a name that
// passed at write time but cannot be flushed would block every flush.
const MaxNameBytes = 255

// ValidateName checks a database or table name (what says which, for the
// message): not empty, valid UTF-8, no NUL byte, and at most MaxNameBytes
// once escaped for the file system. Errors wrap ErrBadName. Every entry
// point that takes a name (HTTP writes, database creation, stream source
// configuration and message headers) and the engine itself apply it, so a
// name is refused before anything is logged under it.
func ValidateName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s name is empty", ErrBadName, what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s name %q is not valid UTF-8", ErrBadName, what, s)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: %s name contains a NUL byte", ErrBadName, what)
	}
	if n := escapedLen(s); n > MaxNameBytes {
		return fmt.Errorf("%w: %s name is %d bytes once escaped for the file system (every byte other than a letter, digit, '_', '-' or '.' takes 3); the limit is %d",
			ErrBadName, what, n, MaxNameBytes)
	}
	return nil
}

// escapedLen is the length of segment.PathName(s), counted without
// building it: safe bytes are kept, others become "%XX", and a name of dots
// only ("." or "..", which must not be a path component) is written as "%"
// and the hex of every byte. A test holds the two together.
func escapedLen(s string) int {
	n, allDots := 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '.' {
			allDots = false
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
			n++
		} else {
			n += 3
		}
	}
	if allDots {
		return 1 + 2*len(s)
	}
	return n
}

// ValidateDestination checks the database and the optional default table
// a source is configured to write to, so that a bad name stops it at
// start-up instead of refusing every write.
func ValidateDestination(db, table string) error {
	if err := ValidateName("database", db); err != nil {
		return err
	}
	if table != "" {
		return ValidateName("table", table)
	}
	return nil
}
