package main

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version, commit and date are stamped at build time by scripts/release:
// -ldflags "-X main.version=1.2.3 -X main.commit=<git sha> -X main.date=<RFC 3339 commit time>".
// Unstamped builds fall back to what the Go toolchain recorded (module version, vcs.revision, vcs.time).
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// buildStamp is what "agent version" reports.
type buildStamp struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

func currentStamp() buildStamp {
	s := buildStamp{Version: version, Commit: commit, Date: date, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return s
	}
	if s.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		s.Version = bi.Main.Version
	}
	for _, kv := range bi.Settings {
		switch {
		case kv.Key == "vcs.revision" && s.Commit == "":
			s.Commit = kv.Value
		case kv.Key == "vcs.time" && s.Date == "":
			s.Date = kv.Value
		}
	}
	return s
}

func cmdVersion(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags(e, "version", nil)
	fs.BoolVar(&c.json, "json", false, "print machine-readable JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	s := currentStamp()
	if c.json {
		return printJSON(e.stdout, s)
	}
	_, err := fmt.Fprintf(e.stdout, "systemuser-agent %s (commit %s, built %s, %s %s/%s)\n", s.Version,
		cmp.Or(s.Commit, "unknown"), cmp.Or(s.Date, "unknown"), s.Go, s.OS, s.Arch)
	return err
}
