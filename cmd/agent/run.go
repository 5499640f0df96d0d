package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

func cmdRun(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags(e, "run", &c)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	cfg, err := loadConfig(&c)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.Log)
	if err := agent.HardenProcess(); err != nil {
		log.Warn("could not harden the process (core dumps, ptrace)", "err", err)
	}
	ks, err := openKeyStore(cfg)
	if err != nil {
		return err
	}
	signer, kid, err := signerOf(ctx, cfg, ks)
	if err != nil {
		return err
	}
	client, err := newTokenClient(cfg, signer, kid, tokens.NewHTTPClient(tokens.HTTPOptions{}), log)
	if err != nil {
		return err
	}
	cache := newTokenCache(cfg, client, log)
	stateDir := stateDirOf(&c)
	srv, err := agent.New(agent.Options{Config: cfg, Tokens: cache, Logger: log,
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
	return runAsService(ctx, e, c.config, func(ctx context.Context) error { return srv.Run(ctx, ln) })
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
	var pending []string
	for _, su := range cfg.SystemUsers {
		if s, ok := st.SystemUsers[su.Name]; !ok || !strings.EqualFold(s.Status, "Accepted") {
			pending = append(pending, su.Name)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("system user(s) %s not accepted yet: run \"agent request status\"", strings.Join(pending, ", "))
	}
	return nil
}
