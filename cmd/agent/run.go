package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

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
	log := slog.New(installer.ServiceLogHandler(inService, cfg.Log.Handler(e.stderr)))
	if hardenErr != nil {
		log.Warn("could not harden the process (core dumps, ptrace)", "err", hardenErr)
	}
	if err := setup.StartChecks(c.config, stateDirOf(&c), time.Now(), log); err != nil {
		return err
	}
	ks, err := setup.OpenKeyStore(cfg.Maskinporten.Key, inService, os.Getenv("CREDENTIALS_DIRECTORY"))
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
	signer, kid, err := setup.ServiceKey(ctx, cfg, ks, inService, log)
	if err != nil {
		return err
	}
	client, err := setup.TokenClient(cfg, signer, kid, nil, log)
	if err != nil {
		return err
	}
	cache := setup.TokenCache(cfg, client, log)
	srv, err := agent.New(agent.Options{Config: cfg, Tokens: cache, Logger: log, Registry: prometheus.NewRegistry(),
		Ready: func(context.Context) error { return setup.Ready(cfg, stateDir) }})
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
