package installer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// fixture is an installable tree: an offline root for the unit, owner-only config, a state directory
// with a file, a key credential, and this test binary as the executable.
type fixture struct {
	o                               Options
	root                            string
	configDir, stateFile, credFile  string
	configData, stateData, credData []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does): the service executable must be root-owned")
	realdeps.Tool(t, "systemctl", getSystemd)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{root: t.TempDir()}
	f.configDir = filepath.Join(f.root, "etc", "systemuser-agent")
	// The state directory must lie under /var/lib (StateDirectory=): a unique one, always removed.
	state, err := os.MkdirTemp("/var/lib", "systemuser-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	credDir := filepath.Join(f.root, "etc", "credstore.encrypted")
	for _, d := range []string{f.configDir, credDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	f.o = Options{
		Name:       "systemuser-agent-test",
		Executable: self,
		ConfigPath: filepath.Join(f.configDir, "config.yaml"),
		StateDir:   state,
		Credential: &Credential{Name: "maskinporten", Path: filepath.Join(credDir, "maskinporten.cred")},
		UnitDir:    filepath.Join(f.root, "etc", "systemd", "system"),
	}
	f.stateFile = filepath.Join(state, "state.json")
	f.credFile = f.o.Credential.Path
	f.configData, f.stateData, f.credData = []byte("organization: \"314250052\"\n"), []byte(`{"system":"x"}`), []byte("encrypted")
	for p, d := range map[string][]byte{f.o.ConfigPath: f.configData, f.stateFile: f.stateData, f.credFile: f.credData} {
		if err := os.WriteFile(p, d, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) unitPath() string { return filepath.Join(f.o.UnitDir, f.o.Name+".service") }
func (f *fixture) wantsLink() string {
	return filepath.Join(f.o.UnitDir, "multi-user.target.wants", f.o.Name+".service")
}

// TestInstallUninstallOffline installs into an offline root with the real systemctl (--root), checks the
// unit and its enablement, then uninstalls and checks that config, state and key are untouched.
func TestInstallUninstallOffline(t *testing.T) {
	f := newFixture(t)
	inst, err := New(f.o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Install(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.unitPath())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := RenderSystemdUnit(f.o)
	if string(got) != want {
		t.Errorf("installed unit differs from RenderSystemdUnit:\n%s", got)
	}
	if fi, _ := os.Stat(f.unitPath()); fi.Mode().Perm() != 0o644 {
		t.Errorf("unit mode %04o, want 0644", fi.Mode().Perm())
	}
	if _, err := os.Lstat(f.wantsLink()); err != nil {
		t.Errorf("not enabled: %v", err)
	}

	st, err := inst.Status()
	if !errors.Is(err, ErrNoServiceManager) {
		t.Errorf("Status error = %v, want ErrNoServiceManager (offline root)", err)
	}
	if !st.Installed || !st.Enabled || st.State != StateUnknown || st.Definition != f.unitPath() {
		t.Errorf("Status = %+v, want installed, enabled, unknown, %s", st, f.unitPath())
	}
	for name, op := range map[string]func() error{"start": inst.Start, "stop": inst.Stop, "restart": inst.Restart} {
		if err := op(); !errors.Is(err, ErrNoServiceManager) {
			t.Errorf("%s: err = %v, want ErrNoServiceManager", name, err)
		}
	}

	// Installing again rewrites the unit in place (a newer agent brings a newer unit).
	if err := os.WriteFile(f.unitPath(), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := inst.Install(); err != nil {
		t.Fatalf("second install: %v", err)
	}
	if got, _ := os.ReadFile(f.unitPath()); string(got) != want {
		t.Error("second install did not rewrite the unit")
	}

	if err := inst.Uninstall(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.unitPath(), f.wantsLink()} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after uninstall (err %v)", p, err)
		}
	}
	for p, d := range map[string][]byte{f.o.ConfigPath: f.configData, f.stateFile: f.stateData, f.credFile: f.credData} {
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, d) {
			t.Errorf("uninstall touched %s: %q, %v", p, got, err)
		}
	}
	if st, err := inst.Status(); err != nil || st.Installed || st.State != StateNotInstalled {
		t.Errorf("after uninstall Status = %+v, %v", st, err)
	}
	if err := inst.Uninstall(); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second uninstall: %v, want ErrNotInstalled", err)
	}
}

// TestInstallRefusesLoosePermissions: nothing is written when the config, its directory or the state
// directory are open to others, or the key credential is missing.
func TestInstallRefusesLoosePermissions(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(f *fixture) string // returns the text the error must contain
	}{
		{"config 0644", func(f *fixture) string {
			os.Chmod(f.o.ConfigPath, 0o644)
			return "chmod 600 " + f.o.ConfigPath
		}},
		{"config dir group-writable", func(f *fixture) string {
			os.Chmod(f.configDir, 0o770)
			return "chmod 700 " + f.configDir
		}},
		{"state dir 0755", func(f *fixture) string {
			os.Chmod(f.o.StateDir, 0o755)
			return "chmod 700 " + f.o.StateDir
		}},
		{"config missing", func(f *fixture) string {
			os.Remove(f.o.ConfigPath)
			return "agent setup"
		}},
		{"credential missing", func(f *fixture) string {
			os.Remove(f.credFile)
			return "key credential " + f.credFile + " is missing"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			want := tc.break_(f)
			inst, err := New(f.o, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = inst.Install()
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Install err = %v, want it to contain %q", err, want)
			}
			if _, err := os.Stat(f.unitPath()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused install wrote %s", f.unitPath())
			}
		})
	}
}

// TestControlWithoutSystemdPID1: on a machine where systemd is not PID 1 (this CI machine; forced here
// so the test means the same everywhere) start, stop, restart and status say so and what to do.
func TestControlWithoutSystemdPID1(t *testing.T) {
	inst, err := New(Options{
		Name:       "systemuser-agent-test-nopid1",
		Executable: "/usr/local/bin/systemuser-agent",
		ConfigPath: "/etc/systemuser-agent/config.yaml",
		UnitDir:    filepath.Join(t.TempDir(), "etc", "systemd", "system"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := inst.b.(*systemdBackend)
	b.booted = func() bool { return false }
	if err := os.MkdirAll(filepath.Dir(b.unitPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.unitPath, []byte("[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.systemctl = "/bin/false" // is-enabled: "no"; nothing else may be called
	for name, op := range map[string]func() error{"start": inst.Start, "stop": inst.Stop, "restart": inst.Restart, "status": func() error { _, err := inst.Status(); return err }} {
		err := op()
		if !errors.Is(err, ErrNoServiceManager) || !strings.Contains(err.Error(), "systemd is not running as PID 1 on this machine") ||
			!strings.Contains(err.Error(), "run --config /etc/systemuser-agent/config.yaml") {
			t.Errorf("%s: err = %v, want the not-PID-1 explanation with the foreground command", name, err)
		}
	}
	if st, _ := inst.Status(); !st.Installed || st.State != StateUnknown {
		t.Errorf("Status = %+v, want installed with state unknown", st)
	}
	if real := sdBooted(); real {
		t.Log("systemd is PID 1 here: the live path is exercised by TestLiveSystemctlCalls only")
	}
}

// TestLiveSystemctlCalls checks the systemctl calls made when systemd is PID 1, against a recording
// stand-in for systemctl (systemd is not PID 1 on the CI machine, so the real one cannot answer).
func TestLiveSystemctlCalls(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "systemctl")
	script := fmt.Sprintf(`#!/bin/sh
echo "$*" >> %q
case "$1" in
is-enabled) echo enabled ;;
show) printf 'LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nExecMainStatus=0\nNRestarts=2\n' ;;
esac
`, log)
	if err := os.WriteFile(fake, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	o := Options{Executable: "/usr/local/bin/systemuser-agent", ConfigPath: "/etc/systemuser-agent/config.yaml"}.withDefaults("linux")
	b := &systemdBackend{o: o, unitPath: filepath.Join(dir, "unit", "systemuser-agent.service"), systemctl: fake, booted: func() bool { return true }}

	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"install", b.install, []string{"daemon-reload", "enable systemuser-agent.service"}},
		{"start", b.start, []string{"start systemuser-agent.service"}},
		{"restart", b.restart, []string{"restart systemuser-agent.service"}},
		{"stop", b.stop, []string{"stop systemuser-agent.service"}},
		{"status", func() error {
			st, err := b.status()
			if err == nil && (st.State != StateRunning || st.PID != 4242 || !st.Enabled || st.Detail != "sub-state running, restarted 2 times") {
				return fmt.Errorf("status = %+v", st)
			}
			return err
		}, []string{"is-enabled systemuser-agent.service", "show systemuser-agent.service --property=LoadState,ActiveState,SubState,MainPID,ExecMainStatus,NRestarts"}},
		{"uninstall", b.uninstall, []string{"stop systemuser-agent.service", "disable systemuser-agent.service", "daemon-reload", "reset-failed systemuser-agent.service"}},
	}
	for _, s := range steps {
		os.Remove(log)
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		data, _ := os.ReadFile(log)
		if got := strings.Split(strings.TrimSpace(string(data)), "\n"); strings.Join(got, "|") != strings.Join(s.want, "|") {
			t.Errorf("%s called systemctl %q, want %q", s.name, got, s.want)
		}
	}
	if _, err := os.Stat(b.unitPath); !errors.Is(err, os.ErrNotExist) {
		t.Error("uninstall left the unit")
	}
}

func TestParseShow(t *testing.T) {
	tests := []struct {
		out       string
		wantState State
		wantPID   int
	}{
		{"ActiveState=active\nMainPID=7", StateRunning, 7},
		{"ActiveState=activating\nMainPID=0", StateStarting, 0},
		{"ActiveState=deactivating", StateStopping, 0},
		{"ActiveState=inactive", StateStopped, 0},
		{"ActiveState=failed\nExecMainStatus=1", StateFailed, 0},
		{"LoadState=not-found\nActiveState=inactive", StateNotInstalled, 0},
		{"garbage", StateUnknown, 0},
	}
	for _, tc := range tests {
		st := parseShow(Status{State: StateUnknown}, tc.out)
		if st.State != tc.wantState || st.PID != tc.wantPID {
			t.Errorf("parseShow(%q) = %s pid %d, want %s pid %d", tc.out, st.State, st.PID, tc.wantState, tc.wantPID)
		}
	}
}
