package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// A standalone `agent sandbox` stands in for Samarbeidsportalen too: its registration API (package
// sandbox, GET /sandbox/catalogue and POST /sandbox/clients) says what it offers and registers the
// organisation's Maskinporten client with its public key, so the wizard with environment sandbox needs no
// step outside the agent.

// DefaultSandboxURL is where `agent sandbox` serves without --listen (sandbox.DefaultListen; setup does
// not import the sandbox, a test checks they agree): the default of the wizard's sandbox URL question.
const DefaultSandboxURL = "http://127.0.0.1:8900"

// SandboxCatalogue is what a running sandbox offers (GET /sandbox/catalogue).
type SandboxCatalogue struct {
	// APIScopes are the scopes a system user's tokens may carry.
	APIScopes []string `json:"api_scopes"`
	// OnboardingScopes are the Altinn scopes the agent's own token needs.
	OnboardingScopes []string `json:"onboarding_scopes"`
	// Resources are delegable resource ids a system may list as rights.
	Resources []string `json:"resources"`
	// AccessPackages are access packages a standard system user may get.
	AccessPackages []string `json:"access_packages"`
}

// SandboxRegistration is what the sandbox registered (POST /sandbox/clients).
type SandboxRegistration struct {
	// ClientID is the Maskinporten client id.
	ClientID string `json:"client_id"`
	// Org is the organisation that owns the client.
	Org string `json:"org"`
	// KID is the id of the key registered.
	KID string `json:"kid"`
	// Scopes are the client's scopes after the registration.
	Scopes []string `json:"scopes"`
	// Created is true for a new client, false when the key or scopes were added to an existing one.
	Created bool `json:"created"`
}

// sandboxHTTP talks to a loopback sandbox: short timeouts, never through a proxy.
var sandboxHTTP = &http.Client{Timeout: 5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext}}

// ProbeSandbox checks that a sandbox answers at base (a form-checked URL, see CheckSandboxURL) and
// returns its catalogue. Errors say what to start or fix.
func ProbeSandbox(ctx context.Context, base string) (SandboxCatalogue, error) {
	var cat SandboxCatalogue
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sandbox/catalogue", nil)
	if err != nil {
		return cat, fmt.Errorf("%s is not a URL: %w", base, err)
	}
	resp, err := sandboxHTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return cat, fmt.Errorf("%s did not answer in time: is `agent sandbox` running there?", base)
		}
		return cat, fmt.Errorf("nothing answers at %s (%v): start `agent sandbox` in another terminal, "+
			"or give the URL it printed", base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &cat) != nil || len(cat.APIScopes) == 0 {
		return cat, fmt.Errorf("%s answers, but not as `agent sandbox` does (GET /sandbox/catalogue gave HTTP %d): "+
			"give the URL `agent sandbox` printed", base, resp.StatusCode)
	}
	return cat, nil
}

// SandboxChecker checks a sandbox URL as the wizard's question does: its form (CheckSandboxURL), then
// that `agent sandbox` answers there (ProbeSandbox, within 10 s); found gets what it offers.
func SandboxChecker(ctx context.Context, found **SandboxCatalogue) func(string) (string, error) {
	return func(s string) (string, error) {
		u, err := CheckSandboxURL(s)
		if err != nil {
			return "", err
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cat, err := ProbeSandbox(pctx, u)
		if err != nil {
			return "", err
		}
		*found = &cat
		return u, nil
	}
}

// RegisterOnSandbox registers the organisation's Maskinporten client of cfg (environment sandbox) with
// its public key (a JWK as keystore renders it) and its system users' scopes on the sandbox, as an
// administrator would in Samarbeidsportalen. Running it again adds or renews the key and adds missing
// scopes, so a restarted sandbox (which forgets everything) is set up again. Outside environment sandbox
// (or with endpoints that are not a sandbox's) it does nothing and returns nil.
func RegisterOnSandbox(ctx context.Context, cfg *config.Config, publicJWK []byte) (*SandboxRegistration, error) {
	base := SandboxBase(cfg.Endpoints)
	if cfg.Environment != config.EnvSandbox || base == "" {
		return nil, nil
	}
	var scopes []string
	for _, su := range cfg.SystemUsers {
		for _, sc := range su.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	reg, err := registerOnSandbox(ctx, base, cfg.Maskinporten.ClientID, cfg.Organization, publicJWK, scopes)
	if err != nil {
		return nil, err
	}
	return &reg, nil
}

// String says what was registered, for the wizard to print.
func (r SandboxRegistration) String() string {
	verb := "registered"
	if !r.Created {
		verb = "updated"
	}
	return fmt.Sprintf("sandbox: %s Maskinporten client %s of organisation %s with key %s and scopes %s (what an "+
		"administrator does in Samarbeidsportalen for test and production)", verb, r.ClientID, r.Org, r.KID,
		strings.Join(r.Scopes, " "))
}

func registerOnSandbox(ctx context.Context, base, clientID, org string, publicJWK []byte, scopes []string) (SandboxRegistration, error) {
	var reg SandboxRegistration
	body, err := json.Marshal(map[string]any{"client_id": clientID, "org": org, "jwk": json.RawMessage(publicJWK), "scopes": scopes})
	if err != nil {
		return reg, fmt.Errorf("register the client on the sandbox: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/sandbox/clients", bytes.NewReader(body))
	if err != nil {
		return reg, fmt.Errorf("register the client on the sandbox at %s: %w", base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := sandboxHTTP.Do(req)
	if err != nil {
		return reg, fmt.Errorf("register the client on the sandbox at %s: %w; is `agent sandbox` still running?", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusConflict:
		return reg, fmt.Errorf("the sandbox refused client id %s: %s; choose another client id", clientID, strings.TrimSpace(string(b)))
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated:
		return reg, fmt.Errorf("the sandbox refused the registration of client %s (HTTP %d): %s", clientID, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, &reg); err != nil {
		return reg, fmt.Errorf("the sandbox's reply to the registration is unreadable: %w", err)
	}
	return reg, nil
}

// Scopes is the default of the wizard's scopes question: the sandbox's API scopes, comma-separated; ""
// without a sandbox (nil).
func (c *SandboxCatalogue) Scopes() string {
	if c == nil {
		return ""
	}
	return strings.Join(c.APIScopes, ",")
}

// Rights is the default of the wizard's rights question: the sandbox's resources; "" without a sandbox.
func (c *SandboxCatalogue) Rights() string {
	if c == nil {
		return ""
	}
	return strings.Join(c.Resources, ",")
}
