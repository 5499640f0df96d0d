package config

import (
	"fmt"
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

func (c *Config) checkMaskinporten(p *problems) {
	m := c.Maskinporten
	switch {
	case m.ClientID == "":
		p.add("maskinporten.client_id", "is required: the client id of the organisation's Maskinporten client (shown in Samarbeidsportalen)")
	case hasSpace(m.ClientID):
		p.add("maskinporten.client_id", "contains whitespace; copy the client id exactly as Samarbeidsportalen shows it")
	case !clientIDRE.MatchString(m.ClientID):
		p.add("maskinporten.client_id", "%q is not a client id: Samarbeidsportalen shows a UUID such as "+
			"0b3c2f4e-7a1d-4c55-9e0a-2f6d8b1c9e47 (letters, digits, '-', '_' and '.' only)", m.ClientID)
	}
	switch m.Key.Backend {
	case BackendKeyring, BackendSystemdCreds, BackendTPM2, BackendWindowsCert:
	case BackendFile, BackendMemory:
		if c.Environment != EnvSandbox {
			p.add("maskinporten.key.backend", "is %q, which keeps the key outside the OS key store (a file can be copied, memory is lost at exit); it is allowed only with environment: sandbox. Use keyring or systemd-creds", m.Key.Backend)
		}
	default:
		p.add("maskinporten.key.backend", "is %s; use keyring (Windows Credential Manager, macOS Keychain, Secret Service), systemd-creds (Linux servers), tpm2 (Linux with a TPM 2.0: the key never leaves it), windows-cert (a certificate in the Windows LocalMachine store), file (sandbox only) or memory (sandbox only)", quote(m.Key.Backend))
	}
	c.checkKeyDevice(p)
	if !keyNameRE.MatchString(m.Key.Name) {
		p.add("maskinporten.key.name", "is %s; use letters, digits, '.', '_' and '-' (it names the key in the key store and in file names), e.g. %s", quote(m.Key.Name), DefaultKeyName)
	}
	if m.Key.Backend == BackendFile && m.Key.Path == "" {
		p.add("maskinporten.key.path", "is required with backend file: the directory that holds <name>.pem (and the -next/-previous keys of a rotation)")
	}
}

// checkKeyDevice checks the backend-specific key fields, device (tpm2) and thumbprint (windows-cert),
// which other backends ignore like path, and the grant header form.
func (c *Config) checkKeyDevice(p *problems) {
	m := c.Maskinporten
	switch d := m.Key.Device; {
	case d == "" || m.Key.Backend != BackendTPM2: // only tpm2 uses it
	case strings.HasPrefix(d, "swtpm:"):
		if c.Environment != EnvSandbox {
			p.add("maskinporten.key.device", "is a software TPM (%s), which holds its keys in ordinary files; it is allowed only with environment: sandbox. Use the machine's TPM, /dev/tpmrm0", quote(d))
		}
	case !strings.HasPrefix(d, "/dev/"):
		p.add("maskinporten.key.device", "is %s; use the TPM's resource manager device, /dev/tpmrm0 (the default)", quote(d))
	}
	switch t := m.Key.Thumbprint; {
	case m.Key.Backend == BackendWindowsCert && t == "":
		p.add("maskinporten.key.thumbprint", "is required with backend windows-cert: the SHA-1 thumbprint of the certificate in the LocalMachine\\My store (certlm.msc → the certificate → Details → Thumbprint)")
	case t == "" || m.Key.Backend != BackendWindowsCert: // only windows-cert uses it
	case !thumbprintRE.MatchString(strings.ReplaceAll(t, " ", "")):
		p.add("maskinporten.key.thumbprint", "is %s; a SHA-1 thumbprint is 40 hex digits (spaces allowed), as certlm.msc shows it", quote(t))
	}
	switch m.GrantHeader {
	case "", GrantHeaderKID:
	case GrantHeaderX5C:
		if m.Key.Backend == BackendTPM2 {
			p.add("maskinporten.grant_header", "is x5c, but a tpm2 key has no certificate (its key is made inside the TPM); use kid and register the key's public JWK on the client")
		}
		if m.KID != "" {
			p.add("maskinporten.kid", "is set, but grant_header x5c sends the certificate chain instead of a kid; remove kid or use grant_header: kid")
		}
	default:
		p.add("maskinporten.grant_header", "is %s; use kid (a key registered on the client) or x5c (an enterprise certificate)", quote(m.GrantHeader))
	}
	c.checkAdmin(p)
}

// checkAdmin checks the optional self-service (admin) client.
func (c *Config) checkAdmin(p *problems) {
	if !c.Maskinporten.HasAdmin() {
		return
	}
	a := c.Maskinporten.Admin
	switch {
	case a.ClientID == "" || !clientIDRE.MatchString(a.ClientID):
		p.add("maskinporten.admin.client_id", "is %s; give the client id of the organisation's self-service (admin) client, as Samarbeidsportalen shows it", quote(a.ClientID))
	case a.ClientID == c.Maskinporten.ClientID:
		p.add("maskinporten.admin.client_id", "is the service's own client; Digdir wants a separate admin client used for nothing else (with scopes idporten:dcr.read and idporten:dcr.write)")
	}
	if a.Key.Name == "" || !keyNameRE.MatchString(a.Key.Name) {
		p.add("maskinporten.admin.key.name", "is %s; name the admin client's key in the key store (letters, digits, '.', '_', '-')", quote(a.Key.Name))
	} else if a.Key.Name == c.Maskinporten.Key.Name && a.Key.Backend == c.Maskinporten.Key.Backend {
		p.add("maskinporten.admin.key.name", "is the service's own key; the admin client needs its own key (its enterprise certificate)")
	}
	switch a.GrantHeader {
	case "", GrantHeaderX5C:
		switch b := a.Key.Backend; b {
		case BackendTPM2, BackendKeyring:
			p.add("maskinporten.admin.key.backend", "is %s, which cannot hold an enterprise certificate's chain (%s); the admin client signs with x5c "+
				"(grant_header x5c, the default, Digdir's rule): keep its PKCS#12 in systemd-creds (Linux), windows-cert (Windows) or file (sandbox only)",
				quote(b), map[bool]string{true: "a tpm2 key is made inside the TPM and has no certificate", false: "the OS key ring keeps the key alone"}[b == BackendTPM2])
		}
		if a.KID != "" {
			p.add("maskinporten.admin.kid", "is set, but the admin client signs with x5c (grant_header x5c, the default), which sends the certificate chain instead of a kid; remove kid, or set grant_header: kid")
		}
	case GrantHeaderKID:
	default:
		p.add("maskinporten.admin.grant_header", "is %s; use x5c (the enterprise certificate, Digdir's rule) or kid", quote(a.GrantHeader))
	}
	c.checkAdminScopes(p)
	if _, err := c.SelfServiceURL(); err != nil {
		p.add("maskinporten.admin.self_service_url", "%v", err)
	}
}

// checkAdminScopes checks maskinporten.admin.scopes: Digdir's self-service scopes only (idporten:dcr.*),
// each once, idporten:dcr.write among them (uploading keys needs it).
func (c *Config) checkAdminScopes(p *problems) {
	sc := c.Maskinporten.Admin.Scopes
	for i, s := range sc {
		if !strings.HasPrefix(s, "idporten:dcr") || hasSpace(s) {
			p.add(fmt.Sprintf("maskinporten.admin.scopes[%d]", i), "is %s; the admin client asks only for Digdir's self-service scopes, e.g. %s", quote(s), strings.Join(AdminScopes, ", "))
		} else if slices.Index(sc, s) < i {
			p.add(fmt.Sprintf("maskinporten.admin.scopes[%d]", i), "repeats %s", quote(s))
		}
	}
	if len(sc) > 0 && !slices.Contains(sc, "idporten:dcr.write") {
		p.add("maskinporten.admin.scopes", "lacks idporten:dcr.write, which uploading keys (POST /clients/{id}/jwks) needs; leave scopes out for the default %s", strings.Join(AdminScopes, ", "))
	}
}

func (c *Config) checkSystem(p *problems) {
	s := c.System
	prefix := c.Organization + "_"
	switch name, ok := strings.CutPrefix(s.ID, prefix); {
	case s.ID == "":
		p.add("system.id", "is required: \"<organization>_<name>\", e.g. %s_sap-local", orOrg(c.Organization))
	case hasSpace(s.ID):
		p.add("system.id", "contains whitespace, which Altinn refuses (AUTH.VLD-00013); use e.g. %s_sap-local", orOrg(c.Organization))
	case c.Organization != "" && !ok:
		p.add("system.id", "must start with %q: the organisation is its own system vendor, and Altinn checks the part before the first '_' (AUTH.VLD-00001)", prefix)
	case ok && name == "":
		p.add("system.id", "has nothing after %q; add the system's name, e.g. %ssap-local", prefix, prefix)
	case ok && !systemNameRE.MatchString(name):
		p.add("system.id", "has a name part with characters other than letters, digits, '.', '_' and '-'; it goes into URL paths, so keep to those")
	}
	checkTexts(p, "system.name", s.Name)
	checkTexts(p, "system.description", s.Description)
	seen := map[Right]int{}
	for i, r := range s.Rights {
		path := fmt.Sprintf("system.rights[%d]", i)
		if strings.TrimSpace(r.Resource) == "" {
			p.add(path+".resource", "is required: the resource id from Altinn's resource registry (the value of urn:altinn:resource)")
			continue
		}
		if j, dup := seen[r]; dup {
			p.add(path, "repeats system.rights[%d]; Altinn refuses duplicate rights (AUTH.VLD-00006): remove one", j)
			continue
		}
		seen[r] = i
	}
	checkPackages(p, "system.access_packages", s.AccessPackages)
}

func orOrg(org string) string {
	if org == "" {
		return "<organization>"
	}
	return org
}

func checkTexts(p *problems, path string, t Texts) {
	for _, f := range []struct{ lang, text string }{{"nb", t.NB}, {"nn", t.NN}, {"en", t.EN}} {
		if strings.TrimSpace(f.text) == "" {
			p.add(path+"."+f.lang, "is required: Altinn shows the system in Norwegian Bokmål (nb), Nynorsk (nn) and English (en), and approval needs nb")
		}
	}
}

func checkPackages(p *problems, path string, pkgs []string) {
	seen := map[string]int{}
	for i, pkg := range pkgs {
		at := fmt.Sprintf("%s[%d]", path, i)
		if !packageRE.MatchString(pkg) {
			p.add(at, "is %s; an access package looks like urn:altinn:accesspackage:<name> with a lower-case name, e.g. urn:altinn:accesspackage:skattegrunnlag", quote(pkg))
			continue
		}
		if j, dup := seen[pkg]; dup {
			p.add(at, "repeats %s[%d]; remove one", path, j)
			continue
		}
		seen[pkg] = i
	}
}

func (c *Config) checkSystemUsers(p *problems) {
	names := map[string]int{}
	refs := map[string]int{}
	sysRights := map[Right]bool{}
	for _, r := range c.System.Rights {
		sysRights[r] = true
	}
	sysPackages := map[string]bool{}
	for _, pkg := range c.System.AccessPackages {
		sysPackages[pkg] = true
	}
	for i, su := range c.SystemUsers {
		path := fmt.Sprintf("system_users[%d]", i)
		switch {
		case !suNameRE.MatchString(su.Name):
			p.add(path+".name", "is %s; use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. default or payroll", quote(su.Name))
		default:
			if j, dup := names[su.Name]; dup {
				p.add(path+".name", "%q is also the name of system_users[%d]; names must be unique because clients refer to system users by name", su.Name, j)
			} else {
				names[su.Name] = i
			}
		}
		if su.ExternalRef != "" && !refRE.MatchString(su.ExternalRef) {
			p.add(path+".external_ref", "is %s; use only letters, digits, '.', '_' and '-' (it goes into Altinn URL paths), or leave it out for the organisation's default system user", quote(su.ExternalRef))
		} else {
			eff := su.ExternalRef
			if eff == "" {
				eff = c.Organization
			}
			if j, dup := refs[eff]; dup {
				p.add(path+".external_ref", "gives the same system user as system_users[%d] (Altinn treats a missing external_ref as the organisation number); give each system user its own external_ref", j)
			} else {
				refs[eff] = i
			}
		}
		if len(su.Scopes) == 0 {
			hint := ""
			if len(c.SystemUsers) == 1 && su.Name == DefaultSystemUserName {
				hint = " (when system_users is empty, one system user named \"default\" is assumed)"
			}
			p.add(path+".scopes", "needs at least one Maskinporten scope, e.g. [altinn:systembruker.demo]%s", hint)
		}
		for j, s := range su.Scopes {
			checkScope(p, fmt.Sprintf("%s.scopes[%d]", path, j), s)
		}
		for j, r := range su.Rights {
			if !sysRights[r] {
				p.add(fmt.Sprintf("%s.rights[%d]", path, j), "(resource %s) is not among system.rights; a system user can only get rights its system has: add it to system.rights or remove it here", quote(r.Resource))
			}
		}
		for j, pkg := range su.AccessPackages {
			if !sysPackages[pkg] {
				p.add(fmt.Sprintf("%s.access_packages[%d]", path, j), "(%s) is not among system.access_packages; add it there or remove it here", quote(pkg))
			}
		}
	}
}

func checkScope(p *problems, path, s string) {
	switch {
	case s == "":
		p.add(path, "is empty; remove it or write the scope, e.g. skatteetaten:mvameldinginnsending")
	case hasSpace(s):
		p.add(path, "contains whitespace; write one scope per list item, e.g. [a:one, b:two]")
	}
}

func (c *Config) checkTokens(p *problems) {
	t := c.Tokens
	if t.MinValidity < time.Second {
		p.add("tokens.min_validity", "is %v; it must be at least 1s so a served token is still valid when the caller uses it (default %v)", t.MinValidity, DefaultMinValidity)
	}
	if t.RefreshAhead <= t.MinValidity {
		p.add("tokens.refresh_ahead", "is %v; it must be more than tokens.min_validity (%v), or tokens would expire before they are refreshed (default %v)", t.RefreshAhead, t.MinValidity, DefaultRefreshAhead)
	}
}

func (c *Config) checkClients(p *problems) {
	ids := map[string]int{}
	users := map[string]SystemUser{}
	for _, su := range c.SystemUsers {
		if _, dup := users[su.Name]; !dup {
			users[su.Name] = su
		}
	}
	for i, cl := range c.Clients {
		path := fmt.Sprintf("clients[%d]", i)
		if !clientIDRE.MatchString(cl.ID) {
			p.add(path+".id", "is %s; use letters, digits, '.', '_' and '-', e.g. sap", quote(cl.ID))
		} else if j, dup := ids[cl.ID]; dup {
			p.add(path+".id", "%q is also the id of clients[%d]; each local caller needs its own id", cl.ID, j)
		} else {
			ids[cl.ID] = i
		}
		// The value is never echoed: a caller secret pasted here by mistake must not reach logs.
		if !sha256HexRE.MatchString(cl.SecretSHA256) && !(cl.SecretSHA256 == "" && cl.OSUser != "") {
			p.add(path+".secret_sha256", "must be the SHA-256 of the caller's secret as 64 lower-case hex characters; `agent clients add %s` creates the secret, writes it to the caller's file and puts its digest here (never put the secret itself in this file); a caller with os_user may leave it empty and call over the Unix socket or named pipe, where the OS names its account", orID(cl.ID))
		}
		allowed := map[string]bool{}
		if len(cl.SystemUsers) == 0 {
			p.add(path+".system_users", "needs at least one system user name (from system_users[].name); the first is the caller's default")
		}
		for j, name := range cl.SystemUsers {
			su, ok := users[name]
			if !ok {
				p.add(fmt.Sprintf("%s.system_users[%d]", path, j), "names %s, which is not in system_users; use one of: %s", quote(name), strings.Join(c.systemUserNames(), ", "))
				continue
			}
			for _, s := range su.Scopes {
				allowed[s] = true
			}
		}
		if len(cl.Scopes) == 0 {
			p.add(path+".scopes", "needs at least one scope: each caller gets only the scopes listed here (default deny)")
		}
		for j, s := range cl.Scopes {
			at := fmt.Sprintf("%s.scopes[%d]", path, j)
			checkScope(p, at, s)
			if s != "" && !hasSpace(s) && len(cl.SystemUsers) > 0 && !allowed[s] {
				p.add(at, "%s is not a scope of this client's system users; add it to their scopes in system_users or remove it here", quote(s))
			}
		}
		if cl.TokenKind != TokenKindMaskinporten && cl.TokenKind != TokenKindAltinn {
			p.add(path+".token_kind", "is %s; use maskinporten (the Maskinporten token) or altinn (exchanged for an Altinn token)", quote(cl.TokenKind))
		}
	}
}

func orID(id string) string {
	if id == "" {
		return "<id>"
	}
	return id
}

func (c *Config) systemUserNames() []string {
	names := make([]string, 0, len(c.SystemUsers))
	for _, su := range c.SystemUsers {
		names = append(names, su.Name)
	}
	return names
}
