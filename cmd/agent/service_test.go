package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// runService runs "agent service args..." and returns exit code, stdout and stderr.
func runService(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"service"}, args...), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

func TestServiceUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing subcommand; one of: install, uninstall, start, stop, restart, status"},
		{[]string{"reinstall"}, `unknown subcommand "reinstall"`},
		{[]string{"status", "extra"}, `unexpected argument "extra"`},
		{[]string{"start", "--user", "x"}, "flag provided but not defined: -user"},
	}
	for _, tc := range tests {
		code, _, stderr := runService(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("agent service %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestServiceInstallRefusesLooseConfig: install checks permissions before anything else and says how
// to fix them; nothing is installed.
func TestServiceInstallRefusesLooseConfig(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes; the Windows ACL check is unit-tested in installer")
	}
	realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does): the config must be root-owned")
	dir := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("organization: \"314250052\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runService(t, "install", "--config", cfg)
	if code != exitError || !strings.Contains(stderr, "not installing") || !strings.Contains(stderr, "chmod 600 "+cfg) {
		t.Fatalf("exit %d, stderr %q; want exit 1 naming chmod 600 %s", code, stderr, cfg)
	}
	if stdout != "" {
		t.Errorf("refused install printed %q", stdout)
	}
}

// TestServiceControlWithoutSystemd: where systemd is not PID 1 (this CI machine) start and status say
// so and name the foreground command instead.
func TestServiceControlWithoutSystemd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd only")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd is PID 1 here; this test covers machines without it (the installer tests force both)")
	}
	code, _, stderr := runService(t, "start", "--config", "/etc/systemuser-agent/config.yaml")
	if code != exitError || !strings.Contains(stderr, "systemd is not running as PID 1 on this machine") ||
		!strings.Contains(stderr, "run --config /etc/systemuser-agent/config.yaml") {
		t.Errorf("start: exit %d, stderr %q", code, stderr)
	}
}

func TestServiceStatusJSON(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd only")
	}
	code, stdout, stderr := runService(t, "status", "--json")
	var st struct {
		Platform   string `json:"platform"`
		Installed  bool   `json:"installed"`
		State      string `json:"state"`
		Definition string `json:"definition"`
		Error      string `json:"error"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status --json printed %q (%v); stderr %q", stdout, err, stderr)
	}
	if st.Platform != "linux-systemd" || st.Definition != "/etc/systemd/system/systemuser-agent.service" || st.State == "" {
		t.Errorf("status = %+v", st)
	}
	if (code == exitOK) != (st.Error == "") {
		t.Errorf("exit %d with error %q: the exit code must follow the error", code, st.Error)
	}
}

// TestRunAsService: from a terminal (go test is one) serve runs directly and its error comes back.
func TestRunAsService(t *testing.T) {
	sentinel := errors.New("serve stopped")
	called := false
	err := runAsService(context.Background(), nil, "/etc/systemuser-agent/config.yaml", func(ctx context.Context) error {
		called = true
		return sentinel
	})
	if !called || !errors.Is(err, sentinel) {
		t.Fatalf("called %v, err %v; want serve called and its error returned", called, err)
	}
}
