package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// maxKeyFile bounds how much of a key file (or stdin) an import reads.
const maxKeyFile = 1 << 20

// act carries out a plan: config → key → system → requests → approval → first token → caller
// credentials → service. Each step is idempotent, so a run stopped anywhere resumes on the next.
func (w *wizard) act(ctx context.Context, p *wizardPlan) error {
	out := newWizardProgress(w.e, w.c.json, time.Now)
	defer out.stop()
	err := w.steps(ctx, p, out)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("stopped; what was done is saved (config %s, the key, the state in %s): run `agent setup` again to resume: %w",
			w.c.config, stateDirOf(w.c), ctx.Err())
	}
	return err
}

func (w *wizard) steps(ctx context.Context, p *wizardPlan, out *wizardProgress) error {
	cfg := p.cfg
	if err := w.saveConfig(p, out); err != nil {
		return err
	}
	ks, err := openKeyStore(cfg)
	if err != nil {
		return w.failed(out, setup.StepKey, fmt.Errorf("open the %s key store: %w", cfg.Maskinporten.Key.Backend, err))
	}
	if err := w.keyStep(ctx, ks, p, out); err != nil {
		return err
	}
	src, err := tokenSource(ctx, cfg, ks)
	if err != nil {
		return w.failed(out, setup.StepKey, err)
	}
	s, err := newSetup(cfg, stateDirOf(w.c), ks, src, nil, out.event)
	if err != nil {
		return err
	}
	_, err = s.Run(ctx, setup.Options{Wait: !w.f.noWait, NewRequest: w.f.newRequest,
		WaitOptions: registry.WaitOptions{Interval: w.f.pollInterval, MaxInterval: w.f.maxPollInterval}})
	if err != nil {
		return exitFor(err)
	}
	if err := w.callersStep(p, out); err != nil {
		return err
	}
	if err := w.serviceStep(p, out); err != nil {
		return err
	}
	w.summary(p, out)
	return nil
}

// failed reports a wizard step's failure as an event and returns err.
func (w *wizard) failed(out *wizardProgress, step string, err error) error {
	out.event(setup.Event{Step: step, Status: setup.StatusFailed, Message: err.Error()})
	return err
}

// saveConfig writes the (complete, valid) config atomically: the old file stays until then.
func (w *wizard) saveConfig(p *wizardPlan, out *wizardProgress) error {
	path := w.c.config
	if p.installService {
		o, err := serviceOptions(w.c, w.f.serviceUser)
		if err != nil {
			return w.failed(out, stepConfig, err)
		}
		if err := installer.EnsureDirs(o); err != nil {
			return w.failed(out, stepConfig, err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return w.failed(out, stepConfig, fmt.Errorf("create the config directory: %w", err))
	}
	if err := config.Save(path, p.cfg); err != nil {
		return w.failed(out, stepConfig, err)
	}
	if p.installService {
		// The service gets the file as a systemd credential; nobody else needs to read it (D19).
		if err := os.Chmod(path, 0o600); err != nil {
			return w.failed(out, stepConfig, err)
		}
	}
	out.event(setup.Event{Step: stepConfig, Status: setup.StatusDone, Message: "saved " + path})
	return nil
}

// keyStep makes sure the key is in the key store: kept if there, else generated or imported. A new key's
// public JWK is shown to register on the Maskinporten client; on a terminal the wizard waits for that.
func (w *wizard) keyStep(ctx context.Context, ks keystore.Store, p *wizardPlan, out *wizardProgress) error {
	cfg := p.cfg
	name := cfg.Maskinporten.Key.Name
	signer, made, err := w.ensureKey(ctx, ks, p)
	if err != nil {
		return w.failed(out, setup.StepKey, err)
	}
	kid := cfg.Maskinporten.KID
	if kid == "" {
		if kid, err = keystore.Thumbprint(signer.Public()); err != nil {
			return w.failed(out, setup.StepKey, err)
		}
	}
	jwk, err := keystore.PublicJWK(signer.Public(), kid)
	if err != nil {
		return w.failed(out, setup.StepKey, err)
	}
	msg := fmt.Sprintf("key %q is in the %s key store (kept)", name, ks.Backend())
	if made {
		msg = fmt.Sprintf("key %q %s in the %s key store", name, map[string]string{keyGenerate: "generated", keyImport: "imported"}[p.keySource], ks.Backend())
	}
	out.event(setup.Event{Step: setup.StepKey, Status: setup.StatusDone, Message: msg,
		Detail: map[string]string{"kid": kid, "public_jwk": string(jwk), "new": fmt.Sprint(made)}})
	if !made || w.c.json {
		return nil
	}
	what := "Register this public key"
	if p.keySource == keyImport {
		what = "Unless it is there already, register the imported key's public key"
	}
	fmt.Fprintf(w.e.stdout, "\n%s on the Maskinporten client %s (Samarbeidsportalen → the client → Keys):\n\n%s\n\n",
		what, cfg.Maskinporten.ClientID, jwk)
	if w.a.mode != modeInteractive {
		return nil
	}
	fmt.Fprint(w.e.stderr, "Press Enter once the key is registered (Ctrl-C stops; `agent setup` resumes) > ")
	_, err = w.a.in.read(ctx, false)
	return err
}

// ensureKey returns the stored key, generating or importing it when missing; made says it is new.
func (w *wizard) ensureKey(ctx context.Context, ks keystore.Store, p *wizardPlan) (crypto.Signer, bool, error) {
	name := p.cfg.Maskinporten.Key.Name
	existing, err := ks.Signer(ctx, name)
	if err != nil && !errors.Is(err, keystore.ErrNotFound) {
		return nil, false, fmt.Errorf("read key %q from the %s key store: %w", name, ks.Backend(), err)
	}
	if p.keySource == keyImport {
		imported, err := w.readImport(ctx, p.keyFile)
		if err != nil {
			return nil, false, err
		}
		if existing != nil {
			if pub, ok := existing.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(imported.Public()) {
				return existing, false, nil
			}
			return nil, false, fmt.Errorf("another key named %q is already in the %s key store: delete it first (`agent keys delete %s`) or give --key-name another name",
				name, ks.Backend(), name)
		}
		if err := ks.Put(ctx, name, imported); err != nil {
			return nil, false, fmt.Errorf("store the imported key as %q: %w", name, err)
		}
		return imported, true, nil
	}
	if existing != nil {
		return existing, false, nil
	}
	s, err := ks.Generate(ctx, name, 2048)
	if err != nil {
		return nil, false, fmt.Errorf("generate key %q in the %s key store: %w", name, ks.Backend(), err)
	}
	return s, true, nil
}

// readImport reads and parses the key to import; the password comes from --key-password-file or a
// no-echo prompt, never a flag value. The raw bytes are wiped after parsing.
func (w *wizard) readImport(ctx context.Context, path string) (crypto.Signer, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(w.e.stdin, maxKeyFile))
	} else {
		data, err = readBoundedFile(path, maxKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read the key to import: %w", err)
	}
	defer keystore.Wipe(data)
	key, err := keystore.ParsePrivateKey(data, nil)
	if !errors.Is(err, keystore.ErrPasswordNeeded) {
		return key, err
	}
	var pw []byte
	switch {
	case w.f.keyPasswordFile != "":
		if pw, err = readBoundedFile(w.f.keyPasswordFile, 4096); err != nil {
			return nil, fmt.Errorf("read --key-password-file: %w", err)
		}
		trimmed := []byte(strings.TrimRight(string(pw), "\r\n"))
		keystore.Wipe(pw)
		pw = trimmed
	case w.a.mode == modeInteractive:
		if pw, err = w.a.secret(ctx, "Key password", "The key file is encrypted."); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("the key file is encrypted: give its password in a file with --key-password-file: %w", err)
	}
	defer keystore.Wipe(pw)
	return keystore.ParsePrivateKey(data, pw)
}

func readBoundedFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		keystore.Wipe(b)
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, err
}

// callersStep gives every caller its secret file: new secrets are written; a kept caller whose file
// is gone or no longer matches gets a new secret (the config is saved again with its digest).
func (w *wizard) callersStep(p *wizardPlan, out *wizardProgress) error {
	cfg := p.cfg
	changed := false
	for i := range cfg.Clients {
		cl := &cfg.Clients[i]
		s := p.secrets[cl.ID]
		if s == nil {
			if cl.SecretFile == "" {
				out.event(setup.Event{Step: stepCallers, Status: setup.StatusSkipped, Message: fmt.Sprintf("caller %s: no secret file recorded (its secret was shown once); `agent clients rotate %s` makes a new one", cl.ID, cl.ID)})
				continue
			}
			ok, err := secretFileMatches(cl.SecretFile, cl.SecretSHA256)
			if err != nil {
				return w.failed(out, stepCallers, err)
			}
			if ok {
				out.event(setup.Event{Step: stepCallers, Status: setup.StatusDone, Message: fmt.Sprintf("caller %s: secret file %s in place", cl.ID, cl.SecretFile)})
				continue
			}
			if s, err = makeCallerSecret(); err != nil {
				return w.failed(out, stepCallers, err)
			}
			cl.SecretSHA256, changed = s.digest(), true
		}
		if err := writeSecretFile(cl.SecretFile, cl.OSUser, s, true); err != nil {
			return w.failed(out, stepCallers, fmt.Errorf("caller %s: %w", cl.ID, err))
		}
		out.event(setup.Event{Step: stepCallers, Status: setup.StatusDone,
			Message: fmt.Sprintf("caller %s: secret written to %s, readable only by %s", cl.ID, cl.SecretFile, cl.OSUser)})
	}
	if changed {
		if err := config.Save(w.c.config, cfg); err != nil {
			return w.failed(out, stepCallers, err)
		}
	}
	return nil
}

// serviceStep installs and (re)starts the OS service, unless --no-service.
func (w *wizard) serviceStep(p *wizardPlan, out *wizardProgress) error {
	if !p.installService {
		out.event(setup.Event{Step: stepService, Status: setup.StatusSkipped, Message: "not installed (install later with `agent service install`, or run `agent run`)"})
		return nil
	}
	o, err := serviceOptions(w.c, w.f.serviceUser)
	if err != nil {
		return w.failed(out, stepService, err)
	}
	if k := p.cfg.Maskinporten.Key; k.Backend == config.BackendSystemdCreds {
		o.Credential = &installer.Credential{Name: keystore.SystemdCredName(k.Name), Path: keystore.SystemdCredPath(k.Path, k.Name)}
	}
	o.ListenPort = listenPort(p.cfg.Listen)
	inst, err := installer.New(o, nil)
	if err == nil {
		err = inst.Install()
	}
	if err != nil {
		return w.failed(out, stepService, fmt.Errorf("install the service: %w", err))
	}
	if err := inst.ManagerRunning(); err != nil {
		out.event(setup.Event{Step: stepService, Status: setup.StatusSkipped, Message: "installed, not started: " + err.Error()})
		return nil
	}
	st, _ := inst.Status()
	op, verb := inst.Start, "started"
	if st.State == installer.StateRunning {
		op, verb = inst.Restart, "restarted (to load the new config)"
	}
	if err := op(); err != nil {
		return w.failed(out, stepService, fmt.Errorf("start the service: %w", err))
	}
	out.event(setup.Event{Step: stepService, Status: setup.StatusDone, Message: fmt.Sprintf("%s installed and %s, running as %s", o.Name, verb, account(inst.Options()))})
	return nil
}

// summary says where tokens are served and how a caller gets one, with no secret on a command line.
func (w *wizard) summary(p *wizardPlan, out *wizardProgress) {
	url := "http://" + p.cfg.Listen + "/oauth2/token"
	out.event(setup.Event{Step: stepDone, Status: setup.StatusDone, Message: "set up: tokens are served at " + url,
		Detail: map[string]string{"token_url": url, "config": w.c.config}})
	if w.c.json {
		return
	}
	for _, cl := range p.cfg.Clients {
		if cl.SecretFile == "" {
			continue
		}
		fmt.Fprintf(w.e.stdout, "\nCaller %s gets a token (as %s) with:\n  printf 'user = \"%s:%%s\"\\n' \"$(cat %s)\" | curl -sS -K - -d grant_type=client_credentials %s\n",
			cl.ID, cl.OSUser, cl.ID, cl.SecretFile, url)
	}
}
