// Package config defines the agent's YAML configuration and its state file: strict decoding (unknown
// fields are errors with file:line), validation with messages that say what is wrong and how to fix it,
// defaults per environment, and atomic saves. It holds no secrets: caller secrets live in files readable
// by their OS account and the agent keeps only their SHA-256 digests; keys live in the key store.
//
// config imports none of the project's packages; tokens, registry, keystore and sandbox never import it.
package config

import (
	"io"
	"log/slog"
	"slices"
	"time"
)

// Environment picks the upstream defaults.
type Environment string

const (
	// EnvTest is Maskinporten TEST with Altinn TT02.
	EnvTest Environment = "test"
	// EnvProduction is Maskinporten and Altinn production.
	EnvProduction Environment = "production"
	// EnvSandbox is the embedded sandbox (agent sandbox / agent demo); its URLs must be set in endpoints.
	EnvSandbox Environment = "sandbox"
)

// Config is the whole configuration file.
type Config struct {
	// Environment picks the default endpoints: test, production or sandbox.
	Environment Environment `yaml:"environment"`
	// Endpoints override the environment's default URLs one by one.
	Endpoints Endpoints `yaml:"endpoints,omitempty"`
	// Organization is the organisation's own 9-digit number: vendor and system user owner.
	Organization string `yaml:"organization"`
	// Maskinporten is the organisation's Maskinporten client.
	Maskinporten Maskinporten `yaml:"maskinporten"`
	// System is the organisation's own system in Altinn's System Register.
	System System `yaml:"system"`
	// SystemUsers are the system users the agent requests and serves tokens for (one per externalRef).
	SystemUsers []SystemUser `yaml:"system_users"`
	// Listen is the local endpoint's literal loopback address, e.g. 127.0.0.1:7070.
	Listen string `yaml:"listen"`
	// UnixSocket (Linux only) is a Unix socket the agent serves besides listen, e.g.
	// /run/systemuser-agent/token.sock: the kernel names each caller's account (SO_PEERCRED), only the
	// accounts of clients[].os_user may connect, and such a caller needs no secret there (security.md
	// D10). Empty (the default): none.
	UnixSocket string `yaml:"unix_socket"`
	// NamedPipe (Windows only) is a named pipe the agent serves besides listen, e.g.
	// \\.\pipe\systemuser-agent\api: the pipe names each caller's account, only the accounts of
	// clients[].os_user may open it, and such a caller needs no secret there (D10). Empty (the default):
	// none.
	NamedPipe string `yaml:"named_pipe"`
	// Tokens tunes caching and refresh.
	Tokens TokenSettings `yaml:"tokens"`
	// Clients are the local callers allowed to get tokens.
	Clients []Client `yaml:"clients,omitempty"`
	// Log sets logging.
	Log Log `yaml:"log"`

	// Path is the file the config was loaded from (not part of the YAML).
	Path string `yaml:"-"`
}

// Endpoints are the upstream URLs. Empty fields take the environment's defaults (see
// Config.ResolvedEndpoints).
type Endpoints struct {
	// MaskinportenIssuer is the issuer, used byte for byte as the grant's aud (trailing slash included).
	MaskinportenIssuer string `yaml:"maskinporten_issuer,omitempty"`
	// MaskinportenToken is the token endpoint.
	MaskinportenToken string `yaml:"maskinporten_token,omitempty"`
	// Altinn is the Altinn platform base URL, e.g. https://platform.tt02.altinn.no.
	Altinn string `yaml:"altinn,omitempty"`
}

// Maskinporten describes the organisation's Maskinporten client.
type Maskinporten struct {
	// ClientID is the Maskinporten client id.
	ClientID string `yaml:"client_id"`
	// Key says where the private key lives.
	Key KeyRef `yaml:"key"`
	// KID is the key id registered on the client; empty means the RFC 7638 thumbprint of the public key.
	KID string `yaml:"kid,omitempty"`
	// GrantHeader says how grants name the key: kid (default: a key registered on the client) or x5c
	// (an enterprise certificate: its chain, kept with the key in the key store, goes in the header).
	GrantHeader string `yaml:"grant_header,omitempty"`
	// Admin is the organisation's self-service (admin) client, if it has one: `agent keys upload` then
	// posts the key set through Digdir's self-service API and reads back each key's expiry. Without it
	// the agent prints the JWKS for a person to upload in Samarbeidsportalen. Configured when its
	// client_id is set (see HasAdmin).
	Admin AdminClient `yaml:"admin,omitempty"`
	// OtherKeysFile is a JWK set file with the public keys of the organisation's other servers that
	// share this Maskinporten client (one key per server, at most 5 in all): every upload keeps them.
	OtherKeysFile string `yaml:"other_keys_file,omitempty"`
}

// HasAdmin reports whether a self-service (admin) client is configured.
func (m Maskinporten) HasAdmin() bool {
	a := m.Admin
	return a.ClientID != "" || a.Key != (KeyRef{}) || a.KID != "" || a.GrantHeader != "" || len(a.Scopes) > 0 || a.SelfServiceURL != ""
}

// AdminClient is a Maskinporten client with Digdir's self-service scopes (idporten:dcr.read and
// idporten:dcr.write), used for nothing but uploading this client's keys. Digdir requires it to
// authenticate with the enterprise certificate (grant_header x5c).
type AdminClient struct {
	// ClientID is the admin client's id; it must differ from maskinporten.client_id.
	ClientID string `yaml:"client_id"`
	// Key is its key (for x5c: the enterprise certificate's key and chain).
	Key KeyRef `yaml:"key"`
	// KID is the key id registered on the admin client (grant_header kid); empty means the thumbprint.
	KID string `yaml:"kid,omitempty"`
	// GrantHeader is x5c (Digdir's rule: the enterprise certificate, the default) or kid.
	GrantHeader string `yaml:"grant_header,omitempty"`
	// Scopes are the self-service scopes the admin token is asked for; default AdminScopes. They must
	// include idporten:dcr.write (POST /clients/{id}/jwks).
	Scopes []string `yaml:"scopes,omitempty"`
	// SelfServiceURL overrides the environment's self-service API base (required with environment
	// sandbox: `agent sandbox` prints it).
	SelfServiceURL string `yaml:"self_service_url,omitempty"`
}

// AdminScopes are the self-service scopes an admin token is asked for by default: read a client's keys
// and replace them (maskinporten.md §6.2).
var AdminScopes = []string{"idporten:dcr.read", "idporten:dcr.write"}

// Header is how the admin client's grants name its key: GrantHeader, x5c when empty.
func (a AdminClient) Header() string {
	if a.GrantHeader == "" {
		return GrantHeaderX5C
	}
	return a.GrantHeader
}

// TokenScopes are the scopes of the admin token: Scopes, AdminScopes when empty.
func (a AdminClient) TokenScopes() []string {
	if len(a.Scopes) == 0 {
		return slices.Clone(AdminScopes)
	}
	return slices.Clone(a.Scopes)
}

// KeyRef names a key in a key store backend.
type KeyRef struct {
	// Backend is keyring, systemd-creds, tpm2 (Linux: the key is made inside the TPM and never leaves
	// it), windows-cert (Windows: a certificate's key in the LocalMachine store, signing through CNG),
	// file or memory; file and memory only with environment sandbox. Default: systemd-creds on Linux,
	// keyring elsewhere.
	Backend string `yaml:"backend"`
	// Name is the key's name in the backend.
	Name string `yaml:"name"`
	// Path is the directory of the file backend (it holds <name>.pem), or the store of encrypted
	// credentials for systemd-creds (default /etc/credstore.encrypted), or the directory of tpm2 key
	// files (default /etc/credstore).
	Path string `yaml:"path,omitempty"`
	// Device is the tpm2 backend's TPM: default /dev/tpmrm0; a software TPM socket
	// ("swtpm:host=127.0.0.1,port=2321") only with environment sandbox.
	Device string `yaml:"device,omitempty"`
	// Thumbprint selects the windows-cert backend's certificate in the LocalMachine\My store: its SHA-1
	// thumbprint, 40 hex digits as certlm.msc shows it (spaces allowed).
	Thumbprint string `yaml:"thumbprint,omitempty"`
}

// System is the organisation's system in the System Register.
type System struct {
	// ID is "<organization>_<name>", no spaces.
	ID string `yaml:"id"`
	// Name holds nb, nn and en texts.
	Name Texts `yaml:"name"`
	// Description holds nb, nn and en texts.
	Description Texts `yaml:"description"`
	// Rights are the resources the system may be given.
	Rights []Right `yaml:"rights,omitempty"`
	// AccessPackages are access package URNs (urn:altinn:accesspackage:...).
	AccessPackages []string `yaml:"access_packages,omitempty"`
}

// Texts are texts per language.
type Texts struct {
	// NB is Norwegian Bokmål; Altinn shows it as the default title and approval requires it.
	NB string `yaml:"nb"`
	// NN is Norwegian Nynorsk.
	NN string `yaml:"nn"`
	// EN is English.
	EN string `yaml:"en"`
}

// Right is one right on a resource.
type Right struct {
	// Resource is the resource id (value of urn:altinn:resource).
	Resource string `yaml:"resource"`
	// Action is optional.
	Action string `yaml:"action,omitempty"`
}

// SystemUser is one system user of the organisation for the system.
type SystemUser struct {
	// Name is the local label callers refer to.
	Name string `yaml:"name"`
	// ExternalRef tells several system users apart (letters, digits, '.', '_', '-'; it goes into URL paths).
	// Empty means none: then externalRef must be left out of requests and grants, never sent as "" (Altinn
	// stores "" as the organisation number but looks it up as "", which duplicates requests).
	ExternalRef string `yaml:"external_ref,omitempty"`
	// Scopes are the Maskinporten scopes tokens for this system user may carry.
	Scopes []string `yaml:"scopes"`
	// Rights requested for this system user (subset of the system's); empty means all of the system's.
	Rights []Right `yaml:"rights,omitempty"`
	// AccessPackages requested for this system user (subset of the system's).
	AccessPackages []string `yaml:"access_packages,omitempty"`
}

// TokenSettings tune the token cache.
type TokenSettings struct {
	// MinValidity is the least lifetime a served token has left (default 10s).
	MinValidity time.Duration `yaml:"min_validity"`
	// RefreshAhead starts a background refresh when this much lifetime is left (default 60s, at most
	// half the token lifetime).
	RefreshAhead time.Duration `yaml:"refresh_ahead"`
}

// Client is one local caller of the token endpoint.
type Client struct {
	// ID is the OAuth2 client_id the caller sends.
	ID string `yaml:"id"`
	// SecretSHA256 is the hex SHA-256 of the caller's secret (the secret itself is never stored here). It
	// may be empty when OSUser is set: then the caller authenticates only by its OS account, over the
	// Unix socket or named pipe (security.md D10).
	SecretSHA256 string `yaml:"secret_sha256"`
	// SecretFile is where the secret was written for the caller (informational; the agent never reads it).
	SecretFile string `yaml:"secret_file,omitempty"`
	// OSUser is the OS account that may read SecretFile, and the account that needs no secret on the
	// kernel-attested transports (Unix socket: a user name or uid; named pipe: an account name or SID).
	OSUser string `yaml:"os_user,omitempty"`
	// SystemUsers the caller may use, by name; the first is the default.
	SystemUsers []string `yaml:"system_users"`
	// Scopes the caller may ask for (at least one; each a scope of one of its system users); when it asks for
	// none, it gets all of them.
	Scopes []string `yaml:"scopes"`
	// TokenKind is maskinporten (default) or altinn.
	TokenKind string `yaml:"token_kind"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error (default info).
	Level string `yaml:"level"`
	// Format is text or json (default text).
	Format string `yaml:"format"`
}

// Handler is the slog handler these settings ask for, writing to w: text or JSON at the level (an
// unknown level means info; Validate refuses it).
func (l Log) Handler(w io.Writer) slog.Handler { return l.LevelHandler(w, new(slog.LevelVar)) }

// LevelHandler is Handler with its level held in lv, set from Level now; whoever holds lv may change the
// level later (a configuration reload).
func (l Log) LevelHandler(w io.Writer, lv *slog.LevelVar) slog.Handler {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// SystemUser returns the configured system user with the given name.
func (c *Config) SystemUser(name string) (SystemUser, bool) {
	for _, su := range c.SystemUsers {
		if su.Name == name {
			return su, true
		}
	}
	return SystemUser{}, false
}

// Client returns the configured local caller with the given id.
func (c *Config) Client(id string) (Client, bool) {
	for _, cl := range c.Clients {
		if cl.ID == id {
			return cl, true
		}
	}
	return Client{}, false
}
