package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

const configExamplePath = "../../deploy/silt.yaml"

// deploy/silt.yaml is what 'silt config example' prints now: a flag added,
// renamed or given a new default changes the output, and this test says to
// regenerate the file.
func TestConfigExampleUpToDate(t *testing.T) {
	var out bytes.Buffer
	writeConfigExample(&out)
	committed, err := os.ReadFile(configExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), committed) {
		t.Fatalf("deploy/silt.yaml differs from 'silt config example' (the flag definitions): regenerate it with\n" +
			"  go run ./cmd/silt config example > deploy/silt.yaml")
	}
}

// Loading deploy/silt.yaml as a config file leaves every setting at its
// flag default (the file documents the defaults and they parse back to
// them), and the file names every flag, set or commented out.
func TestConfigExampleAgreesWithFlags(t *testing.T) {
	raw, err := os.ReadFile(configExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	// A copy with the file's mode of a fresh checkout, as an operator
	// would install it.
	path := filepath.Join(t.TempDir(), "silt.yaml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	newFlags := func() *flag.FlagSet {
		var cfg serveConfig
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.registerFlags(fs)
		return fs
	}
	defaults, loaded := newFlags(), newFlags()
	if err := applyConfigFile(loaded, path); err != nil {
		t.Fatalf("deploy/silt.yaml does not load: %v", err)
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(?:# )?([a-z0-9.-]+): `).FindAllSubmatch(raw, -1) {
		named[string(m[1])] = true
	}
	keys := 0
	defaults.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		keys++
		if !named[f.Name] {
			t.Errorf("deploy/silt.yaml does not name --%s", f.Name)
		}
		if got := loaded.Lookup(f.Name).Value.String(); got != f.Value.String() {
			t.Errorf("--%s: deploy/silt.yaml sets %q, the flag's default is %q", f.Name, got, f.Value.String())
		}
	})
	if keys < 50 {
		t.Fatalf("only %d flags: has registerFlags changed?", keys)
	}
}
