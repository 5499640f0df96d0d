package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// The registration API stands in for what an administrator does in Samarbeidsportalen before onboarding:
// create the organisation's Maskinporten client and upload its public key. `agent setup` with environment
// sandbox calls it, so a standalone `agent sandbox` needs no flags. It is always served, to loopback
// callers only, and refuses browser requests (an Origin header):
//
//	GET  /sandbox/catalogue  what the sandbox offers: API scopes, the onboarding scopes, resources, packages
//	POST /sandbox/clients    {"client_id", "org", "jwk": {public JWK with kid}, "scopes": [...]}
//
// POST registers the organisation (if new) and the client with the key and the scopes plus
// OnboardingScopes: 201 when the client is new, 200 when it was there for the same organisation (the key is
// added or renewed, the scopes added), 409 when it belongs to another organisation, 400 for a bad body.
// The reply is a ClientRegistration. Options.OnRegister hears of each registration.

// APIScopes are the scopes of the sandbox's example API, which a client may ask tokens for.
var APIScopes = []string{"altinn:demo/read"}

// Catalogue is the body of GET /sandbox/catalogue: what the sandbox offers an organisation.
type Catalogue struct {
	// APIScopes are the scopes a system user's tokens may carry.
	APIScopes []string `json:"api_scopes"`
	// OnboardingScopes are the Altinn scopes the agent's own token needs.
	OnboardingScopes []string `json:"onboarding_scopes"`
	// Resources are delegable resource ids a system may list as rights.
	Resources []string `json:"resources"`
	// AccessPackages are access packages a standard system user may get.
	AccessPackages []string `json:"access_packages"`
}

// ClientRegistration is what POST /sandbox/clients registered, and what Options.OnRegister hears.
type ClientRegistration struct {
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

// String says what was registered, as `agent sandbox` prints it.
func (r ClientRegistration) String() string {
	verb := "Registered"
	if !r.Created {
		verb = "Updated"
	}
	return fmt.Sprintf("%s Maskinporten client %s of organisation %s: key %s, scopes %s", verb, r.ClientID, r.Org,
		r.KID, strings.Join(r.Scopes, " "))
}

// clientRequest is the body of POST /sandbox/clients.
type clientRequest struct {
	ClientID string          `json:"client_id"`
	Org      string          `json:"org"`
	JWK      json.RawMessage `json:"jwk"`
	Scopes   []string        `json:"scopes"`
}

// CatalogueOf says what this sandbox offers.
func (s *Sandbox) CatalogueOf() Catalogue {
	return Catalogue{APIScopes: slices.Clone(APIScopes), OnboardingScopes: slices.Clone(OnboardingScopes),
		Resources: []string{ResourceExample}, AccessPackages: []string{PackageAssignable}}
}

// RegisterClientKey registers (or updates) the organisation's Maskinporten client with one public key,
// as POST /sandbox/clients does: the organisation is added if new; a new client gets scopes plus
// OnboardingScopes; an existing client of the same organisation gets the key added (a known kid with
// the same key is renewed) and the missing scopes; a client of another organisation is an error.
func (s *Sandbox) RegisterClientKey(clientID, org string, key ClientKey, scopes []string) (ClientRegistration, error) {
	all := slices.Clone(scopes)
	for _, sc := range OnboardingScopes {
		if !slices.Contains(all, sc) {
			all = append(all, sc)
		}
	}
	reg := ClientRegistration{ClientID: clientID, Org: org, KID: key.KID}
	if !orgRe.MatchString(org) {
		return reg, fmt.Errorf("sandbox: register client %q: org %q is not a 9-digit organisation number", clientID, org)
	}
	s.altinn.mu.Lock()
	if _, ok := s.altinn.orgs[org]; !ok {
		s.altinn.orgs[org] = "SANDBOX ORG " + org
	}
	s.altinn.mu.Unlock()
	s.mp.mu.Lock()
	c, exists := s.mp.clients[clientID]
	var owner string
	if exists {
		owner = c.org
	}
	s.mp.mu.Unlock()
	if !exists {
		if err := s.RegisterClient(Client{ID: clientID, Org: org, Scopes: all, Keys: []ClientKey{key}}); err != nil {
			return reg, err
		}
		reg.Scopes, reg.Created = all, true
		s.notifyRegistered(reg)
		return reg, nil
	}
	if owner != org {
		return reg, fmt.Errorf("%w: client %q belongs to organisation %s, not %s", errClientTaken, clientID, owner, org)
	}
	if err := s.AddClientKey(clientID, key); err != nil {
		return reg, err
	}
	s.mp.mu.Lock()
	for _, sc := range all {
		if !slices.Contains(c.scopes, sc) {
			c.scopes = append(c.scopes, sc)
		}
	}
	reg.Scopes = slices.Clone(c.scopes)
	s.mp.mu.Unlock()
	s.notifyRegistered(reg)
	return reg, nil
}

// errClientTaken is a client id registered for another organisation (409).
var errClientTaken = errors.New("sandbox: the client id is taken")

// notifyRegistered tells Options.OnRegister, one call at a time.
func (s *Sandbox) notifyRegistered(r ClientRegistration) {
	if s.opts.OnRegister != nil {
		s.notifyMu.Lock()
		defer s.notifyMu.Unlock()
		s.opts.OnRegister(r)
	}
}

// ConfigBlock says where the sandbox serves and the config lines that point an agent at it.
func (s *Sandbox) ConfigBlock() string {
	return fmt.Sprintf("Sandbox Maskinporten and Altinn at %s. For your config:\n\nenvironment: sandbox\nendpoints:\n"+
		"  maskinporten_issuer: %s\n  maskinporten_token: %s\n  altinn: %s", s.URL(), s.MaskinportenIssuer(),
		s.MaskinportenTokenURL(), s.AltinnURL())
}

// Guide says what the sandbox offers and how to set up an agent against it, for `agent sandbox` to print.
func (s *Sandbox) Guide() string {
	return fmt.Sprintf("It offers the scopes %s and the resource %s. Next, in another terminal:\n"+
		"  agent setup --environment sandbox --sandbox-url %s\nIt registers your Maskinporten client and key here "+
		"(each registration shows below); approve the request at the confirm URL it prints.",
		strings.Join(APIScopes, " "), ResourceExample, s.URL())
}

// registrationAPI serves GET /sandbox/catalogue and POST /sandbox/clients.
func registrationAPI(sb *Sandbox) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sandbox/catalogue", func(w http.ResponseWriter, _ *http.Request) {
		writeRegistrationJSON(w, http.StatusOK, sb.CatalogueOf())
	})
	mux.HandleFunc("POST /sandbox/clients", func(w http.ResponseWriter, r *http.Request) {
		var req clientRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "the body must be JSON {client_id, org, jwk, scopes}: "+err.Error(), http.StatusBadRequest)
			return
		}
		var k jose.JSONWebKey
		if err := json.Unmarshal(req.JWK, &k); err != nil {
			http.Error(w, "jwk is not a JWK: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !k.IsPublic() || k.KeyID == "" {
			http.Error(w, "jwk must be a public key with a kid (agent keys public prints one)", http.StatusBadRequest)
			return
		}
		reg, err := sb.RegisterClientKey(req.ClientID, req.Org, ClientKey{KID: k.KeyID, Public: k.Key}, req.Scopes)
		switch {
		case errors.Is(err, errClientTaken):
			http.Error(w, err.Error(), http.StatusConflict)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		case reg.Created:
			writeRegistrationJSON(w, http.StatusCreated, reg)
		default:
			writeRegistrationJSON(w, http.StatusOK, reg)
		}
	})
	return loopbackOnly("the registration API", mux)
}

func writeRegistrationJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Preparation is what `agent sandbox` sets up from its flags before serving.
type Preparation struct {
	// Org is an organisation to add (with ClientID: the client's owner).
	Org string
	// ClientID, with JWKFile (a public JWK, "-" for Stdin), registers a Maskinporten client of Org.
	ClientID, JWKFile string
	// Stdin is read when JWKFile is "-".
	Stdin io.Reader
	// SeedSystemUser also registers the system "<Org>_sandbox" for the client and an accepted system user.
	SeedSystemUser bool
}

// Prepare sets up p and returns the sandbox's endpoints (Info) with what was set up: client_id and org,
// system_id and system_user_id, admin (the drill API's URL, with Options.DrillAPI).
func (s *Sandbox) Prepare(p Preparation) (map[string]string, error) {
	info := s.Info()
	if p.Org != "" {
		s.AddOrganization(p.Org, "SANDBOX ORG "+p.Org)
	}
	if p.ClientID != "" {
		if err := s.RegisterClientJWK(p.ClientID, p.Org, p.JWKFile, p.Stdin, APIScopes...); err != nil {
			return nil, fmt.Errorf("%s: %w", p.JWKFile, err)
		}
		info["client_id"], info["org"] = p.ClientID, p.Org
	}
	if p.SeedSystemUser {
		sysID, userID, err := s.SeedOnboarded(p.Org, p.ClientID)
		if err != nil {
			return nil, err
		}
		info["system_id"], info["system_user_id"] = sysID, userID
	}
	if s.opts.DrillAPI {
		info["admin"] = s.URL() + "/sandbox/"
	}
	return info, nil
}

// DefaultListen is where `agent sandbox` serves without --listen (and the wizard's default sandbox URL).
const DefaultListen = "127.0.0.1:8900"

// Banner is what `agent sandbox` prints once serving: ConfigBlock, PreparedNote of info (from Prepare)
// and Guide.
func (s *Sandbox) Banner(info map[string]string) string {
	parts := []string{s.ConfigBlock()}
	if note := PreparedNote(info); note != "" {
		parts = append(parts, note)
	}
	return strings.Join(append(parts, s.Guide()), "\n\n")
}

// PreparedNote says what Prepare seeded and where the drill API is, for `agent sandbox` to print; "" when
// neither.
func PreparedNote(info map[string]string) string {
	var lines []string
	if info["system_user_id"] != "" {
		lines = append(lines, fmt.Sprintf("System %s with an accepted system user %s of organisation %s.",
			info["system_id"], info["system_user_id"], info["org"]))
	}
	if info["admin"] != "" {
		lines = append(lines, fmt.Sprintf("Drill API (loopback only) at %s: stats, stats/reset, faults.", info["admin"]))
	}
	return strings.Join(lines, "\n")
}
