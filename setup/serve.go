package setup

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// keyPollInterval is how often the service looks for a key that is not there yet (Windows hand-over).
const keyPollInterval = 5 * time.Second

// ServiceKey reads the key and its kid for the token service. From a terminal a missing key is an error
// at once; the service waits for it, logging what to do. Inside the Windows service with the keyring
// backend it first serves the key hand-over pipe, through which keys reach the service account's own
// vault (keystore/doc.go), until ctx ends.
func ServiceKey(ctx context.Context, cfg *config.Config, ks keystore.Store, inService bool, log *slog.Logger) (crypto.Signer, string, error) {
	if inService && runtime.GOOS == "windows" && cfg.Maskinporten.Key.Backend == keystore.BackendKeyring {
		ln, err := keystore.ListenHandoverAt(handoverEndpoint())
		if err != nil {
			return nil, "", fmt.Errorf("open the key hand-over pipe: %w", err)
		}
		go func() {
			if err := keystore.ServeHandover(ctx, ln, ks, log); err != nil && ctx.Err() == nil {
				log.Error("key hand-over stopped", "err", err)
			}
		}()
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
