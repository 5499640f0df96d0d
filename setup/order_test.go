package setup

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// orderLog records what the fakes were asked, in order.
type orderLog struct {
	mu    sync.Mutex
	steps []string
}

func (l *orderLog) add(s string) { l.mu.Lock(); l.steps = append(l.steps, s); l.mu.Unlock() }
func (l *orderLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.steps)
}

// fakeService is an OS service whose key hand-over answers once it runs, as the Windows service's does.
type fakeService struct {
	log                *orderLog
	installed, running bool
	stale              bool // running with a config that serves no hand-over, until restarted
	o                  installer.Options
}

func (f *fakeService) Install() error {
	if f.installed {
		return errors.New("service systemuser-agent already exists") // what Windows says
	}
	f.log.add("install")
	f.installed = true
	return nil
}

func (f *fakeService) Start() error {
	if !f.installed {
		return errors.New("the service does not exist")
	}
	f.log.add("start")
	f.running = true
	return nil
}

func (f *fakeService) Restart() error {
	f.log.add("restart")
	f.running, f.stale = true, false
	return nil
}
func (f *fakeService) Status() (installer.Status, error) {
	st := installer.Status{State: installer.StateNotInstalled}
	switch {
	case f.running:
		st.State = installer.StateRunning
	case f.installed:
		st.State = installer.StateStopped
	}
	return st, nil
}
func (f *fakeService) ManagerRunning() error      { return nil }
func (f *fakeService) Options() installer.Options { return f.o }

// handoverStore is the key store as the CLI sees it through the hand-over (keystore.Remote): every call
// fails with ErrUnavailable until the service runs; what it stores it logs. direct is a store the CLI
// writes itself (Linux), which needs no service.
type handoverStore struct {
	keystore.Store
	svc    *fakeService
	log    *orderLog
	direct bool
}

func (h *handoverStore) up() error {
	if h.direct || h.svc.running && !h.svc.stale {
		return nil
	}
	return fmt.Errorf("the systemuser-agent service is not running: %w", keystore.ErrUnavailable)
}

func (h *handoverStore) Generate(ctx context.Context, name string, bits int) (crypto.Signer, error) {
	if err := h.up(); err != nil {
		return nil, err
	}
	h.log.add("key generate")
	return h.Store.Generate(ctx, name, bits)
}

func (h *handoverStore) Put(ctx context.Context, name string, k crypto.Signer) error {
	if err := h.up(); err != nil {
		return err
	}
	h.log.add("key import")
	return h.Store.Put(ctx, name, k)
}

func (h *handoverStore) Signer(ctx context.Context, name string) (crypto.Signer, error) {
	if err := h.up(); err != nil {
		return nil, err
	}
	return h.Store.Signer(ctx, name)
}

func (h *handoverStore) List(ctx context.Context) ([]string, error) {
	if err := h.up(); err != nil {
		return nil, err
	}
	return h.Store.List(ctx)
}

// orderActions are setup's actions on a keyring config for goos, with a fake service and hand-over.
func orderActions(t *testing.T, goos string, svc *fakeService, log *orderLog, events *[]Event) (*Actions, func() (keystore.Store, error)) {
	t.Helper()
	if runtime.GOOS != "windows" {
		realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does): setup makes the service's root-owned directories")
	}
	dir := t.TempDir()
	cfg := DemoConfig(config.Endpoints{MaskinportenIssuer: "http://127.0.0.1:1/maskinporten/", MaskinportenToken: "http://127.0.0.1:1/maskinporten/token",
		Altinn: "http://127.0.0.1:1/altinn"}, "client-1", "", strings.Repeat("a", 64), "127.0.0.1:7070")
	cfg.Maskinporten.Key = config.KeyRef{Backend: keystore.BackendKeyring, Name: "maskinporten"}
	o := installer.Options{Name: installer.DefaultName, Executable: "/usr/bin/agent", ConfigPath: filepath.Join(dir, "etc", "config.yaml"),
		StateDir: filepath.Join(dir, "state")}
	svc.o, svc.log = o, log
	a := &Actions{ConfigPath: o.ConfigPath, Config: cfg, Service: &o, GOOS: goos, HandoverWait: 2 * time.Second,
		NewService: func(installer.Options, *config.Config) (Service, error) { return svc, nil },
		Events: func(ev Event) {
			*events = append(*events, ev)
			if ev.Step == StepConfig && ev.Status == StatusDone {
				log.add("config")
			}
		}}
	store := &handoverStore{Store: keystore.NewMemory(), svc: svc, log: log, direct: goos != "windows"}
	return a, func() (keystore.Store, error) { return store, nil }
}

// TestSetupOrderServiceBeforeKey: on Windows with the keyring backend, `agent setup` installs and starts
// the service before the key step, because only the running service can write its own Credential
// Manager vault (the fake hand-over refuses while the service is not running, as keystore.Remote does);
// a re-run finds the service installed and running and the key there, and does each once. On Linux the
// order is unchanged: config, key, and the service last.
func TestSetupOrderServiceBeforeKey(t *testing.T) {
	for _, tc := range []struct {
		name               string
		goos               string
		installed, running bool
		stale, rerun       bool
		want               []string
		wantEvent          string
	}{
		{name: "windows, nothing yet", goos: "windows", want: []string{"config", "install", "start", "key generate"}, wantEvent: "installed and started"},
		{name: "windows, installed but stopped", goos: "windows", installed: true, want: []string{"config", "start", "key generate"}, wantEvent: "already installed and started"},
		{name: "windows, stopped after the key", goos: "windows", installed: true, running: true, rerun: true, want: []string{"config"}, wantEvent: "already installed and running"},
		{name: "windows, running with an old config", goos: "windows", installed: true, running: true, stale: true, want: []string{"config", "restart", "key generate"}, wantEvent: "already installed and restarted (to load the new config)"},
		{name: "linux: the service comes last", goos: "linux", want: []string{"config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &orderLog{}
			var events []Event
			svc := &fakeService{installed: tc.installed, running: tc.running, stale: tc.stale}
			a, open := orderActions(t, tc.goos, svc, log, &events)
			if tc.rerun { // the key was stored by a setup that stopped later
				ks, _ := open()
				if _, err := ks.(*handoverStore).Store.Generate(context.Background(), "maskinporten", 2048); err != nil {
					t.Fatal(err)
				}
			}
			_, k, err := a.SaveConfigAndKey(context.Background(), open, KeyStep{Name: "maskinporten", Source: KeyGenerate})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.goos == "linux" {
				want = append(want, "key generate")
			}
			if got := log.get(); !slices.Equal(got, want) {
				t.Fatalf("steps %v, want %v", got, want)
			}
			if k.New == tc.rerun {
				t.Errorf("key new = %v on a %s run", k.New, map[bool]string{true: "second", false: "first"}[tc.rerun])
			}
			if tc.wantEvent != "" && !slices.ContainsFunc(events, func(e Event) bool {
				return e.Step == StepService && e.Status == StatusDone && strings.Contains(e.Message, tc.wantEvent)
			}) {
				t.Errorf("no service event saying %q: %+v", tc.wantEvent, events)
			}
			// The last step: Windows keeps the installed service (installing again is an error there) and
			// restarts it for the new config; Linux installs (rewriting the unit) and starts it.
			if err := a.InstallService(); err != nil {
				t.Fatalf("the service step after the key: %v", err)
			}
			last := log.get()[len(want):]
			wantLast := map[string][]string{"windows": {"restart"}, "linux": {"install", "start"}}[tc.goos]
			if !slices.Equal(last, wantLast) {
				t.Errorf("the service step did %v, want %v", last, wantLast)
			}
		})
	}
}

// TestSetupNoServiceOnWindowsSaysWhy: with --no-service on Windows (keyring) and no service answering on
// the hand-over, setup stops at the service with the fix, and no key is made anywhere.
func TestSetupNoServiceOnWindowsSaysWhy(t *testing.T) {
	log := &orderLog{}
	var events []Event
	svc := &fakeService{}
	a, open := orderActions(t, "windows", svc, log, &events)
	a.Service = nil
	_, _, err := a.SaveConfigAndKey(context.Background(), open, KeyStep{Name: "maskinporten", Source: KeyGenerate})
	if err == nil || !strings.Contains(err.Error(), "--no-service") || !strings.Contains(err.Error(), "agent service install") {
		t.Fatalf("got %v; want the refusal naming --no-service and agent service install", err)
	}
	if got := log.get(); !slices.Equal(got, []string{"config"}) {
		t.Errorf("steps %v: nothing but the config may happen", got)
	}
}

// TestSetupServiceNotAnsweringGivesUp: a service that starts but never answers on its hand-over makes
// the step fail after the wait, saying where to look; an answer other than "not there" is not waited out.
func TestSetupServiceNotAnsweringGivesUp(t *testing.T) {
	log := &orderLog{}
	var events []Event
	svc := &fakeService{}
	a, _ := orderActions(t, "windows", svc, log, &events)
	a.HandoverWait = 300 * time.Millisecond
	never := &handoverStore{Store: keystore.NewMemory(), svc: &fakeService{}, log: log} // its service never runs
	_, _, err := a.SaveConfigAndKey(context.Background(), func() (keystore.Store, error) { return never, nil },
		KeyStep{Name: "maskinporten", Source: KeyGenerate})
	if err == nil || !strings.Contains(err.Error(), "does not answer on its key hand-over") || !errors.Is(err, keystore.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
	if slices.Contains(log.get(), "key generate") {
		t.Error("a key was made although the service never answered")
	}
}
