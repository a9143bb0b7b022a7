package flagutil

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretFileBytes bounds what a secret file may hold: a tokens file of
// a few thousand lines. A larger file is a wrong path (a log, a disk
// image), not secrets.
const maxSecretFileBytes = 1 << 20

// ReadSecretFile reads a file named by a *-file flag that holds secrets.
// Like ssh with a private key, it refuses a file that users other than its
// owner may read or write (any group or other permission bit): its secrets
// are as good as public, and running anyway would hide that. The mode is
// checked on the opened file, so a file swapped after the check is not
// read.
func ReadSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open secrets file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat secrets file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secrets file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secrets file %s has permissions %04o, too open: other users may read or change it; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read secrets file %s: %w", path, err)
	}
	if len(b) > maxSecretFileBytes {
		return nil, fmt.Errorf("secrets file %s is larger than %d bytes: is it the right file?", path, maxSecretFileBytes)
	}
	return b, nil
}

// ReadSecret reads a single secret (a password, a key) from a file with
// ReadSecretFile's checks: the file's content without surrounding
// whitespace (editors end files with a newline).
func ReadSecret(path string) (string, error) {
	b, err := ReadSecretFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secrets file %s is empty", path)
	}
	return s, nil
}

// secretFile is a flag naming a file whose content (ReadSecret) is the
// value of a secret setting; it shows the path, never the secret.
type secretFile struct {
	dst  *string
	path string
}

// SecretFileVar defines a flag name whose value is the path of a file
// holding the secret that goes into dst (the same setting as a plain
// secret flag, which the file's content replaces). The file is read, and
// its mode checked, when the flag is set.
func SecretFileVar(fs *flag.FlagSet, dst *string, name, usage string) {
	fs.Var(&secretFile{dst: dst}, name, usage)
}

func (f *secretFile) String() string {
	if f == nil {
		return ""
	}
	return f.path
}

func (f *secretFile) Set(path string) error {
	s, err := ReadSecret(path)
	if err != nil {
		return err
	}
	*f.dst, f.path = s, path
	return nil
}
