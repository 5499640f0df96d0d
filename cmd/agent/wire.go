package main

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// loadConfig loads and validates the config file named by --config. (Being wired by the lead.)
func loadConfig(c *common) (*config.Config, error) {
	return nil, errors.New("loadConfig: not wired yet")
}

// stateDirOf is --state-dir, or the config file's directory.
func stateDirOf(c *common) string {
	if c.stateDir != "" {
		return c.stateDir
	}
	return filepath.Dir(c.config)
}

// openKeyStore opens the key store backend the config names. (Being wired by the lead.)
func openKeyStore(cfg *config.Config) (keystore.Store, error) {
	return nil, errors.New("openKeyStore: not wired yet")
}

// tokenSource builds the cached Maskinporten/Altinn token source for cfg with the key from ks.
// (Being wired by the lead.)
func tokenSource(ctx context.Context, cfg *config.Config, ks keystore.Store) (tokens.Source, error) {
	return nil, errors.New("tokenSource: not wired yet")
}
