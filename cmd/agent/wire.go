package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// loadConfig loads and validates the config file named by --config.
func loadConfig(c *common) (*config.Config, error) {
	cfg, err := config.Load(c.config)
	if err != nil {
		return nil, fmt.Errorf("%w\n(the configuration is documented in config.example.yaml)", err)
	}
	return cfg, nil
}

// stateDirOf is --state-dir, or the directory the installed service uses (installer.ServiceStateDir), so
// state the CLI writes is the state the service reads.
func stateDirOf(c *common) string {
	if c.stateDir != "" {
		return c.stateDir
	}
	return installer.ServiceStateDir()
}

// openKeyStore opens the key store backend the config names, as the CLI (outside the service).
func openKeyStore(cfg *config.Config) (keystore.Store, error) {
	return setup.OpenKeyStore(cfg, false, os.Getenv("CREDENTIALS_DIRECTORY"))
}

// newLogger builds the logger the config asks for, writing to w.
func newLogger(w io.Writer, l config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
