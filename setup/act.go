package setup

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// The steps of `agent setup` around Run's (key, system, request, approval, token).
const (
	StepConfig  = "config"
	StepCallers = "callers"
	StepService = "service"
	StepDone    = "done"
)

// Actions are the steps of `agent setup` that write on this machine: the config file, the callers'
// secret files and the OS service. Each is idempotent, so a setup stopped anywhere resumes on the next
// run. Each reports itself as an Event (done, skipped or failed) and returns the error it failed with.
type Actions struct {
	// ConfigPath is where the config is written.
	ConfigPath string
	// Config is the complete, validated configuration.
	Config *config.Config
	// Service installs and (re)starts the OS service with these options; nil skips the service step.
	Service *installer.Options
	// Events receives progress; nil discards.
	Events func(Event)
	// NewService returns the installer of the service; nil means ServiceFor. Tests give a fake.
	NewService func(installer.Options, *config.Config) (Service, error)
	// GOOS is the system the steps are ordered for (KeyViaService); "" means this one. Tests set it.
	GOOS string
	// HandoverWait bounds the wait for a just-started service's key hand-over; 0 means a minute.
	HandoverWait time.Duration
}

func (a *Actions) emit(ev Event) {
	if a.Events != nil {
		a.Events(ev)
	}
}

// Failed reports step's failure as an event and returns err.
func (a *Actions) Failed(step string, err error) error {
	a.emit(Event{Step: step, Status: StatusFailed, Message: err.Error()})
	return err
}

// SaveConfig writes the config atomically (the old file stays until then). With a service its
// directories are made first and the file is made owner-only: the service gets it as a systemd
// credential and nobody else needs to read it (D19).
func (a *Actions) SaveConfig() error {
	path := a.ConfigPath
	if a.Service != nil {
		if err := installer.EnsureDirs(*a.Service); err != nil {
			return a.Failed(StepConfig, err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return a.Failed(StepConfig, fmt.Errorf("create the config directory: %w", err))
	}
	if err := config.Save(path, a.Config); err != nil {
		return a.Failed(StepConfig, err)
	}
	if a.Service != nil {
		if err := os.Chmod(path, 0o600); err != nil {
			return a.Failed(StepConfig, err)
		}
	}
	a.emit(Event{Step: StepConfig, Status: StatusDone, Message: "saved " + path})
	return nil
}

// Callers gives every caller its secret file: the secrets made in this run (by caller id) are written;
// a kept caller whose file is gone or no longer matches gets a new secret, and the config is saved
// again with its digest.
func (a *Actions) Callers(secrets map[string]*callersecret.Secret) error {
	cfg := a.Config
	changed := false
	for i := range cfg.Clients {
		cl := &cfg.Clients[i]
		s := secrets[cl.ID]
		if s == nil {
			if cl.SecretFile == "" {
				a.emit(Event{Step: StepCallers, Status: StatusSkipped, Message: fmt.Sprintf("caller %s: no secret file recorded (its secret was shown once); `agent clients rotate %s` makes a new one", cl.ID, cl.ID)})
				continue
			}
			ok, err := callersecret.Matches(cl.SecretFile, cl.SecretSHA256)
			if err != nil {
				return a.Failed(StepCallers, err)
			}
			if ok {
				a.emit(Event{Step: StepCallers, Status: StatusDone, Message: fmt.Sprintf("caller %s: secret file %s in place", cl.ID, cl.SecretFile)})
				continue
			}
			if s, err = callersecret.New(); err != nil {
				return a.Failed(StepCallers, err)
			}
			cl.SecretSHA256, changed = s.Digest(), true
		}
		if err := callersecret.Write(cl.SecretFile, cl.OSUser, s, true); err != nil {
			return a.Failed(StepCallers, fmt.Errorf("caller %s: %w", cl.ID, err))
		}
		a.emit(Event{Step: StepCallers, Status: StatusDone,
			Message: fmt.Sprintf("caller %s: secret written to %s, readable only by %s", cl.ID, cl.SecretFile, cl.OSUser)})
	}
	if changed {
		if err := config.Save(a.ConfigPath, cfg); err != nil {
			return a.Failed(StepCallers, err)
		}
	}
	return nil
}

// InstallService installs and (re)starts the OS service, or says it was skipped without Service.
func (a *Actions) InstallService() error {
	if a.Service == nil {
		a.emit(Event{Step: StepService, Status: StatusSkipped, Message: "not installed (install later with `agent service install`, or run `agent run`)"})
		return nil
	}
	inst, err := a.service()
	if err == nil {
		err = a.install(inst)
	}
	if err != nil {
		return a.Failed(StepService, fmt.Errorf("install the service: %w", err))
	}
	if err := inst.ManagerRunning(); err != nil {
		a.emit(Event{Step: StepService, Status: StatusSkipped, Message: "installed, not started: " + err.Error()})
		return nil
	}
	st, _ := inst.Status()
	op, verb := inst.Start, "started"
	if st.State == installer.StateRunning {
		op, verb = inst.Restart, "restarted (to load the new config)"
	}
	if err := op(); err != nil {
		return a.Failed(StepService, fmt.Errorf("start the service: %w", err))
	}
	a.emit(Event{Step: StepService, Status: StatusDone, Message: fmt.Sprintf("%s installed and %s, running as %s", inst.Options().Name, verb, installer.Account(inst.Options()))})
	return nil
}

// install installs the service. On Windows a service already installed (by ServiceFirst, or by the
// setup that stopped) is kept as it is: installing it again is an error there. On Linux install rewrites
// the unit, so a newer unit is applied.
func (a *Actions) install(inst Service) error {
	if a.os() == "windows" {
		if st, err := inst.Status(); err == nil && st.State != installer.StateNotInstalled && st.State != installer.StateUnknown {
			return nil
		}
	}
	return inst.Install()
}

// ServiceFor completes installer options from the config — the systemd credential of a systemd-creds key,
// or the key file and TPM device of a tpm2 key (refused when the device is missing or root's only), the
// listen port and the Unix socket — and returns the installer for them.
func ServiceFor(o installer.Options, cfg *config.Config) (*installer.Installer, error) {
	switch k := cfg.Maskinporten.Key; k.Backend {
	case config.BackendSystemdCreds:
		o.Credential = &installer.Credential{Name: keystore.SystemdCredName(k.Name), Path: keystore.SystemdCredPath(k.Path, k.Name)}
	case config.BackendTPM2:
		if keystore.IsSoftwareTPM(k.Device) {
			return nil, fmt.Errorf("the key is in a software TPM (%s), which is for tests and the sandbox: install the service with the machine's TPM (key.device /dev/tpmrm0)", k.Device)
		}
		tpm, err := installer.TPMAccessFor(cmp.Or(k.Device, keystore.DefaultTPMDevice))
		if err != nil {
			return nil, fmt.Errorf("backend tpm2: %w", err)
		}
		o.Credential = &installer.Credential{Name: keystore.SystemdCredName(k.Name), Path: keystore.TPM2KeyPath(k.Path, k.Name), Plain: true}
		o.TPM = tpm
	}
	o.ListenPort, o.UnixSocket = listenPort(cfg.Listen), cfg.UnixSocket
	return installer.New(o, nil)
}

// NextStep is what the end of setup tells the user when it installed no service: the command that
// serves the tokens, or, when another program holds the listen address, that it must be freed first.
func NextStep(listen, configPath, stateDir string) string {
	run := fmt.Sprintf("agent run --config %s --state-dir %s", configPath, stateDir)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Sprintf("set up, but nothing serves tokens yet and %s is taken by another program (agent doctor names it): "+
			"stop that program or change listen in the config, then start serving with: %s", listen, run)
	}
	ln.Close()
	return "set up; nothing serves tokens yet (no service installed): start serving at http://" + listen + "/oauth2/token with: " + run
}

// listenPort is the port of a "host:port" listen address, or 0.
func listenPort(listen string) int {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return 0
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return 0
	}
	return p
}

// ServiceOptions are the installer options of `agent service` and `agent setup`: this binary's resolved
// absolute path, the absolute config path, the state directory when given, and the account (user ""
// means installer's default).
func ServiceOptions(configPath, stateDir, user string) (installer.Options, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return installer.Options{}, fmt.Errorf("find this program's own path: %w", err)
	}
	cfg, err := filepath.Abs(configPath)
	if err != nil {
		return installer.Options{}, fmt.Errorf("resolve --config %s: %w", configPath, err)
	}
	o := installer.Options{Name: installer.DefaultName, Executable: exe, ConfigPath: cfg, User: user}
	if stateDir != "" {
		if o.StateDir, err = filepath.Abs(stateDir); err != nil {
			return installer.Options{}, fmt.Errorf("resolve --state-dir %s: %w", stateDir, err)
		}
	}
	return o, nil
}

// LoadBase reads the existing config file for `agent setup`, whose values become the defaults: nil when
// there is none. A config with invalid values still gives its answers (the wizard fixes them); a file
// that cannot be read at all is an error, since setup never overwrites a file it cannot read (it may hold
// edits).
func LoadBase(path string) (*config.Config, error) {
	base, err := config.Load(path)
	switch {
	case err == nil, base != nil:
		return base, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	}
	return nil, fmt.Errorf("the config file %s exists but cannot be read, and setup never overwrites a file it cannot read "+
		"(it may hold edits); fix it or move it away, then run setup again:\n%w", path, err)
}

// KeptKey says where the configured key stays when the service is uninstalled.
func KeptKey(k config.KeyRef) string {
	if k.Backend == config.BackendSystemdCreds {
		return keystore.SystemdCredPath(k.Path, k.Name)
	}
	if k.Backend == config.BackendTPM2 {
		return keystore.TPM2KeyPath(k.Path, k.Name) + " (the key wrapped by this machine's TPM)"
	}
	return fmt.Sprintf("the key %q in the %s key store", k.Name, k.Backend)
}

// CheckInstallable refuses to install a service whose executable lies in the temporary directory (go
// run), where it would vanish.
func CheckInstallable(o installer.Options) error {
	if tmp := os.TempDir(); strings.HasPrefix(o.Executable, filepath.Clean(tmp)+string(filepath.Separator)) {
		return fmt.Errorf("not installing %s: it lies in the temporary directory %s (go run?); copy the binary to a permanent place first, e.g. /usr/local/bin/%s, and run install from there", o.Executable, tmp, installer.DefaultName)
	}
	return nil
}
