//go:build !windows

package installer

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// TestCheckWritable: the config or state that another account could change is refused with the fix;
// readable-only and a sticky shared parent are fine.
func TestCheckWritable(t *testing.T) {
	cases := []struct {
		name      string
		fileMode  os.FileMode
		dirMode   os.FileMode
		owner     int // -1: this account
		dirOwner  int
		wantError string // "" means accepted
	}{
		{"0600 in 0700", 0o600, 0o700, -1, -1, ""},
		{"0644 readable", 0o644, 0o755, -1, -1, ""},
		{"0666", 0o666, 0o700, -1, -1, "chmod go-w"},
		{"0620 group-writable", 0o620, 0o700, -1, -1, "chmod go-w"},
		{"directory 0777", 0o600, 0o777, -1, -1, "directory"},
		{"directory 0775", 0o600, 0o775, -1, -1, "chmod go-w"},
		{"directory 1777 sticky", 0o600, os.ModeSticky | 0o777, -1, -1, ""},
		{"foreign owner", 0o600, 0o700, 65534, -1, "chown"},
		{"foreign directory owner", 0o600, 0o755, -1, 65534, "directory"},
		{"trusted owner (the service account)", 0o600, 0o700, 65534, -1, "trusted"},
		{"systemd dynamic user", 0o600, 0o700, 61200, -1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.owner >= 0 || tc.dirOwner >= 0 {
				realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does) to chown test files")
			}
			dir := filepath.Join(t.TempDir(), "etc")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(p, []byte("x: 1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			must(t, os.Chmod(p, tc.fileMode))
			must(t, os.Chmod(dir, tc.dirMode))
			if tc.owner >= 0 {
				must(t, os.Chown(p, tc.owner, tc.owner))
			}
			if tc.dirOwner >= 0 {
				must(t, os.Chown(dir, tc.dirOwner, tc.dirOwner))
			}
			var err error
			if tc.wantError == "trusted" {
				nobody, lerr := user.LookupId("65534")
				if lerr != nil {
					t.Skip("no account with uid 65534")
				}
				tc.wantError = ""
				err = CheckWritable(p, nobody.Username)
			} else {
				err = CheckWritable(p)
			}
			switch {
			case tc.wantError == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantError != "" && err == nil:
				t.Fatal("accepted")
			case err != nil && (!strings.Contains(err.Error(), tc.wantError) || !strings.Contains(err.Error(), "fix:")):
				t.Fatalf("error %q does not say %q and the fix", err, tc.wantError)
			}
		})
	}
}

// TestCheckOwnerOnly: a caller secret file must be 0600/0400 and owned by the caller's account; the
// real owner is reported either way.
func TestCheckOwnerOnly(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		mode      os.FileMode
		chownTo   int
		want      string
		wantError string
	}{
		{"0600 own", 0o600, -1, me.Username, ""},
		{"0400 own", 0o400, -1, me.Username, ""},
		{"0644", 0o644, -1, me.Username, "chmod 600"},
		{"0640", 0o640, -1, me.Username, "chmod 600"},
		{"another owner", 0o600, 65534, me.Username, "chown " + me.Username},
		{"any owner accepted", 0o600, -1, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.chownTo >= 0 {
				realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does) to chown test files")
			}
			p := filepath.Join(t.TempDir(), "secret")
			must(t, os.WriteFile(p, []byte("s"), 0o600))
			must(t, os.Chmod(p, tc.mode))
			if tc.chownTo >= 0 {
				must(t, os.Chown(p, tc.chownTo, tc.chownTo))
			}
			owner, err := CheckOwnerOnly(p, tc.want)
			if tc.chownTo < 0 && owner != me.Username {
				t.Errorf("owner %q, want %q", owner, me.Username)
			}
			if tc.chownTo >= 0 && owner == me.Username {
				t.Errorf("owner %q: the real owner is uid %d", owner, tc.chownTo)
			}
			switch {
			case tc.wantError == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantError)
			}
		})
	}
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "real"), []byte("s"), 0o600))
		must(t, os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")))
		if _, err := CheckOwnerOnly(filepath.Join(dir, "link"), ""); err == nil {
			t.Fatal("a symlinked secret file was accepted")
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
