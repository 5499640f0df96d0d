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
// key is read from its own key store. With grant_header x5c (the default, Digdir's rule) its grants carry
// the enterprise certificate chain kept with the key; a key without a chain is refused here, before
// anything is sent. With grant_header kid they name the key registered on the admin client. hc nil means
// the hardened upstream client.
func AdminClient(ctx context.Context, cfg *config.Config, hc *http.Client) (*jwks.Client, error) {
	a := cfg.Maskinporten.Admin
	if !cfg.Maskinporten.HasAdmin() {
		return nil, errors.New("no admin client: set maskinporten.admin in the config, or upload the printed JWKS in Samarbeidsportalen")
	}
	base, err := cfg.SelfServiceURL()
	if err != nil {
		return nil, fmt.Errorf("maskinporten.admin.self_service_url: %w", err)
	}
	ks, err := OpenKeyStore(a.Key, false, "")
	if err != nil {
		return nil, fmt.Errorf("maskinporten.admin.key: %w", err)
	}
	defer keystore.Close(ks)
	signer, err := ks.Signer(ctx, a.Key.Name)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, fmt.Errorf("maskinporten.admin.key: there is no key %q in the %s key store: %w; import the organisation's enterprise certificate "+
			"with its key (PKCS#12): %s", a.Key.Name, ks.Backend(), err, importCertificate(a, false))
	}
	if err != nil {
		return nil, fmt.Errorf("maskinporten.admin.key: read the admin client's key %q: %w", a.Key.Name, err)
	}
	kid, x5c := a.KID, [][]byte(nil)
	switch a.Header() {
	case config.GrantHeaderX5C:
		if x5c, kid = keystore.ChainDER(signer), ""; len(x5c) == 0 {
			return nil, fmt.Errorf("maskinporten.admin.key: the key %q in the %s key store has no certificate chain, but the admin client signs with "+
				"the enterprise certificate (maskinporten.admin.grant_header x5c, the default, Digdir's rule for the self-service client); nothing was sent. "+
				"Import the enterprise certificate with its key and chain from its PKCS#12 file: %s", a.Key.Name, ks.Backend(), importCertificate(a, true))
		}
	case config.GrantHeaderKID:
		if kid == "" {
			if kid, err = keystore.Thumbprint(signer.Public()); err != nil {
				return nil, err
			}
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
		ClientID: a.ClientID, KeyID: kid, X5C: x5c, Signer: signer, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	return &jwks.Client{BaseURL: base, HTTPClient: hc, Tokens: tc, Scopes: a.TokenScopes()}, nil
}

// adminRefused adds the fix to a refusal of the self-service API: a kid-signed admin client refused for
// want of the enterprise certificate is told how to switch to x5c.
func adminRefused(cfg *config.Config, err error) error {
	var e *jwks.Error
	a := cfg.Maskinporten.Admin
	if errors.As(err, &e) && e.Code == "access_denied" && a.Header() == config.GrantHeaderKID {
		return fmt.Errorf("%w\nfix: maskinporten.admin.grant_header is kid; import the organisation's enterprise certificate (PKCS#12, a test "+
			"certificate in TEST) as the admin client's key (%s), remove maskinporten.admin.grant_header and maskinporten.admin.kid "+
			"(x5c is the default), remove the registered key from the admin client in Samarbeidsportalen (a client with keys must sign with kid), "+
			"and run agent keys upload again", err, importCertificate(a, true))
	}
	return err
}

// importCertificate is the command line that puts the enterprise certificate's PKCS#12 where
// maskinporten.admin.key names it; replace first deletes the key there.
func importCertificate(a config.AdminClient, replace bool) string {
	where := "--backend " + a.Key.Backend
	if a.Key.Path != "" {
		where += " --path " + a.Key.Path
	}
	where += " --name " + a.Key.Name
	cmd := "agent keys import " + where + " --file virksomhetssertifikat.p12"
	if replace {
		cmd = "agent keys delete " + where + " --yes, then " + cmd
	}
	return cmd
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
		return nil, adminRefused(cfg, err)
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
