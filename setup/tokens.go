package setup

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// OpenKeyStore opens the key store k names (a config's maskinporten.key, or `agent keys --backend`).
// inService is true inside the running service, where systemd hands decrypted credentials over in
// credentialsDir ($CREDENTIALS_DIRECTORY: a path, not a secret) and the Windows keyring is the service
// account's own vault; outside it, Windows keys go to the service account that package installer names.
func OpenKeyStore(k config.KeyRef, inService bool, credentialsDir string) (keystore.Store, error) {
	return keystore.Open(keystore.Options{Backend: k.Backend, Dir: k.Path, AllowFile: k.Backend == keystore.BackendFile,
		InService: inService, CredentialsDir: credentialsDir, TPMDevice: k.Device, Thumbprint: k.Thumbprint,
		Handover: handoverEndpoint()})
}

// Signer reads the configured key and its kid (the configured one, or the RFC 7638 thumbprint).
func Signer(ctx context.Context, cfg *config.Config, ks keystore.Store) (crypto.Signer, string, error) {
	name := cfg.Maskinporten.Key.Name
	s, err := ks.Signer(ctx, name)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, "", fmt.Errorf("there is no Maskinporten key %q in the %s key store: %w; generate it with `agent keys generate` "+
			"and register the printed public key on the Maskinporten client, or import the registered one with `agent keys import` "+
			"(or run `agent setup`)", name, ks.Backend(), err)
	}
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

// TokenClient builds the uncached Maskinporten (and Altinn exchange) client for cfg. hc nil means the
// hardened upstream client of package tokens.
func TokenClient(cfg *config.Config, signer crypto.Signer, kid string, hc *http.Client, log *slog.Logger) (*tokens.Client, error) {
	ep, err := cfg.ResolvedEndpoints()
	if err != nil {
		return nil, err
	}
	var x5c [][]byte
	if cfg.Maskinporten.GrantHeader == config.GrantHeaderX5C {
		// An enterprise certificate: its chain goes in the grant instead of a kid.
		if x5c, kid = keystore.ChainDER(signer), ""; len(x5c) == 0 {
			return nil, fmt.Errorf("maskinporten.grant_header is x5c, but the key %q has no certificate chain: import the enterprise certificate with its key from the PKCS#12 file (agent keys import), or use grant_header: kid with a registered key", cfg.Maskinporten.Key.Name)
		}
	}
	if hc == nil {
		hc = tokens.NewHTTPClient(tokens.HTTPOptions{})
	}
	return tokens.NewClient(tokens.ClientOptions{
		Issuer: ep.MaskinportenIssuer, TokenURL: ep.MaskinportenToken, AltinnURL: ep.Altinn,
		ClientID: cfg.Maskinporten.ClientID, KeyID: kid, X5C: x5c, Signer: signer, HTTPClient: hc, Logger: log,
	})
}

// TokenCache wraps a client in the cache with the configured lifetimes.
func TokenCache(cfg *config.Config, src tokens.Source, log *slog.Logger) *tokens.Cache {
	return tokens.NewCache(src, tokens.CacheOptions{
		MinValidity: cfg.Tokens.MinValidity, RefreshAhead: cfg.Tokens.RefreshAhead, Logger: log,
	})
}

// TokenSource builds the cached Maskinporten/Altinn token source for cfg with the key from ks, for the
// CLI's commands (no logs).
func TokenSource(ctx context.Context, cfg *config.Config, ks keystore.Store) (tokens.Source, error) {
	signer, kid, err := Signer(ctx, cfg, ks)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	client, err := TokenClient(cfg, signer, kid, nil, log)
	if err != nil {
		return nil, err
	}
	return TokenCache(cfg, client, log), nil
}

// DebugToken gets one token for system user su of cfg (`agent token`); scopes nil means su's.
func DebugToken(ctx context.Context, cfg *config.Config, ks keystore.Store, su config.SystemUser, scopes []string, kind tokens.Kind) (tokens.Request, tokens.Token, error) {
	if scopes == nil {
		scopes = su.Scopes
	}
	src, err := TokenSource(ctx, cfg, ks)
	if err != nil {
		return tokens.Request{}, tokens.Token{}, err
	}
	req := tokens.Request{Scopes: scopes, Org: cfg.Organization, ExternalRef: su.ExternalRef, Kind: kind}
	tok, err := src.Token(ctx, req)
	return req, tok, err
}

// handoverEndpoint is the Windows key hand-over pipe of the service, with the one account the service
// runs as: the installed service's account as the service manager records it (install may have been given
// --service-user), else the installer's default (installer owns the name; keystore receives it).
func handoverEndpoint() keystore.HandoverEndpoint {
	acct := installer.ServiceAccount(installer.Options{Name: installer.DefaultName})
	if a, err := installer.InstalledAccount(installer.DefaultName); err == nil && a != "" {
		acct = a
	}
	return keystore.HandoverEndpoint{Account: laneAccount(acct)}
}
