package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWineSeamsNeverShip: the wine lane's seams are in no release. The files that switch them on
// (installer's wineLane = true: service detection under wine's services.exe, no ACL checks, no settings
// wine lacks; setup's laneAccount: the one wine account for the key hand-over) are built only with the
// tag winelane, and scripts/release builds with no tags at all.
func TestWineSeamsNeverShip(t *testing.T) {
	release, err := os.ReadFile(filepath.Join("..", "scripts", "release"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(release), "winelane") || regexp.MustCompile(`go build[^\n]*-tags`).Match(release) {
		t.Error("scripts/release builds with build tags; the wine lane's seams (tag winelane) must never ship")
	}
	on := regexp.MustCompile(`const wineLane = true|func laneAccount\(account string\) string \{\n\tif u, err := user\.Current`)
	onlyLane := regexp.MustCompile(`(?m)^//go:build winelane$`)
	seams := 0
	for _, pkg := range []string{"installer", "setup"} {
		files, err := filepath.Glob(filepath.Join("..", pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(f, "_test.go") || !on.Match(src) {
				continue
			}
			seams++
			if !onlyLane.Match(src) {
				t.Errorf("%s switches a wine lane seam on but is not built only with the tag winelane", f)
			}
		}
	}
	if seams != 2 {
		t.Errorf("found %d files switching a wine seam on, want 2 (installer/lane_on.go, setup/lane_on.go): update this test with the seams", seams)
	}
}
