package setup

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// keyPollInterval is how often the service looks for a key that is not there yet (Windows hand-over).
const keyPollInterval = 5 * time.Second

// ServiceKey reads the key and its kid for the token service. From a terminal a missing key is an error
// at once; the service waits for it, logging what to do. Inside the Windows service it first serves the
// key hand-over pipe (reloads.Handover, else the installed service's) until ctx ends: reloads arrive on it
// (reloads; nil: none), and with the keyring backend keys too, which reach the service account's own
// vault that way (keystore/doc.go). The service owns ks from here: it is closed (the tpm2 backend's TPM
// connection) when ctx ends.
func ServiceKey(ctx context.Context, cfg *config.Config, ks keystore.Store, inService bool, log *slog.Logger, reloads *Reloads) (crypto.Signer, string, error) {
	context.AfterFunc(ctx, func() { _ = keystore.Close(ks) })
	if inService && runtime.GOOS == "windows" {
		h := &keystore.HandoverServer{Log: log}
		if cfg.Maskinporten.Key.Backend == keystore.BackendKeyring {
			h.Store = ks
		}
		ep := handoverEndpoint()
		if reloads != nil {
			h.Reloader = reloads
			if reloads.Handover != (keystore.HandoverEndpoint{}) {
				ep = reloads.Handover
			}
		}
		go serveHandover(ctx, func() (net.Listener, error) { return keystore.ListenHandoverAt(ep) }, h, keyPollInterval)
	}
	warned := false
	for {
		signer, kid, err := Signer(ctx, cfg, ks)
		if err == nil || !inService || !errors.Is(err, keystore.ErrNotFound) {
			return signer, kid, err
		}
		if !warned {
			log.Warn("no Maskinporten key yet; waiting for one", "backend", ks.Backend(),
				"fix", "run \"agent keys generate\" or \"agent keys import\" as administrator")
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(keyPollInterval):
		}
	}
}

// serveHandover serves the key hand-over on the listeners listen opens until ctx ends. A pipe it cannot
// open (another program holding the name) or a listener that fails is logged with the fix and tried again
// after wait: the hand-over is how keys arrive, but the service keeps serving tokens with the key it has.
func serveHandover(ctx context.Context, listen func() (net.Listener, error), h *keystore.HandoverServer, wait time.Duration) {
	log := h.Log
	for ctx.Err() == nil {
		ln, err := listen()
		if err == nil {
			err = h.Serve(ctx, ln)
		}
		if ctx.Err() != nil {
			return
		}
		log.Error("the key hand-over pipe is not served; retrying", "err", err, "retry_in", wait,
			"fix", "stop the program holding the pipe's name (or a second agent), then keys generate/import work again")
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// Ready is the token service's readiness check on saved state: every configured system user accepted.
// The sandbox environment has no onboarding to wait for and is always ready.
func Ready(cfg *config.Config, stateDir string) error {
	if cfg.Environment == config.EnvSandbox {
		return nil
	}
	st, err := config.LoadState(stateDir)
	if err != nil {
		return err
	}
	if pending := st.Unaccepted(cfg.SystemUsers); len(pending) > 0 {
		return fmt.Errorf("system user(s) %s not accepted yet: run \"agent request status\"", strings.Join(pending, ", "))
	}
	return nil
}

// SystemUserIDs returns the lookup the token service's introspection uses (agent.Options.SystemUserID):
// the Altinn id of a configured system user, read from the state file in stateDir at each call, so an
// approval that lands while the service runs shows at once; "" while the system user has no id (or the
// state cannot be read). Introspection is rare, and a state file is small.
func SystemUserIDs(stateDir string) func(name string) string {
	return func(name string) string {
		st, err := config.LoadState(stateDir)
		if err != nil {
			return ""
		}
		return st.SystemUsers[name].SystemUserID
	}
}
