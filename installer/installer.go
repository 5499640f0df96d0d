package installer

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/kardianos/service"
)

var (
	// ErrNotInstalled means the service is not installed.
	ErrNotInstalled = errors.New("the service is not installed")
	// ErrNoServiceManager means the service manager is not running on this machine (on Linux: systemd is
	// not PID 1), so the service cannot be started, stopped or asked for its state.
	ErrNoServiceManager = errors.New("service manager unavailable")
)

// State is what the service manager says the service is doing.
type State string

// States reported by Status.
const (
	StateRunning      State = "running"
	StateStarting     State = "starting"
	StateStopping     State = "stopping"
	StateStopped      State = "stopped"
	StateFailed       State = "failed"
	StateNotInstalled State = "not-installed"
	StateUnknown      State = "unknown"
)

// Status is the service's installation and run state.
type Status struct {
	// Platform names the service manager: "linux-systemd", "windows-service", "darwin-launchd", ...
	Platform string `json:"platform"`
	// Installed says whether the service definition exists.
	Installed bool `json:"installed"`
	// Enabled says whether it starts at boot (Linux; on other platforms it equals Installed).
	Enabled bool `json:"enabled"`
	// State is what the service manager reports, or unknown when it cannot be asked.
	State State `json:"state"`
	// PID is the main process id while running, when known.
	PID int `json:"pid,omitempty"`
	// Definition is where the service is defined: the unit file, or the SCM service name.
	Definition string `json:"definition,omitempty"`
	// Detail is the service manager's own words (sub-state, last exit status, why state is unknown).
	Detail string `json:"detail,omitempty"`
}

// backend is one service manager.
type backend interface {
	install() error
	uninstall() error
	start() error
	stop() error
	restart() error
	status() (Status, error)
	// managerRunning returns nil, or ErrNoServiceManager wrapped with what to do instead.
	managerRunning() error
}

// Installer installs and controls the service described by its Options.
type Installer struct {
	o Options
	b backend
}

// New validates o (filling defaults) for this OS. run is what the service runs when started by the
// service manager through RunService; control-only callers may pass nil.
func New(o Options, run Runner) (*Installer, error) {
	o = o.withDefaults(runtime.GOOS)
	b, err := newBackend(o, run)
	if err != nil {
		return nil, err
	}
	return &Installer{o: o, b: b}, nil
}

// Options returns the effective options, defaults filled in.
func (i *Installer) Options() Options { return i.o }

// Preflight checks what Install checks before touching the service manager: the config file and its
// directory are owner-only, the state directory (if it exists) is owner-only, the executable is not
// replaceable by other accounts, and the key credential (if any) exists. Each failure says how to fix it (D19).
func (i *Installer) Preflight() error {
	if wineLane {
		return i.laneExists() // the wine lane's build only (lane_on.go)
	}
	for _, p := range []string{dirOf(i.o.ConfigPath), i.o.ConfigPath} {
		if err := CheckPermissions(p, RoleConfig, i.o); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("config file %s does not exist: run \"agent setup\" first, or pass --config: %w", i.o.ConfigPath, err)
			}
			return err
		}
	}
	if err := CheckPermissions(i.o.StateDir, RoleState, i.o); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := checkExecutable(i.o.Executable); err != nil {
		return err
	}
	if c := i.o.Credential; c != nil {
		if _, err := os.Stat(c.Path); err != nil {
			return fmt.Errorf("key credential %s is missing: store the key first (agent keys generate or import with the systemd-creds backend): %w", c.Path, err)
		}
	}
	return nil
}

// laneExists is Preflight in the wine lane's build (lane_on.go): the config and the executable must
// exist; their ACLs are not judged, since wine keeps no protected DACL.
func (i *Installer) laneExists() error {
	for _, p := range []string{i.o.ConfigPath, i.o.Executable} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("wine lane install: %w", err)
		}
	}
	return nil
}

// Install runs Preflight, then defines the service and enables it at boot. On Linux it (re)writes the
// unit, so re-running install applies a newer unit; on Windows an existing service is an error.
func (i *Installer) Install() error {
	if err := i.Preflight(); err != nil {
		return err
	}
	return i.b.install()
}

// Uninstall stops the service if it can and removes its definition. It never touches the config file,
// the state directory or the key.
func (i *Installer) Uninstall() error { return i.b.uninstall() }

// Start asks the service manager to start the service.
func (i *Installer) Start() error { return i.b.start() }

// Stop asks the service manager to stop the service and waits for it.
func (i *Installer) Stop() error { return i.b.stop() }

// Restart asks the service manager to restart the service.
func (i *Installer) Restart() error { return i.b.restart() }

// Status reports the service's state. When the service manager cannot be asked it returns what it
// knows (installed, enabled) together with an error wrapping ErrNoServiceManager.
func (i *Installer) Status() (Status, error) { return i.b.status() }

// ManagerRunning returns nil when the service manager can start and stop services now, else an error
// wrapping ErrNoServiceManager that says what to do instead.
func (i *Installer) ManagerRunning() error { return i.b.managerRunning() }

// Interactive reports whether the process runs from a terminal (true) or under the service manager.
func Interactive() bool {
	if runtime.GOOS == "linux" && os.Getenv("INVOCATION_ID") != "" {
		// systemd sets INVOCATION_ID for every unit it starts.
		return false
	}
	if wineLane && startedByWineServices() {
		return false // the wine lane's build only (lane_on.go)
	}
	return service.Interactive()
}

// Describe is the status as `agent service status` prints it for the service name: one line with the
// state, pid and boot setting, then the definition and the service manager's detail when known.
func (st Status) Describe(name string) string {
	line := fmt.Sprintf("%s (%s): %s", name, st.Platform, st.State)
	if st.PID > 0 {
		line += fmt.Sprintf(", pid %d", st.PID)
	}
	if st.Installed && st.Enabled {
		line += ", enabled at boot"
	} else if st.Installed {
		line += ", not enabled at boot"
	}
	line += "\n"
	if st.Definition != "" {
		line += "  definition: " + st.Definition + "\n"
	}
	if st.Detail != "" {
		line += "  " + st.Detail + "\n"
	}
	return line
}
