//go:build !windows

package installer

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// permOptions lets the test's own account own the files: root when run as root (CI), else the user.
func permOptions(t *testing.T) Options {
	t.Helper()
	if os.Geteuid() == 0 {
		return Options{}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return Options{User: u.Username}
}

func TestCheckPermissions(t *testing.T) {
	type setup func(t *testing.T, dir string) string // makes the path under dir and returns it
	file := func(mode os.FileMode) setup {
		return func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(p, []byte("x: 1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	subdir := func(mode os.FileMode) setup {
		return func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "state")
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	inParent := func(parentMode os.FileMode, inner setup) setup {
		return func(t *testing.T, dir string) string {
			parent := filepath.Join(dir, "parent")
			if err := os.Mkdir(parent, 0o700); err != nil {
				t.Fatal(err)
			}
			p := inner(t, parent)
			if err := os.Chmod(parent, parentMode); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	tests := []struct {
		name string
		role Role
		make setup
		want string // "" = accepted; else a substring of the error ("{path}" is replaced)
	}{
		{"config 0600", RoleConfig, file(0o600), ""},
		{"config 0400", RoleConfig, file(0o400), ""},
		{"config 0644", RoleConfig, file(0o644), "fix: chmod 600 {path}"},
		{"config 0640", RoleConfig, file(0o640), "fix: chmod 600 {path}"},
		{"config 0602", RoleConfig, file(0o602), "fix: chmod 600 {path}"},
		{"dir 0700", RoleState, subdir(0o700), ""},
		{"dir group-writable 0770", RoleState, subdir(0o770), "fix: chmod 700 {path}"},
		{"dir 0755", RoleConfig, subdir(0o755), "fix: chmod 700 {path}"},
		{"dir 0701", RoleState, subdir(0o701), "fix: chmod 700 {path}"},
		{"parent world-writable", RoleConfig, inParent(0o777, file(0o600)), "writable by other users"},
		{"parent group-writable", RoleConfig, inParent(0o775, file(0o600)), "chmod go-w"},
		{"parent sticky world-writable", RoleConfig, inParent(0o777|os.ModeSticky, file(0o600)), ""},
		{"parent 0755", RoleConfig, inParent(0o755, file(0o600)), ""},
		{"fifo", RoleConfig, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "fifo")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, "neither a regular file nor a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.make(t, t.TempDir())
			err := CheckPermissions(p, tc.role, permOptions(t))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			want := strings.ReplaceAll(tc.want, "{path}", p)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to contain %q", err, want)
			}
		})
	}
}

func TestCheckPermissionsMissing(t *testing.T) {
	err := CheckPermissions(filepath.Join(t.TempDir(), "nope.yaml"), RoleConfig, permOptions(t))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

// TestCheckPermissionsOwners needs root to give files away.
func TestCheckPermissionsOwners(t *testing.T) {
	realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does) to chown test files")
	tests := []struct {
		name string
		role Role
		uid  int
		o    Options
		want string
	}{
		{"config owned by nobody", RoleConfig, 65534, Options{}, "owned by uid 65534"},
		{"config owned by a dynamic user", RoleConfig, 61200, Options{}, "owned by uid 61200"},
		{"state owned by a dynamic user (DynamicUser=yes)", RoleState, 61200, Options{}, ""},
		{"state owned by nobody", RoleState, 65534, Options{}, "chown root:root"},
		{"state owned by the named service user", RoleState, 65534, Options{User: "nobody"}, ""},
		{"state owned by a dynamic user with a named user", RoleState, 61200, Options{User: "nobody"}, "owned by uid 61200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x")
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, tc.uid, tc.uid); err != nil {
				t.Fatal(err)
			}
			err := CheckPermissions(p, tc.role, tc.o)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEnsureDirs(t *testing.T) {
	realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does)")
	dir := t.TempDir()
	state, err := os.MkdirTemp("/var/lib", "systemuser-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(state) // EnsureDirs must create it
	t.Cleanup(func() { os.RemoveAll(state) })
	o := Options{ConfigPath: filepath.Join(dir, "etc", "agent", "config.yaml"), StateDir: state}
	if err := EnsureDirs(o); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(o.ConfigPath), state} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v mode %v, want 0700", p, err, fi.Mode().Perm())
		}
	}
	// A directory someone else left open is refused, not fixed silently.
	if err := os.Chmod(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDirs(o); err == nil || !strings.Contains(err.Error(), "chmod 700 "+state) {
		t.Errorf("EnsureDirs on an open state dir: %v", err)
	}
}

func TestCheckExecutable(t *testing.T) {
	realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does)")
	dir := t.TempDir()
	exe := filepath.Join(dir, "agent")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkExecutable(exe); err != nil {
		t.Fatalf("root-owned 0755 refused: %v", err)
	}
	os.Chmod(exe, 0o775)
	if err := checkExecutable(exe); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("group-writable executable: %v", err)
	}
	os.Chmod(exe, 0o755)
	os.Chown(exe, 65534, 65534)
	if err := checkExecutable(exe); err == nil || !strings.Contains(err.Error(), "not root") {
		t.Errorf("executable owned by nobody: %v", err)
	}
	os.Chown(exe, 0, 0)
	os.Chmod(exe, 0o644)
	if err := checkExecutable(exe); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Errorf("non-executable file: %v", err)
	}
}
