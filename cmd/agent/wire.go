package main

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// loadConfig loads and validates the config file named by --config.
func loadConfig(c *common) (*config.Config, error) {
	cfg, err := config.Load(c.config)
	if err != nil {
		return nil, fmt.Errorf("%w\n(the configuration is documented in config.example.yaml)", err)
	}
	return cfg, nil
}

// stateDirOf is --state-dir, or the directory the installed service uses (installer.DefaultStateDir), so
// state the CLI writes is the state the service reads.
func stateDirOf(c *common) string {
	if c.stateDir != "" {
		return c.stateDir
	}
	if runtime.GOOS == "windows" {
		return `C:\ProgramData\systemuser-agent\state`
	}
	return installer.DefaultStateDir
}

// openKeyStore opens the key store backend the config names, as the CLI (outside the service).
func openKeyStore(cfg *config.Config) (keystore.Store, error) { return openKeyStoreAs(cfg, false) }

// openKeyStoreAs opens the configured backend; inService is true inside the running service, where
// systemd hands decrypted credentials over in $CREDENTIALS_DIRECTORY (a path, not a secret) and the
// Windows keyring is the service account's own vault.
func openKeyStoreAs(cfg *config.Config, inService bool) (keystore.Store, error) {
	k := cfg.Maskinporten.Key
	return keystore.Open(keystore.Options{Backend: k.Backend, Dir: k.Path, AllowFile: k.Backend == keystore.BackendFile,
		InService: inService, CredentialsDir: os.Getenv("CREDENTIALS_DIRECTORY")})
}

// signerOf reads the configured key and its kid (the configured one, or the RFC 7638 thumbprint).
func signerOf(ctx context.Context, cfg *config.Config, ks keystore.Store) (crypto.Signer, string, error) {
	name := cfg.Maskinporten.Key.Name
	s, err := ks.Signer(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("read the Maskinporten key %q from the %s key store: %w", name, ks.Backend(), err)
	}
	kid := cfg.Maskinporten.KID
	if kid == "" {
		if kid, err = keystore.Thumbprint(s.Public()); err != nil {
			return nil, "", err
		}
	}
	return s, kid, nil
}

// newTokenClient builds the uncached Maskinporten (and Altinn exchange) client for cfg.
func newTokenClient(cfg *config.Config, signer crypto.Signer, kid string, hc *http.Client, log *slog.Logger) (*tokens.Client, error) {
	ep, err := cfg.ResolvedEndpoints()
	if err != nil {
		return nil, err
	}
	return tokens.NewClient(tokens.ClientOptions{
		Issuer: ep.MaskinportenIssuer, TokenURL: ep.MaskinportenToken, AltinnURL: ep.Altinn,
		ClientID: cfg.Maskinporten.ClientID, KeyID: kid, Signer: signer, HTTPClient: hc, Logger: log,
	})
}

// newTokenCache wraps a client in the cache with the configured lifetimes.
func newTokenCache(cfg *config.Config, src tokens.Source, log *slog.Logger) *tokens.Cache {
	return tokens.NewCache(src, tokens.CacheOptions{
		MinValidity: cfg.Tokens.MinValidity, RefreshAhead: cfg.Tokens.RefreshAhead, Logger: log,
	})
}

// tokenSource builds the cached Maskinporten/Altinn token source for cfg with the key from ks.
func tokenSource(ctx context.Context, cfg *config.Config, ks keystore.Store) (tokens.Source, error) {
	signer, kid, err := signerOf(ctx, cfg, ks)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	client, err := newTokenClient(cfg, signer, kid, tokens.NewHTTPClient(tokens.HTTPOptions{}), log)
	if err != nil {
		return nil, err
	}
	return newTokenCache(cfg, client, log), nil
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
