//go:build !windows

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunRefusesLoosePermissions (issue 15 #3): `agent run` refuses a config others can write, its
// directory at 0777 and a state directory others can write, saying why and the fix, before it serves.
func TestRunRefusesLoosePermissions(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(cfgPath, stateDir string) error
		want string
	}{
		{"config 0666", func(cfg, _ string) error { return os.Chmod(cfg, 0o666) }, "chmod go-w "},
		{"config directory 0777", func(cfg, _ string) error { return os.Chmod(filepath.Dir(cfg), 0o777) }, "directory"},
		{"state directory 0777", func(_, st string) error { return os.Chmod(st, 0o777) }, "state directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgPath := clientsConfig(t)
			stateDir := filepath.Join(filepath.Dir(filepath.Dir(cfgPath)), "state")
			if err := os.Mkdir(stateDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tc.bad(cfgPath, stateDir); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := runCmd(ctx, []string{"run", "--config", cfgPath, "--state-dir", stateDir}, nil)
			if res.code == exitOK || !strings.Contains(res.stderr, "refusing to start") ||
				!strings.Contains(res.stderr, tc.want) || !strings.Contains(res.stderr, "fix:") {
				t.Fatalf("run exited %d, stderr:\n%s\nwant a refusal saying %q and the fix", res.code, res.stderr, tc.want)
			}
		})
	}
}

// TestClientsAddTightensConfig (issue 15 #3): `clients add` on a 0666 config leaves it 0600, and tells
// the caller the literal token URL.
func TestClientsAddTightensConfig(t *testing.T) {
	cfgPath := clientsConfig(t)
	if err := os.Chmod(cfgPath, 0o666); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(filepath.Dir(filepath.Dir(cfgPath)), "callers", "sap.secret")
	res := runCmd(context.Background(), []string{"clients", "add", "sap", "--config", cfgPath, "--os-user", currentUser(),
		"--system-users", "default", "--secret-file", secretFile}, nil)
	if res.code != exitOK {
		t.Fatalf("add: %d %s", res.code, res.stderr)
	}
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode after clients add: %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if !strings.Contains(res.stdout, "/oauth2/token (the literal address, never localhost)") {
		t.Errorf("clients add does not give the literal token URL:\n%s", res.stdout)
	}
}
