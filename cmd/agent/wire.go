package main

import (
	"fmt"
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
	return setup.OpenKeyStore(cfg.Maskinporten.Key, false, os.Getenv("CREDENTIALS_DIRECTORY"))
}
