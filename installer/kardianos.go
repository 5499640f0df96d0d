//go:build !linux

package installer

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/kardianos/service"
)

// kardianosBackend installs and controls the service through kardianos/service: the Windows SCM, and
// launchd on macOS (development only).
type kardianosBackend struct {
	o Options
	s service.Service
}

// controlOnly is the kardianos program of an Installer: install and control never run it.
type controlOnly struct{}

func (controlOnly) Start(service.Service) error { return nil }
func (controlOnly) Stop(service.Service) error  { return nil }

// kardianosConfig is the service definition: the arguments name the config and state paths only.
func kardianosConfig(o Options) *service.Config {
	c := &service.Config{
		Name:        o.Name,
		DisplayName: o.DisplayName,
		Description: o.Description,
		Executable:  o.Executable,
		Arguments:   serviceArgs(o.ConfigPath, o.StateDir),
		Option:      service.KeyValue{},
	}
	switch runtime.GOOS {
	case "windows":
		c.UserName = ServiceAccount(o)
		for k, v := range windowsServiceOptions() {
			c.Option[k] = v
		}
		if wineLane {
			c.Option["DelayedAutoStart"] = false // wine lacks it: the wine lane's build only (lane_on.go)
		}
	case "darwin":
		for k, v := range darwinServiceOptions() {
			c.Option[k] = v
		}
	default:
		c.UserName = o.User
	}
	return c
}

func newBackend(o Options, _ Runner) (backend, error) {
	if err := o.validateCommon(filepath.IsAbs); err != nil {
		return nil, err
	}
	if o.Credential != nil {
		return nil, errors.New("a systemd credential is a Linux-only option: on this OS the key lives in the service account's key store")
	}
	s, err := service.New(controlOnly{}, kardianosConfig(o))
	if err != nil {
		return nil, fmt.Errorf("open the service manager: %w", err)
	}
	return &kardianosBackend{o: o, s: s}, nil
}

func (k *kardianosBackend) managerRunning() error { return nil }

func (k *kardianosBackend) install() error {
	if err := beforeInstall(k.o); err != nil {
		return err
	}
	if err := k.s.Install(); err != nil {
		return fmt.Errorf("install the %s service: %w (run as Administrator/root; if it exists, run \"agent service uninstall\" first)", k.s.Platform(), err)
	}
	if err := afterInstall(k.o); err != nil {
		_ = k.s.Uninstall() // half-configured (no recovery) is worse than absent
		return err
	}
	return nil
}

func (k *kardianosBackend) uninstall() error {
	if st, err := k.s.Status(); errors.Is(err, service.ErrNotInstalled) {
		return fmt.Errorf("%w: no %s service named %s", ErrNotInstalled, k.s.Platform(), k.o.Name)
	} else if err == nil && st == service.StatusRunning {
		if err := k.s.Stop(); err != nil {
			return fmt.Errorf("stop the service before removing it: %w", err)
		}
	}
	if err := k.s.Uninstall(); err != nil {
		return fmt.Errorf("remove the %s service: %w (run as Administrator/root)", k.s.Platform(), err)
	}
	return nil
}

func (k *kardianosBackend) control(verb string, f func() error) error {
	if err := f(); err != nil {
		if errors.Is(err, service.ErrNotInstalled) {
			return fmt.Errorf("%s the service: %w: run \"agent service install\" first", verb, ErrNotInstalled)
		}
		return fmt.Errorf("%s the %s service %s: %w", verb, k.s.Platform(), k.o.Name, err)
	}
	return nil
}

func (k *kardianosBackend) start() error   { return k.control("start", k.s.Start) }
func (k *kardianosBackend) stop() error    { return k.control("stop", k.s.Stop) }
func (k *kardianosBackend) restart() error { return k.control("restart", k.s.Restart) }

func (k *kardianosBackend) status() (Status, error) {
	st := Status{Platform: k.s.Platform(), Definition: k.o.Name, State: StateUnknown}
	s, err := k.s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		st.State = StateNotInstalled
		return st, nil
	case err != nil:
		return st, fmt.Errorf("ask the %s service manager for %s: %w", k.s.Platform(), k.o.Name, err)
	}
	st.Installed, st.Enabled = true, true
	switch s {
	case service.StatusRunning:
		st.State, st.PID = StateRunning, servicePID(k.o.Name)
	case service.StatusStopped:
		st.State = StateStopped
	}
	return st, nil
}
