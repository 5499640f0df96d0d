//go:build !windows

package setup

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartChecks (issue 15 #3, #8): `agent run` refuses a config or state directory others could
// change, naming the cause and the fix; a tight layout starts and loses only the leftovers of killed
// writes.
func TestStartChecks(t *testing.T) {
	type layout struct{ dir, cfg, state string }
	newLayout := func(t *testing.T) layout {
		base := t.TempDir()
		l := layout{dir: filepath.Join(base, "etc"), state: filepath.Join(base, "state")}
		for _, d := range []string{l.dir, l.state} {
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		l.cfg = filepath.Join(l.dir, "config.yaml")
		if err := os.WriteFile(l.cfg, []byte("x: 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return l
	}
	refusals := []struct {
		name string
		bad  func(l layout) error
		want string
	}{
		{"config 0666", func(l layout) error { return os.Chmod(l.cfg, 0o666) }, "chmod go-w"},
		{"config 0664", func(l layout) error { return os.Chmod(l.cfg, 0o664) }, "chmod go-w"},
		{"config directory 0777", func(l layout) error { return os.Chmod(l.dir, 0o777) }, "directory"},
		{"state directory 0777", func(l layout) error { return os.Chmod(l.state, 0o777) }, "state directory"},
		{"config owned by another account", func(l layout) error {
			if os.Geteuid() != 0 {
				return errSkip
			}
			return os.Chown(l.cfg, 65534, 65534)
		}, "chown"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			if err := tc.bad(l); err == errSkip {
				t.Skip("needs root to chown (CI runs as root; installer.TestCheckWritable covers the rule)")
			} else if err != nil {
				t.Fatal(err)
			}
			err := StartChecks(l.cfg, l.state, time.Now(), slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "fix:") {
				t.Fatalf("got %v, want a refusal saying %q and the fix", err, tc.want)
			}
		})
	}
	t.Run("tight layout, leftovers removed", func(t *testing.T) {
		l := newLayout(t)
		old := time.Now().Add(-time.Hour)
		var leftovers []string
		for _, p := range []string{filepath.Join(l.dir, ".config.yaml.tmp-12345"), filepath.Join(l.state, ".state.json.tmp-678")} {
			if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
			leftovers = append(leftovers, p)
		}
		var logs bytes.Buffer
		if err := StartChecks(l.cfg, l.state, time.Now(), slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		for _, p := range leftovers {
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Errorf("%s left behind", p)
			}
			if !strings.Contains(logs.String(), p) {
				t.Errorf("removal of %s not logged", p)
			}
		}
		if _, err := os.Stat(l.cfg); err != nil {
			t.Fatalf("the config itself: %v", err)
		}
	})
}

var errSkip = os.ErrInvalid
