// Package realdeps lets tests that need a real part of the machine (a Secret Service, systemd-creds,
// Chromium, tmux, systemd-analyze, wrk) skip on a laptop that lacks it and fail in CI (CI=true), where
// .ci/run installs everything. Test code only.
package realdeps

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI, where skipping a real-part test is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips t (locally) or fails it (in CI) when ok is false, saying what is missing and how to get it.
func Require(t testing.TB, ok bool, what, howToGet string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("%s is missing, and CI must run this test: %s", what, howToGet)
	}
	t.Skipf("%s is missing (%s); CI runs this test", what, howToGet)
}

// Tool returns the path of an executable, or skips/fails t as Require does.
func Tool(t testing.TB, name, howToGet string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name, howToGet)
	return p
}
