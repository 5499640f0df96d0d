package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/jwks"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// OwnKeys are this server's public keys to register: the active key (with the configured kid, else its
// thumbprint) and, during a rotation, the next key (its thumbprint). The previous key of a finished
// rotation is left out: the set built from them retires it.
func OwnKeys(ctx context.Context, cfg *config.Config, ks keystore.Store) ([]jwks.Key, error) {
	signer, kid, err := Signer(ctx, cfg, ks)
	if err != nil {
		return nil, err
	}
	active, err := jwks.FromPublic(signer.Public(), kid)
	if err != nil {
		return nil, err
	}
	out := []jwks.Key{active}
	next, err := ks.Signer(ctx, keystore.NextName(cfg.Maskinporten.Key.Name))
	switch {
	case errors.Is(err, keystore.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read the next key of the rotation: %w", err)
	default:
		nkid, err := keystore.Thumbprint(next.Public())
		if err != nil {
			return nil, err
		}
		k, err := jwks.FromPublic(next.Public(), nkid)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// KeySet is the whole set to upload to the Maskinporten client: OwnKeys, then the other servers' public
// keys from maskinporten.other_keys_file (when set), each kid once, at most 5 (jwks.Merge). Uploading it
// never drops another server's key.
func KeySet(ctx context.Context, cfg *config.Config, ks keystore.Store) ([]jwks.Key, error) {
	own, err := OwnKeys(ctx, cfg, ks)
	if err != nil {
		return nil, err
	}
	var others []jwks.Key
	if f := cfg.Maskinporten.OtherKeysFile; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read maskinporten.other_keys_file %s: %w (each server's `agent keys jwks` prints its keys)", f, err)
		}
		if others, err = jwks.Parse(data); err != nil {
			return nil, fmt.Errorf("maskinporten.other_keys_file %s: %w", f, err)
		}
	}
	return jwks.Merge(own, others)
}

// AdminClient is the self-service API client of the configured admin client (maskinporten.admin). Its
// key is read from its own key store; it signs with kid (grant_header kid). hc nil means the hardened
// upstream client.
func AdminClient(ctx context.Context, cfg *config.Config, hc *http.Client) (*jwks.Client, error) {
	a := cfg.Maskinporten.Admin
	if !cfg.Maskinporten.HasAdmin() {
		return nil, errors.New("no admin client: set maskinporten.admin in the config, or upload the printed JWKS in Samarbeidsportalen")
	}
	if a.GrantHeader != config.GrantHeaderKID {
		return nil, errors.New("maskinporten.admin.grant_header x5c (the enterprise certificate) is not supported by `agent keys upload` yet: " +
			"use grant_header kid with a key registered on the admin client, or upload the printed JWKS by hand")
	}
	base, err := cfg.SelfServiceURL()
	if err != nil {
		return nil, fmt.Errorf("maskinporten.admin.self_service_url: %w", err)
	}
	ks, err := OpenKeyStore(a.Key, false, "")
	if err != nil {
		return nil, err
	}
	signer, err := ks.Signer(ctx, a.Key.Name)
	if err != nil {
		return nil, fmt.Errorf("read the admin client's key %q: %w", a.Key.Name, err)
	}
	kid := a.KID
	if kid == "" {
		if kid, err = keystore.Thumbprint(signer.Public()); err != nil {
			return nil, err
		}
	}
	ep, err := cfg.ResolvedEndpoints()
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = tokens.NewHTTPClient(tokens.HTTPOptions{})
	}
	tc, err := tokens.NewClient(tokens.ClientOptions{Issuer: ep.MaskinportenIssuer, TokenURL: ep.MaskinportenToken,
		ClientID: a.ClientID, KeyID: kid, Signer: signer, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	return &jwks.Client{BaseURL: base, HTTPClient: hc, Tokens: tc}, nil
}

// UploadKeys posts KeySet through the self-service API and records the expiry Maskinporten gives each of
// this server's keys in the state file. It returns the set as stored.
func UploadKeys(ctx context.Context, cfg *config.Config, ks keystore.Store, stateDir string, admin *jwks.Client, now time.Time) (*jwks.Set, error) {
	set, err := KeySet(ctx, cfg, ks)
	if err != nil {
		return nil, err
	}
	got, err := admin.Replace(ctx, cfg.Maskinporten.ClientID, set)
	if err != nil {
		return nil, err
	}
	own, _ := OwnKeys(ctx, cfg, ks)
	for _, k := range got.Keys {
		for _, o := range own {
			if o.Kid == k.Kid && !k.Expiry().IsZero() {
				if err := RecordKeyExpiry(stateDir, k.Kid, now, k.Expiry(), "self-service"); err != nil {
					return got, err
				}
			}
		}
	}
	return got, nil
}

// ConfirmUpload records, after a person confirmed uploading KeySet by hand, that this server's keys
// expire one year from now (Maskinporten's limit).
func ConfirmUpload(ctx context.Context, cfg *config.Config, ks keystore.Store, stateDir string, now time.Time) error {
	own, err := OwnKeys(ctx, cfg, ks)
	if err != nil {
		return err
	}
	for _, k := range own {
		if err := RecordKeyExpiry(stateDir, k.Kid, now, now.Add(jwks.Lifetime), "confirmed"); err != nil {
			return err
		}
	}
	return nil
}

// PublishKeys is `agent keys jwks` and `agent keys upload`: it writes the result to w (JSON, then a note
// for people). upload with an admin client posts the set and records the expiry read back; uploaded
// records that a person uploaded the printed set (expiry one year from now); otherwise it writes the set,
// with a note to upload it when upload was asked for without an admin client.
func PublishKeys(ctx context.Context, w io.Writer, cfg *config.Config, ks keystore.Store, stateDir string, upload, uploaded bool, now time.Time) error {
	v, note, err := publishKeys(ctx, cfg, ks, stateDir, upload, uploaded, now)
	if err == nil && v != nil {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(v)
	}
	if err == nil && note != "" {
		_, err = fmt.Fprintln(w, note)
	}
	return err
}

func publishKeys(ctx context.Context, cfg *config.Config, ks keystore.Store, stateDir string, upload, uploaded bool, now time.Time) (v any, note string, err error) {
	switch {
	case upload && cfg.Maskinporten.HasAdmin() && !uploaded:
		admin, err := AdminClient(ctx, cfg, nil)
		if err != nil {
			return nil, "", err
		}
		got, err := UploadKeys(ctx, cfg, ks, stateDir, admin, now)
		return got, "", err
	case uploaded:
		return nil, "Recorded: this server's keys expire one year from now; the service warns 30 and 7 days ahead.",
			ConfirmUpload(ctx, cfg, ks, stateDir, now)
	}
	set, err := KeySet(ctx, cfg, ks)
	if err != nil {
		return nil, "", err
	}
	if upload {
		note = "No admin client (maskinporten.admin): upload this JWKS to client " + cfg.Maskinporten.ClientID +
			" in Samarbeidsportalen (it replaces the whole set), then run: agent keys upload --uploaded"
	}
	return jwks.Set{Keys: set}, note, nil
}
