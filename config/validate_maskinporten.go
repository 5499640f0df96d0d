package config

import (
	"fmt"
	"slices"
	"strings"
)

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
