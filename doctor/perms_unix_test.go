//go:build !windows

package doctor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// TestDoctorPermissions: doctor reports each loose permission of issue 15 with its fix — config 0666
// and 0644, config directory 0777, config owned by another account, state directory 0777, a caller
// secret file at 0644 or owned by another account than its os_user (naming the real owner) — and says
// ok for a tight layout.
func TestDoctorPermissions(t *testing.T) {
	type layout struct{ cfgDir, cfg, state, secret string }
	cases := []struct {
		name   string
		root   bool // needs chown
		mutate func(t *testing.T, l layout)
		check  string
		sev    Severity
		want   string // in message or fix
	}{
		{"tight", false, func(*testing.T, layout) {}, CheckPermissions, SevOK, "no other account can change it"},
		{"config 0666", false, func(t *testing.T, l layout) { chmod(t, l.cfg, 0o666) }, CheckPermissions, SevError, "chmod go-w " + "CFG"},
		{"config 0644", false, func(t *testing.T, l layout) { chmod(t, l.cfg, 0o644) }, CheckPermissions, SevWarning, "chmod o-r"},
		{"config directory 0777", false, func(t *testing.T, l layout) { chmod(t, l.cfgDir, 0o777) }, CheckPermissions, SevError, "directory"},
		{"config owned by another account", true, func(t *testing.T, l layout) { chown(t, l.cfg, 65534) }, CheckPermissions, SevError, "chown"},
		{"state directory 0777", false, func(t *testing.T, l layout) { chmod(t, l.state, 0o777) }, CheckPermissions, SevError, "chmod go-w " + "STATE"},
		{"secret file 0644", false, func(t *testing.T, l layout) { chmod(t, l.secret, 0o644) }, CheckCallers, SevError, "chmod 600"},
		{"secret file owned by another account", true, func(t *testing.T, l layout) { chown(t, l.secret, 65534) }, CheckCallers, SevError, "owned by "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does) to chown test files")
			}
			base := t.TempDir()
			l := layout{cfgDir: filepath.Join(base, "etc"), state: filepath.Join(base, "state")}
			for _, d := range []string{l.cfgDir, l.state} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			l.secret = filepath.Join(base, "caller.secret")
			if err := os.WriteFile(l.secret, []byte("s3cret"), 0o600); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte("s3cret"))
			cfg := baseConfig(base, "http://127.0.0.1:1")
			cfg.Clients = []config.Client{{ID: "sap", SecretSHA256: hex.EncodeToString(sum[:]), SecretFile: l.secret,
				OSUser: selfName(t), SystemUsers: []string{"default"}, Scopes: []string{"altinn:systembruker.demo"}}}
			l.cfg = writeConfig(t, l.cfgDir, cfg)
			tc.mutate(t, l)
			rep := Run(context.Background(), Options{ConfigPath: l.cfg, StateDir: l.state, Timeout: 30 * time.Second})
			want := strings.NewReplacer("CFG", l.cfg, "STATE", l.state).Replace(tc.want)
			for _, f := range rep.Findings {
				if f.Check == tc.check && f.Severity == tc.sev && strings.Contains(f.Message+" "+f.Fix, want) {
					if tc.name == "secret file owned by another account" && !strings.Contains(f.Message, "nobody") &&
						!strings.Contains(f.Message, "uid 65534") {
						t.Errorf("the real owner is not named: %s", f.Message)
					}
					return
				}
			}
			t.Fatalf("no %s %s finding with %q in:\n%s", tc.sev, tc.check, want, dump(rep))
		})
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}
