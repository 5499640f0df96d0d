package config

import (
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Defaults that Validate (and SetDefaults) fill into empty fields.
const (
	// DefaultListen is the local endpoint's default address.
	DefaultListen = "127.0.0.1:7070"
	// DefaultKeyName is the key's default name in the key store.
	DefaultKeyName = "maskinporten"
	// DefaultSystemUserName names the one system user assumed when system_users is empty.
	DefaultSystemUserName = "default"
	// DefaultMinValidity is the default tokens.min_validity.
	DefaultMinValidity = 10 * time.Second
	// DefaultRefreshAhead is the default tokens.refresh_ahead.
	DefaultRefreshAhead = 60 * time.Second
)

// Key store backends for maskinporten.key.backend.
const (
	BackendKeyring      = "keyring"
	BackendSystemdCreds = "systemd-creds"
	BackendFile         = "file"
	BackendMemory       = "memory"
	BackendTPM2         = "tpm2"
	BackendWindowsCert  = "windows-cert"
)

// Grant header forms for maskinporten.grant_header.
const (
	GrantHeaderKID = "kid"
	GrantHeaderX5C = "x5c"
)

// Token kinds for clients[].token_kind.
const (
	TokenKindMaskinporten = "maskinporten"
	TokenKindAltinn       = "altinn"
)

// SetDefaults fills empty fields with their defaults (for the key store backend: those of this OS).
func (c *Config) SetDefaults() { c.setDefaults(runtime.GOOS) }

// Validate fills in defaults (see SetDefaults), then checks every field and returns all problems at once
// as Errors, or nil.
func (c *Config) Validate() error { return c.validate(runtime.GOOS) }

// DefaultKeyBackend is the key store backend used when maskinporten.key.backend is empty on goos.
func DefaultKeyBackend(goos string) string {
	if goos == "linux" {
		return BackendSystemdCreds
	}
	return BackendKeyring
}

// nilIfEmpty makes empty lists nil, so a config reads back from YAML exactly as it was saved.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func (c *Config) setDefaults(goos string) {
	c.System.Rights = nilIfEmpty(c.System.Rights)
	c.System.AccessPackages = nilIfEmpty(c.System.AccessPackages)
	for i := range c.SystemUsers {
		su := &c.SystemUsers[i]
		su.Scopes, su.Rights, su.AccessPackages = nilIfEmpty(su.Scopes), nilIfEmpty(su.Rights), nilIfEmpty(su.AccessPackages)
	}
	c.Clients = nilIfEmpty(c.Clients)
	for i := range c.Clients {
		cl := &c.Clients[i]
		cl.SystemUsers, cl.Scopes = nilIfEmpty(cl.SystemUsers), nilIfEmpty(cl.Scopes)
	}
	if c.Environment == "" {
		c.Environment = EnvTest
	}
	if c.Maskinporten.Key.Backend == "" {
		c.Maskinporten.Key.Backend = DefaultKeyBackend(goos)
	}
	if c.Maskinporten.Key.Name == "" {
		c.Maskinporten.Key.Name = DefaultKeyName
	}
	if c.Maskinporten.HasAdmin() && c.Maskinporten.Admin.Key.Backend == "" {
		c.Maskinporten.Admin.Key.Backend = DefaultKeyBackend(goos)
	}
	if len(c.SystemUsers) == 0 {
		c.SystemUsers = []SystemUser{{Name: DefaultSystemUserName}}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Tokens.MinValidity == 0 {
		c.Tokens.MinValidity = DefaultMinValidity
	}
	if c.Tokens.RefreshAhead == 0 {
		c.Tokens.RefreshAhead = DefaultRefreshAhead
	}
	for i := range c.Clients {
		if c.Clients[i].TokenKind == "" {
			c.Clients[i].TokenKind = TokenKindMaskinporten
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

func (c *Config) validate(goos string) error {
	c.setDefaults(goos)
	var p problems
	c.checkEndpoints(&p) // also checks environment
	if c.Organization == "" {
		p.add("organization", "is required: the organisation's own 9-digit number, which is both the system vendor and the system user owner")
	} else if err := CheckOrgNumber(c.Organization); err != nil {
		p.add("organization", "%v", err)
	}
	c.checkMaskinporten(&p)
	c.checkSystem(&p)
	c.checkSystemUsers(&p)
	if err := CheckLoopback(c.Listen); err != nil {
		p.add("listen", "%v", err)
	}
	c.checkTransports(&p, goos)
	c.checkTokens(&p)
	c.checkClients(&p)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		p.add("log.level", "is %s; use debug, info, warn or error", quote(c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", "is %s; use text or json", quote(c.Log.Format))
	}
	if len(p.errs) == 0 {
		return nil
	}
	return p.errs
}

var (
	keyNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	systemNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	packageRE    = regexp.MustCompile(`^urn:altinn:accesspackage:[a-z0-9][a-z0-9._-]*$`)
	suNameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	refRE        = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	clientIDRE   = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	sha256HexRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	thumbprintRE = regexp.MustCompile(`^[0-9A-Fa-f]{40}$`)
)

func hasSpace(s string) bool { return strings.IndexFunc(s, unicode.IsSpace) >= 0 }

func (c *Config) checkTokens(p *problems) {
	t := c.Tokens
	if t.MinValidity < time.Second {
		p.add("tokens.min_validity", "is %v; it must be at least 1s so a served token is still valid when the caller uses it (default %v)", t.MinValidity, DefaultMinValidity)
	}
	if t.RefreshAhead <= t.MinValidity {
		p.add("tokens.refresh_ahead", "is %v; it must be more than tokens.min_validity (%v), or tokens would expire before they are refreshed (default %v)", t.RefreshAhead, t.MinValidity, DefaultRefreshAhead)
	}
}
