package doctor

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

const testOrg = "314250052"

// baseConfig is a valid config using the file key store in dir, with upstreams at base.
func baseConfig(dir, base string) *config.Config {
	return &config.Config{Environment: config.EnvSandbox,
		Endpoints:    config.Endpoints{MaskinportenIssuer: base + "/maskinporten/", MaskinportenToken: base + "/maskinporten/token", Altinn: base + "/altinn"},
		Organization: testOrg,
		Maskinporten: config.Maskinporten{ClientID: "client-1", Key: config.KeyRef{Backend: "file", Name: "maskinporten", Path: filepath.Join(dir, "keys")}},
		System: config.System{ID: testOrg + "_x", Name: config.Texts{NB: "x", NN: "x", EN: "x"}, Description: config.Texts{NB: "x", NN: "x", EN: "x"},
			Rights: []config.Right{{Resource: "example-resource"}}},
		SystemUsers: []config.SystemUser{{Name: "default", Scopes: []string{"altinn:systembruker.demo"}}},
		Listen:      "127.0.0.1:1",
	}
}

// writeConfig saves cfg in dir and returns its path.
func writeConfig(t *testing.T, dir string, cfg *config.Config) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// openStore opens the configured key store as cmd/agent does.
func openStore(cfg *config.Config) (keystore.Store, error) {
	k := cfg.Maskinporten.Key
	return keystore.Open(keystore.Options{Backend: k.Backend, Dir: k.Path, AllowFile: k.Backend == keystore.BackendFile})
}

// find returns the first finding of check with severity sev, or fails.
func find(t *testing.T, rep Report, check string, sev Severity) Finding {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Check == check && f.Severity == sev {
			return f
		}
	}
	t.Fatalf("no %s finding for %s in:\n%s", sev, check, dump(rep))
	return Finding{}
}

func dump(rep Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(string(f.Severity) + " " + f.Check + ": " + f.Message + " → " + f.Fix + "\n")
	}
	return b.String()
}

// closedURL is an http URL on a port nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestDoctorConfig(t *testing.T) {
	dir := t.TempDir()
	rep := Run(context.Background(), Options{ConfigPath: filepath.Join(dir, "none.yaml"), StateDir: dir})
	f := find(t, rep, CheckConfig, SevError)
	if !rep.Failed() || !strings.Contains(f.Fix, "agent setup") {
		t.Errorf("missing config: %+v", f)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("organization: \"123\"\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f = find(t, Run(context.Background(), Options{ConfigPath: bad, StateDir: dir}), CheckConfig, SevError)
	if !strings.Contains(f.Message, "bogus") {
		t.Errorf("bad config: %+v", f)
	}
}

// TestDoctorNamesTheCommand: the commands in fixes name the program as the user runs it (the packaged
// systemuser-agent, agent.exe on Windows); without Options.Command they say agent.
func TestDoctorNamesTheCommand(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.yaml")
	for _, c := range []struct{ command, want string }{
		{"", "run `agent setup`"},
		{"systemuser-agent", "run `systemuser-agent setup`"},
		{"agent.exe", "run `agent.exe setup`"},
	} {
		f := find(t, Run(context.Background(), Options{ConfigPath: missing, StateDir: dir, Command: c.command}), CheckConfig, SevError)
		if !strings.Contains(f.Fix, c.want) || (c.command != "" && strings.Contains(f.Fix, "`agent ")) {
			t.Errorf("command %q: fix %q, want it to say %q", c.command, f.Fix, c.want)
		}
	}
}

func TestDoctorKeyStore(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, cfg *config.Config)
		msg     string
		fix     string
	}{
		{"no key", func(t *testing.T, cfg *config.Config) {
			skipFileBackendOnWindows(t)
			if err := os.MkdirAll(cfg.Maskinporten.Key.Path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, `there is no key "maskinporten"`, "agent keys generate"},
		{"key directory open to others", func(t *testing.T, cfg *config.Config) {
			skipFileBackendOnWindows(t)
			if err := os.MkdirAll(cfg.Maskinporten.Key.Path, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cfg.Maskinporten.Key.Path, 0o777); err != nil {
				t.Fatal(err)
			}
		}, "writable by group or others", "chmod 700"},
		{"no Secret Service", func(t *testing.T, cfg *config.Config) {
			// A session bus that is not there: deterministic, and starts no bus daemon.
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
			cfg.Environment, cfg.Maskinporten.Key = config.EnvTest, config.KeyRef{Backend: "keyring", Name: "maskinporten"}
			for _, u := range []*string{&cfg.Endpoints.MaskinportenIssuer, &cfg.Endpoints.MaskinportenToken, &cfg.Endpoints.Altinn} {
				*u = strings.Replace(*u, "http://", "https://", 1) // plain http is the sandbox's alone
			}
		}, "keyring key store", "systemd-creds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := baseConfig(dir, closedURL(t))
			tt.prepare(t, cfg)
			path := writeConfig(t, dir, cfg)
			rep := Run(context.Background(), Options{ConfigPath: path, StateDir: dir, OpenKeyStore: openStore, Timeout: time.Second})
			f := find(t, rep, CheckKey, SevError)
			if !strings.Contains(f.Message, tt.msg) || !strings.Contains(f.Fix, tt.fix) {
				t.Errorf("finding %+v, want %q and fix %q", f, tt.msg, tt.fix)
			}
		})
	}
}

// skewedServer answers every request with its Date header off by skew.
func skewedServer(t *testing.T, skew time.Duration) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDoctorClockAndReachability(t *testing.T) {
	tests := []struct {
		name  string
		base  func(t *testing.T) string
		check string
		sev   Severity
		want  []string
	}{
		{"clock behind", func(t *testing.T) string { return skewedServer(t, 30*time.Second) }, CheckClock, SevError, []string{"behind", "NTP"}},
		{"clock ahead", func(t *testing.T) string { return skewedServer(t, -45*time.Second) }, CheckClock, SevError, []string{"ahead of", "timedatectl set-ntp true"}},
		{"clock fine", func(t *testing.T) string { return skewedServer(t, 2*time.Second) }, CheckClock, SevOK, []string{"at most 10s"}},
		{"upstream unreachable", closedURL, CheckUpstream, SevError, []string{"cannot be reached", "connection refused", "proxy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeConfig(t, dir, baseConfig(dir, tt.base(t)))
			rep := Run(context.Background(), Options{ConfigPath: path, StateDir: dir, GOOS: "linux", Timeout: 2 * time.Second})
			f := find(t, rep, tt.check, tt.sev)
			for _, w := range tt.want {
				// Windows words its errors with capitals ("Connection refused.").
				if !strings.Contains(strings.ToLower(f.Message+" "+f.Fix), strings.ToLower(w)) {
					t.Errorf("finding %+v lacks %q", f, w)
				}
			}
			if (tt.sev == SevError) != rep.Failed() {
				t.Errorf("Failed() = %v", rep.Failed())
			}
		})
	}
}

func TestDoctorService(t *testing.T) {
	tests := []struct {
		st  installer.Status
		err error
		sev Severity
		fix string
	}{
		{installer.Status{State: installer.StateNotInstalled}, nil, SevWarning, "agent service install"},
		{installer.Status{Installed: true, State: installer.StateFailed, Detail: "exit 1"}, nil, SevError, "journalctl"},
		{installer.Status{Installed: true, State: installer.StateStopped}, nil, SevWarning, "agent service start"},
		{installer.Status{Installed: true, State: installer.StateRunning, PID: 7}, nil, SevOK, ""},
		{installer.Status{}, installer.ErrNoServiceManager, SevInfo, "agent run"},
	}
	for _, tt := range tests {
		rep := Run(context.Background(), Options{ConfigPath: "/nonexistent", Service: func() (installer.Status, error) { return tt.st, tt.err }})
		f := find(t, rep, CheckService, tt.sev)
		if !strings.Contains(f.Fix, tt.fix) {
			t.Errorf("%+v: fix %q, want %q", tt.st, f.Fix, tt.fix)
		}
	}
}

// skipFileBackendOnWindows skips a case about the file backend's Unix permissions: Windows refuses that
// backend outright (keystore.TestOpen shows the refusal).
func skipFileBackendOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the file key store is refused on Windows (keystore.TestOpen); its Unix permission checks do not apply")
	}
}

// selfName is the account running the test.
func selfName(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}
