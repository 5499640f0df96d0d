package setup

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// Service is what the setup steps do with the OS service; *installer.Installer implements it.
type Service interface {
	Install() error
	Start() error
	Restart() error
	Status() (installer.Status, error)
	ManagerRunning() error
	Options() installer.Options
}

// handoverWait bounds how long the key step waits for a service it has just started to serve the key
// hand-over (the service opens the pipe once it has read its config).
const handoverWait = 60 * time.Second

// KeyViaService says whether the key is written by the running service rather than by setup: on Windows
// with the keyring backend, the key lives in the service account's own Credential Manager vault, which
// only the service can write (through the key hand-over, keystore.Remote). Then the service must be
// installed and running before the key step (Actions.SaveConfigAndKey).
func KeyViaService(goos, backend string) bool {
	return goos == "windows" && backend == keystore.BackendKeyring
}

// KeyStep is what the key step of `agent setup` keeps, generates or imports.
type KeyStep struct {
	// Name is the key's name in the key store; KID the configured kid ("" for the thumbprint).
	Name, KID string
	// Source is KeyGenerate or KeyImport.
	Source string
	// Input is the key to import (Source KeyImport).
	Input KeyInput
}

// SaveConfigAndKey runs the first steps of `agent setup` in their order. Where the key is written by the
// running service (KeyViaService: Windows with the keyring backend) that order is: a key to import is
// read and checked to fit a Credential Manager entry, before anything is written; the config is saved;
// the service is installed (unless it is) and started (unless it runs), and its key hand-over waited for
// (ServiceFirst); then the key is kept, generated or imported through the service. Elsewhere it is: the
// config is saved, then the key is kept, generated or imported, and the service comes last
// (InstallService). Every step is idempotent, so a setup stopped anywhere resumes. open opens the key
// store once the config is saved. Failures are reported as events and returned.
func (a *Actions) SaveConfigAndKey(ctx context.Context, open func() (keystore.Store, error), k KeyStep) (keystore.Store, KeyResult, error) {
	viaService := KeyViaService(a.os(), a.Config.Maskinporten.Key.Backend)
	var imported crypto.Signer
	if viaService && k.Source == KeyImport {
		key, err := ReadKey(ctx, k.Input)
		if err == nil {
			err = keystore.KeyringFits(keystore.KeyOnly(key), k.Name)
		}
		if err != nil {
			return nil, KeyResult{}, a.Failed(StepKey, fmt.Errorf("nothing was written: %w", err))
		}
		imported = key
	}
	if err := a.SaveConfig(); err != nil {
		return nil, KeyResult{}, err
	}
	ks, err := open()
	if err != nil {
		return nil, KeyResult{}, a.Failed(StepKey, fmt.Errorf("open the %s key store: %w", a.Config.Maskinporten.Key.Backend, err))
	}
	if viaService {
		if err := a.ServiceFirst(ctx, ks); err != nil {
			return nil, KeyResult{}, err
		}
	}
	signer, made, err := ensureKey(ctx, ks, k.Name, k.Source, imported, k.Input)
	if err == nil {
		var info KeyInfo
		if info, err = DescribeKey(ks.Backend(), k.Name, signer, k.KID); err == nil {
			return ks, KeyResult{Signer: signer, KID: info.KID, PublicJWK: info.JWK, New: made}, nil
		}
	}
	return nil, KeyResult{}, a.Failed(StepKey, err)
}

// ServiceFirst makes the OS service run before the key step where the service writes the key
// (KeyViaService): it installs the service unless it is installed, starts it unless it runs (restarts it
// when it runs without serving the key hand-over, i.e. with an older config), and waits until the
// service answers on the key hand-over (ks). Without Service options (setup --no-service) it
// only checks that a service answers, and says how to start one when none does.
func (a *Actions) ServiceFirst(ctx context.Context, ks keystore.Store) error {
	if a.Service == nil {
		if _, err := ks.List(ctx); err != nil {
			return a.Failed(StepService, fmt.Errorf("on Windows the key is written by the running service into its own vault, and none answers "+
				"(setup --no-service installs none): start it (agent service install, then agent service start) or leave out --no-service: %w", err))
		}
		return nil
	}
	inst, err := a.service()
	if err != nil {
		return a.Failed(StepService, fmt.Errorf("install the service: %w", err))
	}
	st, _ := inst.Status()
	verb := "already installed"
	if st.State == installer.StateNotInstalled {
		if err := inst.Install(); err != nil {
			return a.Failed(StepService, fmt.Errorf("install the service (before the key, which the service keeps in its own vault): %w", err))
		}
		st, _ = inst.Status()
		verb = "installed"
	}
	switch _, probe := ks.List(ctx); {
	case st.State != installer.StateRunning:
		if err := inst.Start(); err != nil {
			return a.Failed(StepService, fmt.Errorf("start the service (before the key, which the service keeps in its own vault): %w", err))
		}
		verb += " and started"
	case errors.Is(probe, keystore.ErrUnavailable):
		// Running, but with a config that serves no hand-over (another key backend before this setup):
		// restarted, it reads the config just saved.
		if err := inst.Restart(); err != nil {
			return a.Failed(StepService, fmt.Errorf("restart the service to load the new config (its key hand-over is not served): %w", err))
		}
		verb += " and restarted (to load the new config)"
	default:
		verb += " and running"
	}
	if err := a.awaitHandover(ctx, ks); err != nil {
		return a.Failed(StepService, err)
	}
	a.emit(Event{Step: StepService, Status: StatusDone, Message: fmt.Sprintf("%s %s, running as %s: the key goes to its own vault",
		inst.Options().Name, verb, installer.Account(inst.Options()))})
	return nil
}

// awaitHandover waits until the service answers on the key hand-over; a service just started opens it
// within seconds. Only "not there yet" (ErrUnavailable) is waited out; any other answer is final.
func (a *Actions) awaitHandover(ctx context.Context, ks keystore.Store) error {
	ctx, cancel := context.WithTimeout(ctx, a.handoverWait())
	defer cancel()
	for {
		_, err := ks.List(ctx)
		if err == nil || !errors.Is(err, keystore.ErrUnavailable) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the service runs but does not answer on its key hand-over (see its log: Event Log, source systemuser-agent); "+
				"run `agent setup` again once it does: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// service is the installer of the configured service (Actions.NewService, default ServiceFor).
func (a *Actions) service() (Service, error) {
	if a.NewService != nil {
		return a.NewService(*a.Service, a.Config)
	}
	return ServiceFor(*a.Service, a.Config)
}

// os is the system the steps are ordered for (Actions.GOOS, default this one).
func (a *Actions) os() string {
	if a.GOOS != "" {
		return a.GOOS
	}
	return runtime.GOOS
}

func (a *Actions) handoverWait() time.Duration {
	if a.HandoverWait > 0 {
		return a.HandoverWait
	}
	return handoverWait
}
