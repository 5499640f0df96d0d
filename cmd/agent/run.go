package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// keyPollInterval is how often the service looks for a key that is not there yet (Windows hand-over).
const keyPollInterval = 5 * time.Second

func cmdRun(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags(e, "run", &c)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	hardenErr := agent.HardenProcess()
	cfg, err := loadConfig(&c)
	if err != nil {
		return err
	}
	inService := !installer.Interactive()
	log := runLogger(e, cfg, inService)
	if hardenErr != nil {
		log.Warn("could not harden the process (core dumps, ptrace)", "err", hardenErr)
	}
	ks, err := setup.OpenKeyStore(cfg, inService, os.Getenv("CREDENTIALS_DIRECTORY"))
	if err != nil {
		return err
	}
	// Everything that may wait (for a key, for requests) runs as the service body, so the service manager
	// sees a started service and a clean stop.
	return runAsService(ctx, e, c.config, func(ctx context.Context) error {
		return serveTokens(ctx, cfg, stateDirOf(&c), ks, inService, log)
	})
}

// serveTokens is the service body: key, token client and cache, local endpoint until ctx ends.
func serveTokens(ctx context.Context, cfg *config.Config, stateDir string, ks keystore.Store, inService bool, log *slog.Logger) error {
	if inService && runtime.GOOS == "windows" && cfg.Maskinporten.Key.Backend == keystore.BackendKeyring {
		// Windows: keys reach the service account's own vault through the service (keystore/doc.go).
		ln, err := keystore.ListenHandover()
		if err != nil {
			return fmt.Errorf("open the key hand-over pipe: %w", err)
		}
		go func() {
			if err := keystore.ServeHandover(ctx, ln, ks, log); err != nil && ctx.Err() == nil {
				log.Error("key hand-over stopped", "err", err)
			}
		}()
	}
	signer, kid, err := waitForKey(ctx, cfg, ks, inService, log)
	if err != nil {
		return err
	}
	client, err := setup.TokenClient(cfg, signer, kid, nil, log)
	if err != nil {
		return err
	}
	cache := setup.TokenCache(cfg, client, log)
	srv, err := agent.New(agent.Options{Config: cfg, Tokens: cache, Logger: log, Registry: prometheus.NewRegistry(),
		Ready: func(context.Context) error { return systemUsersAccepted(cfg, stateDir) }})
	if err != nil {
		return err
	}
	ln, err := agent.Listen(ctx, cfg.Listen)
	if err != nil {
		return err
	}
	log.Info("serving tokens", "listen", ln.Addr().String(), "environment", cfg.Environment,
		"client_id", cfg.Maskinporten.ClientID, "key_backend", ks.Backend(), "kid", kid)
	return srv.Run(ctx, ln)
}

// waitForKey reads the key. From a terminal a missing key is an error at once; the service waits for it
// (on Windows it arrives through the hand-over pipe), logging what to do.
func waitForKey(ctx context.Context, cfg *config.Config, ks keystore.Store, inService bool, log *slog.Logger) (crypto.Signer, string, error) {
	warned := false
	for {
		signer, kid, err := setup.Signer(ctx, cfg, ks)
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

// runLogger logs to stderr (journald under systemd), or to the Event Log under the Windows service.
func runLogger(e *env, cfg *config.Config, inService bool) *slog.Logger {
	if inService && runtime.GOOS == "windows" {
		if h, err := installer.EventLogHandler(installer.DefaultName); err == nil {
			return slog.New(h)
		}
	}
	return newLogger(e.stderr, cfg.Log)
}

// systemUsersAccepted is the readiness check on saved state: every configured system user accepted.
// The sandbox environment has no onboarding to wait for and is always ready.
func systemUsersAccepted(cfg *config.Config, stateDir string) error {
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
