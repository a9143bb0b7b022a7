package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// buildVersion completes the version and revision the linker set (make
// build sets both) from the binary's build information: a module version
// for 'go install ...@vX', the git revision the go command stamps into a
// build from a checkout (unless -buildvcs=false). What stays unknown is
// said so, never left empty.
func buildVersion(ver, rev string) (string, string) {
	bi, ok := debug.ReadBuildInfo()
	if ok && ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = bi.Main.Version
	}
	if rev == "" && ok {
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" && modified {
			rev += "-dirty"
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

// printVersion writes what 'silt version' prints: the version and git
// revision, then the toolchain and platform of the build.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "silt %s\nrevision: %s\n", version, revision)
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	fmt.Fprintf(w, "go: %s\n", bi.GoVersion)
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.time", "GOOS", "GOARCH", "CGO_ENABLED", "-tags":
			fmt.Fprintf(w, "%s: %s\n", s.Key, s.Value)
		}
	}
}
