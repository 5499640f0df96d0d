package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/setup"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// newSetup wires the onboarding steps for cfg: the registry talks to cfg's Altinn with src (the
// organisation's own token, no system user), the key step reads cfg's key from ks, and the token step
// gets system-user tokens from src. httpClient nil means the hardened upstream client of package tokens.
// `agent system`, `agent request`, `agent setup` and `agent demo` all use it.
func newSetup(cfg *config.Config, stateDir string, ks keystore.Store, src tokens.Source, httpClient *http.Client,
	events func(setup.Event)) (*setup.Setup, error) {
	if cfg == nil || ks == nil || src == nil {
		return nil, errors.New("newSetup: config, key store and token source are required (a bug in the caller)")
	}
	ep, err := cfg.ResolvedEndpoints()
	if err != nil {
		return nil, err
	}
	if httpClient == nil {
		httpClient = tokens.NewHTTPClient(tokens.HTTPOptions{})
	}
	keyName := cfg.Maskinporten.Key.Name
	return &setup.Setup{
		Config:   cfg,
		StateDir: stateDir,
		Registry: &registry.Client{BaseURL: ep.Altinn, HTTPClient: httpClient, Tokens: src},
		Tokens:   src,
		Signer: func(ctx context.Context) (crypto.Signer, error) {
			s, err := ks.Signer(ctx, keyName)
			if errors.Is(err, keystore.ErrNotFound) {
				return nil, fmt.Errorf("no key %q in the %s key store: run `agent keys generate` or `agent keys import` first: %w",
					keyName, ks.Backend(), err)
			}
			return s, err
		},
		Events: events,
	}, nil
}

// openSetup loads the config named by c and wires a Setup for it, printing events to w.
func openSetup(ctx context.Context, c *common, w io.Writer) (*setup.Setup, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	ks, err := openKeyStore(cfg)
	if err != nil {
		return nil, err
	}
	src, err := tokenSource(ctx, cfg, ks)
	if err != nil {
		return nil, err
	}
	return newSetup(cfg, stateDirOf(c), ks, src, nil, printEvents(w, c.json))
}

// printEvents returns an event sink: one JSON object per line with asJSON, else one line per step for
// people, with the confirm URL on its own line. Repeated polls that change nothing are not printed.
func printEvents(w io.Writer, asJSON bool) func(setup.Event) {
	var mu sync.Mutex
	lastPoll := map[string]string{}
	return func(ev setup.Event) {
		mu.Lock()
		defer mu.Unlock()
		if asJSON {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false) // confirm URLs keep their '&'
			_ = enc.Encode(ev)
			return
		}
		if ev.Step == setup.StepApproval && ev.Detail["polls"] != "" {
			now := ev.Detail["status"] + "/" + ev.Detail["escalated"]
			if lastPoll[ev.SystemUser] == now {
				return
			}
			lastPoll[ev.SystemUser] = now
		}
		if ev.Status == setup.StatusStart {
			return // the result line follows
		}
		who := ev.Step
		if ev.SystemUser != "" {
			who += " " + ev.SystemUser
		}
		fmt.Fprintf(w, "%-18s %-8s %s\n", who, ev.Status, ev.Message)
		if ev.ConfirmURL != "" && ev.Status == setup.StatusWaiting && ev.Detail["polls"] == "" {
			fmt.Fprintf(w, "%-18s %-8s approve at: %s\n", "", "", ev.ConfirmURL)
		}
	}
}

// exitFor maps an onboarding error to the CLI's exit codes: 3 while a request waits for approval.
func exitFor(err error) error {
	if errors.Is(err, setup.ErrWaiting) {
		return exitCodeError{code: exitWaiting, err: err}
	}
	return err
}
