package installer

import (
	"cmp"
	"flag"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

var update = flag.Bool("update", false, "rewrite testdata/*.service from the current template")

// unitCases are the option sets with a golden file each.
func unitCases() []struct {
	name string
	o    Options
} {
	return []struct {
		name string
		o    Options
	}{
		{"default", Options{
			Executable: "/usr/local/bin/systemuser-agent",
			ConfigPath: "/etc/systemuser-agent/config.yaml",
		}},
		{"named-user", Options{
			Executable: "/usr/local/bin/systemuser-agent",
			ConfigPath: "/etc/systemuser-agent/config.yaml",
			User:       "sua",
		}},
		{"credential", Options{
			Executable: "/usr/local/bin/systemuser-agent",
			ConfigPath: "/etc/systemuser-agent/config.yaml",
			Credential: &Credential{Name: "systemuser-agent-maskinporten", Path: "/etc/credstore.encrypted/systemuser-agent-maskinporten.cred"},
			ListenPort: 7070,
		}},
		{"tpm2", Options{
			Executable: "/usr/local/bin/systemuser-agent",
			ConfigPath: "/etc/systemuser-agent/config.yaml",
			Credential: &Credential{Name: "systemuser-agent-maskinporten", Path: "/etc/credstore/systemuser-agent-maskinporten.tpm2key", Plain: true},
			TPM:        &TPMAccess{Device: "/dev/tpmrm0", Group: "tss"},
		}},
		{"unix-socket", Options{
			Executable: "/usr/local/bin/systemuser-agent",
			ConfigPath: "/etc/systemuser-agent/config.yaml",
			Credential: &Credential{Name: "systemuser-agent-maskinporten", Path: "/etc/credstore.encrypted/systemuser-agent-maskinporten.cred"},
			ListenPort: 7070,
			UnixSocket: "/run/systemuser-agent/token.sock",
		}},
		{"custom-paths", Options{
			Name:       "acme-agent",
			Executable: "/opt/acme agent/bin/agent%1",
			ConfigPath: "/etc/acme/agent/config.yaml",
			StateDir:   "/var/lib/acme/agent",
			Credential: &Credential{Name: "acme-key", Path: "/srv/creds/acme-key.cred"},
		}},
	}
}

func TestRenderSystemdUnitGolden(t *testing.T) {
	for _, tc := range unitCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderSystemdUnit(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".service")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./installer -run Golden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("unit differs from %s (rerun with -update if the change is intended):\n%s", golden, got)
			}
		})
	}
}

// TestUnitHardeningDirectives checks security.md §5's list line by line in every rendered unit, so a
// golden file regenerated carelessly cannot drop one.
func TestUnitHardeningDirectives(t *testing.T) {
	required := []string{
		"StateDirectoryMode=0700", "UMask=0077", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
		"AmbientCapabilities=", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"PrivateDevices=yes", "PrivateIPC=yes", "ProtectHostname=yes", "ProtectClock=yes",
		"ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
		"ProtectControlGroups=yes", "ProtectProc=invisible", "ProcSubset=pid",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces=yes", "RestrictRealtime=yes",
		"RestrictSUIDSGID=yes", "LockPersonality=yes", "MemoryDenyWriteExecute=yes",
		"SystemCallArchitectures=native", "SystemCallFilter=@system-service",
		"SystemCallFilter=~@privileged @resources", "KeyringMode=private", "RemoveIPC=yes", "LimitCORE=0",
		"Restart=on-failure", "RestartSec=5s", "Type=simple", "StartLimitIntervalSec=120", "StartLimitBurst=5",
	}
	for _, tc := range unitCases() {
		t.Run(tc.name, func(t *testing.T) {
			unit, err := RenderSystemdUnit(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			lines := map[string]bool{}
			for l := range strings.SplitSeq(unit, "\n") {
				lines[l] = true
			}
			for _, r := range required {
				if !lines[r] {
					t.Errorf("missing %q", r)
				}
			}
			// PrivateUsers= would show every caller of the Unix socket as uid 65534 (D10): only without it.
			if (tc.o.UnixSocket == "") != lines["PrivateUsers=yes"] {
				t.Errorf("PrivateUsers=yes present = %v, want %v (unix_socket %q)", lines["PrivateUsers=yes"], tc.o.UnixSocket == "", tc.o.UnixSocket)
			}
			dirs := map[string]bool{}
			for _, l := range strings.Split(unit, "\n") {
				if v, ok := strings.CutPrefix(l, "RuntimeDirectory="); ok {
					for _, d := range strings.Fields(v) {
						dirs[d] = true
					}
				}
			}
			if s := tc.o.UnixSocket; s != "" && (!dirs[strings.TrimPrefix(path.Dir(s), "/run/")] || !lines["RuntimeDirectoryMode=0750"]) {
				t.Errorf("unix_socket %s without its RuntimeDirectory= (mode 0750)", s)
			}
			// The root-only reload socket (systemctl reload) is in /run/<name>: 0700 unless callers need in.
			if name := cmp.Or(tc.o.Name, DefaultName); !dirs[name] || tc.o.UnixSocket == "" && !lines["RuntimeDirectoryMode=0700"] {
				t.Errorf("no RuntimeDirectory=%s for the reload socket (mode 0700 without unix_socket): %v", name, dirs)
			}
			if !strings.Contains(unit, "\nExecReload=+") || !strings.Contains(unit, " service reload --config ") {
				t.Error("ExecReload= does not run \"service reload\" with full privileges (+)")
			}
			if (tc.o.User == "") != lines["DynamicUser=yes"] {
				t.Errorf("DynamicUser=yes present = %v, want %v", lines["DynamicUser=yes"], tc.o.User == "")
			}
			if tc.o.User != "" && !lines["User="+tc.o.User] {
				t.Errorf("missing User=%s", tc.o.User)
			}
			if c := tc.o.Credential; c != nil && !c.Plain && !lines["LoadCredentialEncrypted="+c.Name+":"+c.Path] {
				t.Errorf("missing LoadCredentialEncrypted=%s:%s", c.Name, c.Path)
			}
			if c := tc.o.Credential; c != nil && c.Plain && (!lines["LoadCredential="+c.Name+":"+c.Path] || strings.Contains(unit, "LoadCredentialEncrypted=")) {
				t.Errorf("a TPM key file must be loaded with LoadCredential=%s:%s only", c.Name, c.Path)
			}
			if tc.o.Credential == nil && strings.Contains(unit, "LoadCredentialEncrypted=") {
				t.Error("LoadCredentialEncrypted= without a credential")
			}
			// Device access: exactly the TPM resource manager, and only with backend tpm2.
			var devices []string
			for l := range lines {
				if strings.HasPrefix(l, "DeviceAllow=") || strings.HasPrefix(l, "BindPaths=") || strings.HasPrefix(l, "SupplementaryGroups=") || strings.HasPrefix(l, "DevicePolicy=") {
					devices = append(devices, l)
				}
			}
			slices.Sort(devices)
			var want []string
			if tp := tc.o.TPM; tp != nil {
				want = []string{"BindPaths=" + tp.Device, "DeviceAllow=" + tp.Device + " rw", "SupplementaryGroups=" + tp.Group}
			}
			if !slices.Equal(devices, want) {
				t.Errorf("device access %q, want %q", devices, want)
			}
		})
	}
}

// TestUnitCarriesNoSecrets: the service gets nothing through its command line or environment but the
// config and state paths (COMMON: secrets never in command lines or environment variables).
func TestUnitCarriesNoSecrets(t *testing.T) {
	for _, tc := range unitCases() {
		t.Run(tc.name, func(t *testing.T) {
			unit, err := RenderSystemdUnit(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"Environment=", "EnvironmentFile=", "PassEnvironment=", "SetCredential="} {
				if strings.Contains(unit, "\n"+d) {
					t.Errorf("unit sets %s", d)
				}
			}
			var exec string
			for l := range strings.SplitSeq(unit, "\n") {
				if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
					exec = v
				}
			}
			o := tc.o.withDefaults("linux")
			want := systemdQuote(o.Executable) + " run --config %d/config.yaml --state-dir " + o.StateDir
			if exec != want {
				t.Errorf("ExecStart=%s\nwant       %s", exec, want)
			}
		})
	}
	// The Windows/macOS service arguments are the same two paths.
	got := strings.Join(serviceArgs(`C:\ProgramData\systemuser-agent\config.yaml`, windowsDefaultStateDir), " ")
	if want := `run --config C:\ProgramData\systemuser-agent\config.yaml --state-dir ` + windowsDefaultStateDir; got != want {
		t.Errorf("service args %q, want %q", got, want)
	}
}

func TestRenderSystemdUnitRejects(t *testing.T) {
	base := Options{Executable: "/usr/local/bin/a", ConfigPath: "/etc/systemuser-agent/config.yaml"}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"relative executable", func(o *Options) { o.Executable = "bin/a" }, "not absolute"},
		{"newline in config path", func(o *Options) { o.ConfigPath = "/etc/a\nExecStartPre=/bin/sh" }, "control character"},
		{"state outside /var/lib", func(o *Options) { o.StateDir = "/srv/state" }, "must lie under /var/lib/"},
		{"state in private", func(o *Options) { o.StateDir = "/var/lib/private/x" }, "must lie under /var/lib/"},
		{"space in state", func(o *Options) { o.StateDir = "/var/lib/a b" }, "may hold only"},
		{"root user", func(o *Options) { o.User = "root" }, "as root"},
		{"bad user", func(o *Options) { o.User = "Bad User" }, "not a valid Linux user"},
		{"bad name", func(o *Options) { o.Name = "My Agent" }, "not valid"},
		{"credential named like config", func(o *Options) { o.Credential = &Credential{Name: "config.yaml", Path: "/x.cred"} }, "not valid"},
		{"credential with slash", func(o *Options) { o.Credential = &Credential{Name: "a/b", Path: "/x.cred"} }, "not valid"},
		{"TPM device not a resource manager", func(o *Options) { o.TPM = &TPMAccess{Device: "/dev/tpm0", Group: "tss"} }, "not a TPM resource manager"},
		{"TPM device elsewhere", func(o *Options) { o.TPM = &TPMAccess{Device: "/dev/sda", Group: "tss"} }, "not a TPM resource manager"},
		{"TPM device owned by root", func(o *Options) { o.TPM = &TPMAccess{Device: "/dev/tpmrm0", Group: "root"} }, "tpm-udev"},
		{"TPM group injection", func(o *Options) { o.TPM = &TPMAccess{Device: "/dev/tpmrm0", Group: "tss\nUser=root"} }, "not usable"},
		{"relative credential path", func(o *Options) { o.Credential = &Credential{Name: "k", Path: "k.cred"} }, "absolute plain path"},
		{"odd unit dir", func(o *Options) { o.UnitDir = "/usr/lib/systemd/system" }, "must be /etc/systemd/system"},
		{"socket outside /run", func(o *Options) { o.UnixSocket = "/var/lib/x/token.sock" }, "under /run"},
		{"socket in /run itself", func(o *Options) { o.UnixSocket = "/run/token.sock" }, "under /run"},
		{"socket path not clean", func(o *Options) { o.UnixSocket = "/run/a/../b/token.sock" }, "under /run"},
		{"socket directive injection", func(o *Options) { o.UnixSocket = "/run/a\nUser=root/t.sock" }, "under /run"},
		{"socket with a space", func(o *Options) { o.UnixSocket = "/run/a b/t.sock" }, "under /run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			_, err := RenderSystemdUnit(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// analyzable writes the unit for o, its ExecStart pointing at this test binary (systemd-analyze verify
// insists on a real executable), into a fresh directory and returns the unit's path.
func analyzable(t *testing.T, o Options) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	o.Executable = self
	unit, err := RenderSystemdUnit(o)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), o.withDefaults("linux").Name+".service")
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const getSystemd = "apt-get install systemd (Debian 12 ships systemd 252)"

func TestSystemdAnalyzeVerify(t *testing.T) {
	tool := realdeps.Tool(t, "systemd-analyze", getSystemd)
	for _, tc := range unitCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := analyzable(t, tc.o)
			out, err := exec.Command(tool, "verify", p).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Fatalf("systemd-analyze verify %s: %v\n%s", p, err, out)
			}
		})
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+\.[0-9]+)`)

// maxExposure is security.md §5's bound; the unit measured 1.0–1.2 on systemd 252.
const maxExposure = 2.0

func TestSystemdAnalyzeSecurity(t *testing.T) {
	tool := realdeps.Tool(t, "systemd-analyze", getSystemd)
	for _, tc := range unitCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := analyzable(t, tc.o)
			out, err := exec.Command(tool, "security", "--offline=yes", "--no-pager", p).CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze security: %v\n%s", err, out)
			}
			m := exposureRE.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no exposure level in the output:\n%s", out)
			}
			score, err := strconv.ParseFloat(string(m[1]), 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: exposure %.1f (bound %.1f)", tc.name, score, maxExposure)
			if score > maxExposure {
				t.Errorf("exposure %.1f > %.1f:\n%s", score, maxExposure, out)
			}
		})
	}
}
