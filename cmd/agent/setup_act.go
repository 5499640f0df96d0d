package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// act carries out a plan with the steps of package setup: config → key → system → requests → approval →
// first token → caller credentials → service (on Windows with the keyring backend the service comes
// before the key: setup.SaveConfigAndKey). Each step is idempotent, so a run stopped anywhere
// resumes on the next. Here are only the prompts and the printing.
func (w *wizard) act(ctx context.Context, p *wizardPlan) error {
	out := newWizardProgress(w.e, w.c.json, time.Now)
	defer out.stop()
	err := w.steps(ctx, p, out)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("stopped; what was done is saved (config %s, the key, the state in %s): run `agent setup` again to resume: %w",
			w.c.config, stateDirOf(w.c), ctx.Err())
	}
	if shown := out.lastFailed(); err != nil && shown != "" && strings.Contains(err.Error(), shown) {
		return shownError{err} // its ✗ line said why: not twice
	}
	return err
}

// shownError is a setup error whose reason a ✗ progress line already printed; report says only that.
type shownError struct{ error }

func (e shownError) Unwrap() error { return e.error }
func (shownError) Error() string {
	return "stopped at the ✗ step above: fix what it says, then run `agent setup` again (finished steps are skipped)"
}

func (w *wizard) steps(ctx context.Context, p *wizardPlan, out *wizardProgress) error {
	cfg := p.cfg
	a := &setup.Actions{ConfigPath: w.c.config, Config: cfg, Events: out.event}
	if p.installService {
		o, err := serviceOptions(w.c, w.f.serviceUser)
		if err != nil {
			return a.Failed(setup.StepConfig, err)
		}
		a.Service = &o
	}
	in := setup.KeyInput{File: p.keyFile, Stdin: w.e.stdin, PasswordFile: w.f.keyPasswordFile, Hint: "--key-password-file"}
	if w.a.mode == modeInteractive {
		in.Prompt = func(ctx context.Context) ([]byte, error) {
			return w.a.secret(ctx, "Key password", "The key file is encrypted.")
		}
	}
	// On Windows the service is installed and started before the key, which it keeps in its own vault.
	ks, k, err := a.SaveConfigAndKey(ctx, func() (keystore.Store, error) { return openKeyStore(cfg) },
		setup.KeyStep{Name: cfg.Maskinporten.Key.Name, KID: cfg.Maskinporten.KID, Source: p.keySource, Input: in})
	if err != nil {
		return err
	}
	if err := w.keyStep(ctx, ks.Backend(), p, k, out); err != nil {
		return err
	}
	src, err := setup.TokenSource(ctx, cfg, ks)
	if err != nil {
		return a.Failed(setup.StepKey, err)
	}
	s, err := setup.New(cfg, stateDirOf(w.c), ks, src, nil, out.event)
	if err != nil {
		return err
	}
	o := setup.Options{Wait: !w.f.noWait, NewRequest: w.f.newRequest}
	o.WaitOptions.Interval, o.WaitOptions.MaxInterval = w.f.pollInterval, w.f.maxPollInterval
	if _, err = s.Run(ctx, o); err != nil {
		return exitFor(err)
	}
	if err := a.Callers(p.secrets); err != nil {
		return err
	}
	if err := a.InstallService(); err != nil {
		return err
	}
	w.summary(p, out, map[bool]string{false: setup.NextStep(cfg.Listen, w.c.config, stateDirOf(w.c))}[p.installService])
	return nil
}

// keyStep reports the key. A new key's public JWK is shown to register on the Maskinporten client; on a
// terminal the wizard waits for that.
func (w *wizard) keyStep(ctx context.Context, backend string, p *wizardPlan, k setup.KeyResult, out *wizardProgress) error {
	cfg := p.cfg
	name := cfg.Maskinporten.Key.Name
	msg := fmt.Sprintf("key %q is in the %s key store (kept)", name, backend)
	if k.New {
		msg = fmt.Sprintf("key %q %s in the %s key store", name, map[string]string{setup.KeyGenerate: "generated", setup.KeyImport: "imported"}[p.keySource], backend)
	}
	out.event(setup.Event{Step: setup.StepKey, Status: setup.StatusDone, Message: msg,
		Detail: map[string]string{"kid": k.KID, "public_jwk": string(k.PublicJWK), "new": fmt.Sprint(k.New)}})
	if reg, err := setup.RegisterOnSandbox(ctx, cfg, k.PublicJWK); err != nil {
		return (&setup.Actions{Events: out.event}).Failed(setup.StepKey, err)
	} else if reg != nil {
		out.event(setup.Event{Step: setup.StepKey, Status: setup.StatusDone, Message: reg.String()})
		return nil
	}
	if !k.New || w.c.json {
		return nil
	}
	what := "Register this public key"
	if p.keySource == setup.KeyImport {
		what = "Unless it is there already, register the imported key's public key"
	}
	fmt.Fprintf(w.e.stdout, "\n%s on the Maskinporten client %s (Samarbeidsportalen → the client → Keys):\n\n%s\n\n",
		what, cfg.Maskinporten.ClientID, k.PublicJWK)
	if w.a.mode != modeInteractive {
		return nil
	}
	fmt.Fprint(w.e.stderr, "Press Enter once the key is registered (Ctrl-C stops; `agent setup` resumes) > ")
	_, err := w.a.in.read(ctx, false)
	return err
}

// summary says where tokens are served (or, with no service, what serves them: next) and how a caller
// gets one, with no secret on a command line.
func (w *wizard) summary(p *wizardPlan, out *wizardProgress, next string) {
	url := "http://" + p.cfg.Listen + "/oauth2/token"
	out.event(setup.Event{Step: setup.StepDone, Status: setup.StatusDone, Message: cmp.Or(next, "set up: tokens are served at "+url),
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
