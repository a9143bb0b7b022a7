package flagutil

import (
	"flag"
	"slices"
	"testing"
)

func TestParseBytes(t *testing.T) {
	f := func(in string, want int64) {
		t.Helper()
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Fatalf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	f("1048576", 1<<20)
	f("512KiB", 512<<10)
	f("64MiB", 64<<20)
	f(" 1GiB ", 1<<30)
	f("1GB", 1e9)
	f("1.5G", 3<<29)
	f("0", 0)
	for _, bad := range []string{"", "-1", "MiB", "12XB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Fatalf("ParseBytes(%q) accepted", bad)
		}
	}
}

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var size int64
	var list []string
	BytesVar(fs, &size, "size", 64<<20, "")
	ListVar(fs, &list, "list", "")
	if size != 64<<20 || fs.Lookup("size").DefValue != "67108864" {
		t.Fatalf("default: %d %q", size, fs.Lookup("size").DefValue)
	}
	if err := fs.Parse([]string{"--size", "2GiB", "--list", "a:1, ,b:2"}); err != nil {
		t.Fatal(err)
	}
	if size != 2<<30 || !slices.Equal(list, []string{"a:1", "b:2"}) {
		t.Fatalf("parsed %d %q", size, list)
	}
	if err := fs.Set("size", "lots"); err == nil {
		t.Fatal("bad size accepted")
	}
}
