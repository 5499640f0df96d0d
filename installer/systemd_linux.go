package installer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// systemdBackend writes our own unit and drives systemctl. kardianos' systemd backend is not used for
// installing: it hard-codes /etc/systemd/system, refuses to rewrite an existing unit, and is picked only
// when systemd is PID 1 (elsewhere kardianos would write a SysV script instead).
type systemdBackend struct {
	o        Options
	unitPath string
	// vendorPath is the unit a distribution package ships (/usr/lib/systemd/system/<name>.service under
	// the root); the unit at unitPath, written by install, overrides it, as systemd's own lookup does.
	vendorPath string
	root       string      // --root prefix for systemctl; "" is the live system
	systemctl  string      // the systemctl binary
	booted     func() bool // whether systemd is PID 1 (sd_booted)
}

func newBackend(o Options, _ Runner) (backend, error) {
	if err := o.validateLinux(); err != nil {
		return nil, err
	}
	root, _ := unitRoot(o.UnitDir)
	return &systemdBackend{
		o:          o,
		unitPath:   filepath.Join(o.UnitDir, o.Name+".service"),
		vendorPath: filepath.Join(root, VendorUnitDir, o.Name+".service"),
		root:       root,
		systemctl:  "systemctl",
		booted:     sdBooted,
	}, nil
}

// sdBooted is sd_booted(3): systemd is PID 1 exactly when /run/systemd/system is a directory.
func sdBooted() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

func (s *systemdBackend) unit() string { return s.o.Name + ".service" }

// definition is the unit file systemd uses: the one install wrote, else the package's, else "".
func (s *systemdBackend) definition() (string, error) {
	for _, p := range []string{s.unitPath, s.vendorPath} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("read the unit %s: %w", p, err)
		}
	}
	return "", nil
}

func (s *systemdBackend) managerRunning() error {
	if !s.booted() {
		return fmt.Errorf("%w: systemd is not running as PID 1 on this machine (/run/systemd/system is missing), so the service cannot be started, stopped or queried here; an installed unit starts at the next boot under systemd; meanwhile run \"%s run --config %s\" in the foreground", ErrNoServiceManager, s.o.Executable, s.o.ConfigPath)
	}
	if s.root != "" {
		return fmt.Errorf("%w: the unit directory %s belongs to the offline root %s, not to the running system", ErrNoServiceManager, s.o.UnitDir, s.root)
	}
	return nil
}

// systemctlCmd runs systemctl with --root when installing offline; it returns trimmed stdout.
func (s *systemdBackend) systemctlCmd(args ...string) (string, error) {
	if s.root != "" {
		args = append([]string{"--root=" + s.root}, args...)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(s.systemctl, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return strings.TrimSpace(out.String()), fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(out.String()), nil
}

func (s *systemdBackend) install() error {
	text, err := RenderSystemdUnit(s.o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.unitPath), 0o755); err != nil {
		return fmt.Errorf("create the unit directory: %w (run as root)", err)
	}
	if err := writeFileAtomic(s.unitPath, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write the unit %s: %w (run as root)", s.unitPath, err)
	}
	live := s.managerRunning() == nil
	if live {
		if _, err := s.systemctlCmd("daemon-reload"); err != nil {
			return fmt.Errorf("unit written to %s, but systemd did not reload it: %w", s.unitPath, err)
		}
	}
	// enable works offline too (it only makes the multi-user.target.wants link).
	if _, err := s.systemctlCmd("enable", s.unit()); err != nil {
		return fmt.Errorf("unit written to %s, but enabling it failed: %w", s.unitPath, err)
	}
	return nil
}

func (s *systemdBackend) uninstall() error {
	if _, err := os.Stat(s.unitPath); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(s.vendorPath); err == nil {
			return fmt.Errorf("%w by \"agent service install\": the unit %s comes from the systemuser-agent package; remove the package instead (apt-get remove systemuser-agent), or stop and disable it with systemctl", ErrNotInstalled, s.vendorPath)
		}
		return fmt.Errorf("%w: %s does not exist", ErrNotInstalled, s.unitPath)
	}
	live := s.managerRunning() == nil
	if live {
		if _, err := s.systemctlCmd("stop", s.unit()); err != nil {
			return fmt.Errorf("stop the service before removing it: %w", err)
		}
	}
	if _, err := s.systemctlCmd("disable", s.unit()); err != nil {
		return fmt.Errorf("disable the service: %w", err)
	}
	if err := os.Remove(s.unitPath); err != nil {
		return fmt.Errorf("remove the unit %s: %w (run as root)", s.unitPath, err)
	}
	if live {
		if _, err := s.systemctlCmd("daemon-reload"); err != nil {
			return fmt.Errorf("unit removed, but systemd did not reload: %w", err)
		}
		_, _ = s.systemctlCmd("reset-failed", s.unit()) // only clears a failed record; absent is fine
	}
	return nil
}

func (s *systemdBackend) control(verb string) error {
	if err := s.managerRunning(); err != nil {
		return fmt.Errorf("%s the service: %w", verb, err)
	}
	if def, err := s.definition(); err != nil {
		return fmt.Errorf("%s the service: %w", verb, err)
	} else if def == "" {
		return fmt.Errorf("%s the service: %w: run \"agent service install\" first", verb, ErrNotInstalled)
	}
	if _, err := s.systemctlCmd(verb, s.unit()); err != nil {
		return fmt.Errorf("%s the service: %w (see journalctl -u %s)", verb, err, s.unit())
	}
	return nil
}

func (s *systemdBackend) start() error   { return s.control("start") }
func (s *systemdBackend) stop() error    { return s.control("stop") }
func (s *systemdBackend) restart() error { return s.control("restart") }

func (s *systemdBackend) status() (Status, error) {
	st := Status{Platform: "linux-systemd", Definition: s.unitPath, State: StateUnknown}
	def, err := s.definition()
	if err != nil {
		return st, err
	}
	if def == "" {
		st.State = StateNotInstalled
		return st, nil
	}
	st.Definition, st.Installed = def, true
	// is-enabled works offline; it exits non-zero for "disabled", which is an answer, not a failure.
	enabled, _ := s.systemctlCmd("is-enabled", s.unit())
	st.Enabled = enabled == "enabled"
	if err := s.managerRunning(); err != nil {
		st.Detail = "systemd is not running; state unknown"
		return st, err
	}
	out, err := s.systemctlCmd("show", s.unit(), "--property=LoadState,ActiveState,SubState,MainPID,ExecMainStatus,NRestarts")
	if err != nil {
		return st, fmt.Errorf("ask systemd for the state: %w", err)
	}
	return parseShow(st, out), nil
}

// parseShow reads "systemctl show" Key=Value lines into st.
func parseShow(st Status, out string) Status {
	kv := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			kv[k] = v
		}
	}
	switch kv["ActiveState"] {
	case "active", "reloading":
		st.State = StateRunning
	case "activating":
		st.State = StateStarting
	case "deactivating":
		st.State = StateStopping
	case "inactive":
		st.State = StateStopped
	case "failed":
		st.State = StateFailed
	}
	if kv["LoadState"] == "not-found" {
		st.State = StateNotInstalled
	}
	if pid, err := strconv.Atoi(kv["MainPID"]); err == nil && pid > 0 {
		st.PID = pid
	}
	var detail []string
	if v := kv["SubState"]; v != "" {
		detail = append(detail, "sub-state "+v)
	}
	if v := kv["ExecMainStatus"]; v != "" && v != "0" {
		detail = append(detail, "last exit status "+v)
	}
	if v := kv["NRestarts"]; v != "" && v != "0" {
		detail = append(detail, "restarted "+v+" times")
	}
	st.Detail = strings.Join(detail, ", ")
	return st
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and renames it over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
