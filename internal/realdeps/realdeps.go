// Package realdeps lets tests that need a real part of the machine (a Secret Service, systemd-creds,
// Chromium, tmux, systemd-analyze, wrk, swtpm) skip on a laptop that lacks it and fail in CI (CI=true),
// where .ci/run installs everything. SWTPM starts a software TPM for a test. Test code only.
//
// When the environment names a skip log (SkipLogEnv, set by scripts/test), each skip is also appended to
// that file as one line "package<TAB>test<TAB>what is missing<TAB>how to get it", so the test command can
// end with a summary of what was skipped and the one command that installs it.
package realdeps

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// SkipLogEnv names the environment variable holding the skip log's path.
const SkipLogEnv = "SYSTEMUSER_AGENT_SKIPLOG"

// InCI reports whether the tests run in Linux CI, where skipping a real-part test is a failure: .ci/run
// installs every part on Linux. A Windows test binary (the wine lane, a Windows runner) has none of
// these Linux parts, so there a missing one skips.
func InCI() bool { return os.Getenv("CI") == "true" && runtime.GOOS == "linux" }

// Require skips t (locally) or fails it (in CI) when ok is false, saying what is missing and how to get it.
func Require(t testing.TB, ok bool, what, howToGet string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("%s is missing, and CI must run this test: %s", what, howToGet)
	}
	logSkip(t.Name(), what, howToGet)
	t.Skipf("%s is missing (%s); CI runs this test", what, howToGet)
}

// logSkip appends one skip to the skip log, if there is one. A line is written with one append, so the
// test binaries of several packages may share the file.
func logSkip(test, what, howToGet string) {
	path := os.Getenv(SkipLogEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return // the summary is a convenience; the skip message itself is in the test output
	}
	defer f.Close()
	clean := func(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }
	_, _ = fmt.Fprintf(f, "%s\t%s\t%s\t%s\n", packageDir(), clean(test), clean(what), clean(howToGet))
}

// packageDir is the test's package directory relative to the module root (go test runs a test binary
// in its package's directory), or "." for the root.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil {
				return wd
			}
			return filepath.ToSlash(rel)
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}

// Tool returns the path of an executable, or skips/fails t as Require does.
func Tool(t testing.TB, name, howToGet string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name, howToGet)
	return p
}
