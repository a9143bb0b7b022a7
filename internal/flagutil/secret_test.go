package flagutil

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretFileVar(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	parse := func(args ...string) (string, string, error) {
		var pw string
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var out bytes.Buffer
		fs.SetOutput(&out)
		fs.StringVar(&pw, "password", "", "")
		SecretFileVar(fs, &pw, "password-file", "")
		err := fs.Parse(args)
		fs.PrintDefaults()
		return pw, out.String(), err
	}
	ok := write("ok", "  Pw-Secret-Zx\n", 0o400)
	if pw, out, err := parse("--password-file", ok); err != nil || pw != "Pw-Secret-Zx" || strings.Contains(out, "Zx") {
		t.Fatalf("0400 file: %q %v\n%s", pw, err, out)
	}
	for _, c := range []struct {
		path, want string
	}{
		{write("open", "Pw-Secret-Zx\n", 0o644), "permissions 0644, too open"},
		{write("group", "Pw-Secret-Zx\n", 0o660), "chmod 600"},
		{write("empty", "\n\n", 0o600), "empty"},
		{dir, "not a regular file"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		pw, out, err := parse("--password-file", c.path)
		if err == nil || !strings.Contains(out, c.want) || strings.Contains(out, "Zx") || pw != "" {
			t.Errorf("%s: %q %v, want an error with %q and no secret:\n%s", c.path, pw, err, c.want, out)
		}
	}
}
