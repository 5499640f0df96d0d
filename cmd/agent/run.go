package main

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/peer"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

func cmdRun(ctx context.Context, e *env, args []string) (err error) {
	defer func() { installer.ReportFailure(installer.EventSource(), err) }() // the SCM drops stderr
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
	level := new(slog.LevelVar) // a reload changes it
	log := slog.New(installer.ServiceLogHandler(inService, cfg.Log.LevelHandler(e.stderr, level)))
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
		return serveTokens(ctx, cfg, service{configPath: c.config, stateDir: stateDirOf(&c), ks: ks, inService: inService, log: log, level: level})
	})
}

// service is what the service body is given besides the configuration.
type service struct {
	configPath, stateDir string
	ks                   keystore.Store
	inService            bool
	log                  *slog.Logger
	level                *slog.LevelVar
	handover             keystore.HandoverEndpoint // the Windows hand-over pipe; zero: the installed service's
}

// serveTokens is the service body until ctx ends; a reload request (SIGHUP) re-reads config and key.
func serveTokens(ctx context.Context, cfg *config.Config, sv service) error {
	log := sv.log
	reloads := &setup.Reloads{Handover: sv.handover}
	signer, kid, err := setup.ServiceKey(ctx, cfg, sv.ks, sv.inService, log, reloads)
	if err != nil {
		return err
	}
	client, err := setup.TokenClient(cfg, signer, kid, nil, log)
	if err != nil {
		return err
	}
	cache := setup.TokenCache(cfg, client, log)
	var cur atomic.Pointer[config.Config]
	cur.Store(cfg)
	srv, err := agent.New(agent.Options{Config: cfg, Tokens: cache, Logger: log, Registry: prometheus.NewRegistry(),
		Ready:    func(context.Context) error { return setup.Ready(cur.Load(), sv.stateDir) },
		LogLevel: sv.level, WatchInterval: agent.DefaultWatchInterval, Key: agent.KeyInfo(keystore.Describe(sv.ks)),
		SystemUserID: setup.SystemUserIDs(sv.stateDir)})
	if err != nil {
		return err
	}
	srv.SetKeyExpiry(kid, setup.KeyExpiry(sv.stateDir, kid))
	ln, err := agent.Listen(ctx, cfg.Listen)
	if err != nil {
		return err
	}
	attested, err := peer.Open(cfg.UnixSocket, cfg.NamedPipe, cfg.OSUsers()) // D10; a change needs a restart
	if err != nil {
		_ = ln.Close()
		return err
	}
	reloads.Serve(ctx, &setup.ReloadTarget{ConfigPath: sv.configPath, StateDir: sv.stateDir, KS: sv.ks, Server: srv, Client: client, Current: &cur, Log: log})
	log.Info("serving tokens", "listen", ln.Addr().String(), "environment", cfg.Environment,
		"client_id", cfg.Maskinporten.ClientID, "key_backend", sv.ks.Backend(), "kid", kid)
	return peer.Serve(ctx, srv.Run, append(attested, ln)...)
}
