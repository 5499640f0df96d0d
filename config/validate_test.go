package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// validConfig is a complete, valid configuration; each test case breaks one thing.
func validConfig() *Config {
	return &Config{
		Environment:  EnvTest,
		Organization: "314250052",
		Maskinporten: Maskinporten{ClientID: "client-1", Key: KeyRef{Backend: BackendKeyring, Name: "mp"}},
		System: System{
			ID:             "314250052_sap-local",
			Name:           Texts{NB: "SAP", NN: "SAP", EN: "SAP"},
			Description:    Texts{NB: "d", NN: "d", EN: "d"},
			Rights:         []Right{{Resource: "res-a"}, {Resource: "res-b", Action: "read"}},
			AccessPackages: []string{"urn:altinn:accesspackage:skattegrunnlag", "urn:altinn:accesspackage:lonn"},
		},
		SystemUsers: []SystemUser{
			{Name: "default", Scopes: []string{"a:one", "a:two"}, Rights: []Right{{Resource: "res-a"}}},
			{Name: "payroll", ExternalRef: "payroll", Scopes: []string{"b:three"}, AccessPackages: []string{"urn:altinn:accesspackage:lonn"}},
		},
		Listen: "127.0.0.1:7070",
		Clients: []Client{
			{ID: "sap", SecretSHA256: strings.Repeat("ab", 32), SystemUsers: []string{"default"}, Scopes: []string{"a:one"}},
			{ID: "batch", SecretSHA256: strings.Repeat("0f", 32), SystemUsers: []string{"payroll", "default"}, Scopes: []string{"b:three", "a:two"}, TokenKind: TokenKindAltinn},
		},
	}
}

func TestValidConfigIsValid(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("validConfig: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c := &Config{}
	c.setDefaults("linux")
	if c.Environment != EnvTest || c.Listen != DefaultListen || c.Maskinporten.Key.Backend != BackendSystemdCreds ||
		c.Maskinporten.Key.Name != DefaultKeyName || c.Tokens.MinValidity != 10*time.Second ||
		c.Tokens.RefreshAhead != 60*time.Second || c.Log.Level != "info" || c.Log.Format != "text" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if len(c.SystemUsers) != 1 || c.SystemUsers[0].Name != "default" || c.SystemUsers[0].ExternalRef != "" {
		t.Errorf("default system user: %+v", c.SystemUsers)
	}
	for goos, want := range map[string]string{"linux": BackendSystemdCreds, "windows": BackendKeyring, "darwin": BackendKeyring} {
		c := &Config{}
		c.setDefaults(goos)
		if got := c.Maskinporten.Key.Backend; got != want {
			t.Errorf("default backend on %s = %s, want %s", goos, got, want)
		}
	}
	c = validConfig()
	c.Clients[0].TokenKind = ""
	c.setDefaults("linux")
	if c.Clients[0].TokenKind != TokenKindMaskinporten || c.Maskinporten.Key.Backend != BackendKeyring {
		t.Errorf("token kind default or explicit backend wrong: %+v", c)
	}
}

func TestDefaultSystemUserNeedsScopes(t *testing.T) {
	c := validConfig()
	c.SystemUsers = nil
	c.Clients = nil
	errs := mustErrors(t, c.validate("linux"))
	if !errs.Has("system_users[0].scopes") || !strings.Contains(errs.Error(), `named "default" is assumed`) {
		t.Errorf("want the default system user's missing scopes explained, got:\n%v", errs)
	}
}

func mustErrors(t *testing.T, err error) Errors {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %T %v", err, err)
	}
	return errs
}

func TestValidateRules(t *testing.T) {
	long := strings.Repeat("x", 200)
	cases := []struct {
		name string
		path string // the field path the error must name
		edit func(c *Config)
	}{
		{"environment unknown", "environment", func(c *Config) { c.Environment = "prod" }},
		{"organization missing", "organization", func(c *Config) { c.Organization = "" }},
		{"organization check digit", "organization", func(c *Config) { c.Organization = "314250053"; c.System.ID = "314250053_x" }},
		{"organization 8 digits", "organization", func(c *Config) { c.Organization = "31425005" }},
		{"organization prefix", "organization", func(c *Config) { c.Organization = "0192:314250052" }},
		{"client_id missing", "maskinporten.client_id", func(c *Config) { c.Maskinporten.ClientID = "" }},
		{"client_id space", "maskinporten.client_id", func(c *Config) { c.Maskinporten.ClientID = "a b" }},
		{"client_id not an id", "maskinporten.client_id", func(c *Config) { c.Maskinporten.ClientID = "?" }},
		{"backend unknown", "maskinporten.key.backend", func(c *Config) { c.Maskinporten.Key.Backend = "vault" }},
		{"backend file outside sandbox", "maskinporten.key.backend", func(c *Config) { c.Maskinporten.Key.Backend = BackendFile; c.Maskinporten.Key.Path = "/k.pem" }},
		{"backend memory in production", "maskinporten.key.backend", func(c *Config) { c.Environment = EnvProduction; c.Maskinporten.Key.Backend = BackendMemory }},
		{"file backend without path", "maskinporten.key.path", func(c *Config) { sandbox(c); c.Maskinporten.Key.Backend = BackendFile }},
		{"tpm2 software TPM outside sandbox", "maskinporten.key.device", func(c *Config) {
			c.Maskinporten.Key.Backend = BackendTPM2
			c.Maskinporten.Key.Device = "swtpm:host=127.0.0.1,port=2321"
		}},
		{"tpm2 device not under /dev", "maskinporten.key.device", func(c *Config) { c.Maskinporten.Key.Backend = BackendTPM2; c.Maskinporten.Key.Device = "tpmrm0" }},
		{"windows-cert without thumbprint", "maskinporten.key.thumbprint", func(c *Config) { c.Maskinporten.Key.Backend = BackendWindowsCert }},
		{"windows-cert thumbprint short", "maskinporten.key.thumbprint", func(c *Config) {
			c.Maskinporten.Key.Backend = BackendWindowsCert
			c.Maskinporten.Key.Thumbprint = "3B7E0A1F9C2D4E5F"
		}},
		{"grant header unknown", "maskinporten.grant_header", func(c *Config) { c.Maskinporten.GrantHeader = "x5t" }},
		{"grant header x5c with tpm2", "maskinporten.grant_header", func(c *Config) { c.Maskinporten.Key.Backend = BackendTPM2; c.Maskinporten.GrantHeader = GrantHeaderX5C }},
		{"grant header x5c with kid", "maskinporten.kid", func(c *Config) { c.Maskinporten.GrantHeader = GrantHeaderX5C; c.Maskinporten.KID = "k1" }},
		{"key name slash", "maskinporten.key.name", func(c *Config) { c.Maskinporten.Key.Name = "a/b" }},
		{"system id missing", "system.id", func(c *Config) { c.System.ID = "" }},
		{"system id other org", "system.id", func(c *Config) { c.System.ID = "974760673_sap" }},
		{"system id no underscore", "system.id", func(c *Config) { c.System.ID = "314250052sap" }},
		{"system id space", "system.id", func(c *Config) { c.System.ID = "314250052_sap local" }},
		{"system id empty name", "system.id", func(c *Config) { c.System.ID = "314250052_" }},
		{"system id slash", "system.id", func(c *Config) { c.System.ID = "314250052_a/b" }},
		{"system name nb", "system.name.nb", func(c *Config) { c.System.Name.NB = "" }},
		{"system name nn", "system.name.nn", func(c *Config) { c.System.Name.NN = " " }},
		{"system description en", "system.description.en", func(c *Config) { c.System.Description.EN = "" }},
		{"right without resource", "system.rights[1].resource", func(c *Config) { c.System.Rights[1].Resource = "" }},
		{"duplicate right", "system.rights[2]", func(c *Config) { c.System.Rights = append(c.System.Rights, Right{Resource: "res-a"}) }},
		{"access package malformed", "system.access_packages[0]", func(c *Config) { c.System.AccessPackages[0] = "skattegrunnlag" }},
		{"access package upper case", "system.access_packages[1]", func(c *Config) { c.System.AccessPackages[1] = "urn:altinn:accesspackage:Lonn" }},
		{"duplicate access package", "system.access_packages[2]", func(c *Config) {
			c.System.AccessPackages = append(c.System.AccessPackages, "urn:altinn:accesspackage:lonn")
		}},
		{"system user name bad", "system_users[1].name", func(c *Config) { c.SystemUsers[1].Name = "Pay roll" }},
		{"system user name empty", "system_users[0].name", func(c *Config) { c.SystemUsers[0].Name = "" }},
		{"system user name duplicate", "system_users[1].name", func(c *Config) { c.SystemUsers[1].Name = "default" }},
		{"external ref slash", "system_users[1].external_ref", func(c *Config) { c.SystemUsers[1].ExternalRef = "a/b" }},
		{"external ref space", "system_users[1].external_ref", func(c *Config) { c.SystemUsers[1].ExternalRef = "a b" }},
		{"external ref duplicate", "system_users[1].external_ref", func(c *Config) { c.SystemUsers[1].ExternalRef = ""; c.SystemUsers[1].Name = "second" }},
		{"external ref equal to org", "system_users[1].external_ref", func(c *Config) { c.SystemUsers[1].ExternalRef = "314250052" }},
		{"scopes missing", "system_users[1].scopes", func(c *Config) { c.SystemUsers[1].Scopes = nil; c.Clients = c.Clients[:1] }},
		{"scope whitespace", "system_users[0].scopes[1]", func(c *Config) { c.SystemUsers[0].Scopes[1] = "a:two a:three" }},
		{"scope empty", "system_users[0].scopes[0]", func(c *Config) { c.SystemUsers[0].Scopes[0] = "" }},
		{"right not on system", "system_users[0].rights[0]", func(c *Config) { c.SystemUsers[0].Rights[0].Resource = "res-z" }},
		{"right action differs", "system_users[0].rights[0]", func(c *Config) { c.SystemUsers[0].Rights[0].Action = "write" }},
		{"package not on system", "system_users[1].access_packages[0]", func(c *Config) {
			c.SystemUsers[1].AccessPackages[0] = "urn:altinn:accesspackage:other"
		}},
		{"listen wildcard", "listen", func(c *Config) { c.Listen = "0.0.0.0:7070" }},
		{"listen localhost", "listen", func(c *Config) { c.Listen = "localhost:7070" }},
		{"http to the internet", "endpoints.maskinporten_token", func(c *Config) { c.Endpoints.MaskinportenToken = "http://maskinporten.no/token" }},
		{"issuer without slash", "endpoints.maskinporten_issuer", func(c *Config) { c.Endpoints.MaskinportenIssuer = "https://test.maskinporten.no" }},
		{"endpoint userinfo", "endpoints.altinn", func(c *Config) { c.Endpoints.Altinn = "https://u:p@platform.altinn.no" }},
		{"endpoint query", "endpoints.altinn", func(c *Config) { c.Endpoints.Altinn = "https://platform.altinn.no?x=1" }},
		{"endpoint fragment", "endpoints.altinn", func(c *Config) { c.Endpoints.Altinn = "https://platform.altinn.no#x" }},
		{"endpoint relative", "endpoints.altinn", func(c *Config) { c.Endpoints.Altinn = "/altinn" }},
		{"endpoint ftp", "endpoints.altinn", func(c *Config) { c.Endpoints.Altinn = "ftp://platform.altinn.no" }},
		{"sandbox without endpoints", "endpoints.maskinporten_token", func(c *Config) { c.Environment = EnvSandbox }},
		{"min validity below 1s", "tokens.min_validity", func(c *Config) { c.Tokens.MinValidity = 500 * time.Millisecond }},
		{"min validity negative", "tokens.min_validity", func(c *Config) { c.Tokens.MinValidity = -time.Second }},
		{"refresh ahead not above min", "tokens.refresh_ahead", func(c *Config) { c.Tokens.MinValidity = 30 * time.Second; c.Tokens.RefreshAhead = 30 * time.Second }},
		{"client id bad", "clients[0].id", func(c *Config) { c.Clients[0].ID = "s a p" }},
		{"client id duplicate", "clients[1].id", func(c *Config) { c.Clients[1].ID = "sap" }},
		{"client secret missing", "clients[0].secret_sha256", func(c *Config) { c.Clients[0].SecretSHA256 = "" }},
		{"client secret upper hex", "clients[0].secret_sha256", func(c *Config) { c.Clients[0].SecretSHA256 = strings.Repeat("AB", 32) }},
		{"client secret short", "clients[0].secret_sha256", func(c *Config) { c.Clients[0].SecretSHA256 = strings.Repeat("ab", 31) }},
		{"client without system users", "clients[0].system_users", func(c *Config) { c.Clients[0].SystemUsers = nil }},
		{"client unknown system user", "clients[1].system_users[1]", func(c *Config) { c.Clients[1].SystemUsers[1] = "nobody" }},
		{"client without scopes", "clients[0].scopes", func(c *Config) { c.Clients[0].Scopes = nil }},
		{"client scope of another system user", "clients[0].scopes[0]", func(c *Config) { c.Clients[0].Scopes[0] = "b:three" }},
		{"client scope whitespace", "clients[0].scopes[0]", func(c *Config) { c.Clients[0].Scopes[0] = "a:one a:two" }},
		{"client token kind", "clients[1].token_kind", func(c *Config) { c.Clients[1].TokenKind = "id-porten" }},
		{"log level", "log.level", func(c *Config) { c.Log.Level = "trace" }},
		{"log format", "log.format", func(c *Config) { c.Log.Format = "xml" }},
		{"long value is cut", "log.format", func(c *Config) { c.Log.Format = long }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(c)
			errs := mustErrors(t, c.validate("linux"))
			if !errs.Has(tc.path) {
				t.Fatalf("want an error at %s, got:\n%v", tc.path, errs)
			}
			for _, fe := range errs {
				if fe.Msg == "" || strings.Contains(fe.Msg, long) {
					t.Errorf("bad message %q", fe.Msg)
				}
			}
		})
	}
}

func sandbox(c *Config) {
	c.Environment = EnvSandbox
	c.Endpoints = Endpoints{
		MaskinportenIssuer: "http://127.0.0.1:4000/",
		MaskinportenToken:  "http://127.0.0.1:4000/token",
		Altinn:             "http://localhost:4001",
	}
}

// TestValidateAccepts lists edits that must stay valid, so the rules above are not stricter than meant.
func TestValidateAccepts(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *Config)
	}{
		{"sandbox with loopback http endpoints and a file key", func(c *Config) {
			sandbox(c)
			c.Maskinporten.Key = KeyRef{Backend: BackendFile, Path: "/tmp/k.pem"}
		}},
		{"sandbox with memory key on ::1", func(c *Config) {
			sandbox(c)
			c.Endpoints.Altinn = "http://[::1]:4001/"
			c.Maskinporten.Key.Backend = BackendMemory
		}},
		{"production defaults", func(c *Config) { c.Environment = EnvProduction }},
		{"production tpm2 on the default device", func(c *Config) { c.Environment = EnvProduction; c.Maskinporten.Key.Backend = BackendTPM2 }},
		{"tpm2 on /dev/tpmrm1", func(c *Config) { c.Maskinporten.Key = KeyRef{Backend: BackendTPM2, Name: "mp", Device: "/dev/tpmrm1"} }},
		{"sandbox with a software TPM", func(c *Config) {
			sandbox(c)
			c.Maskinporten.Key = KeyRef{Backend: BackendTPM2, Name: "mp", Device: "swtpm:host=127.0.0.1,port=2321"}
		}},
		{"windows-cert by thumbprint with spaces, x5c", func(c *Config) {
			c.Maskinporten.Key = KeyRef{Backend: BackendWindowsCert, Name: "mp", Thumbprint: "3b 7e 0a 1f 9c 2d 4e 5f 60 71 82 93 a4 b5 c6 d7 e8 f9 0a 1b"}
			c.Maskinporten.GrantHeader = GrantHeaderX5C
		}},
		{"x5c from the systemd-creds key store", func(c *Config) { c.Maskinporten.GrantHeader = GrantHeaderX5C }},
		{"device ignored by systemd-creds", func(c *Config) { c.Maskinporten.Key.Device = "swtpm:host=127.0.0.1,port=2321" }},
		{"https override with path", func(c *Config) { c.Endpoints.Altinn = "https://altinn.example.no/base/" }},
		{"listen on ::1 and other 127 address", func(c *Config) { c.Listen = "[::1]:1" }},
		{"listen 127.0.0.2:65535", func(c *Config) { c.Listen = "127.0.0.2:65535" }},
		{"no clients yet", func(c *Config) { c.Clients = nil }},
		{"system user with no rights or packages", func(c *Config) { c.SystemUsers[0].Rights = nil }},
		{"external ref with dots", func(c *Config) { c.SystemUsers[1].ExternalRef = "Pay.Roll_2-x" }},
		{"zero durations take defaults", func(c *Config) { c.Tokens = TokenSettings{} }},
		{"refresh ahead just above min", func(c *Config) { c.Tokens = TokenSettings{MinValidity: time.Second, RefreshAhead: 2 * time.Second} }},
		{"log debug json", func(c *Config) { c.Log = Log{Level: "debug", Format: "json"} }},
		{"caller with os_user and no secret on the Unix socket (D10)", func(c *Config) {
			c.Clients[0].SecretSHA256, c.Clients[0].OSUser, c.UnixSocket = "", "svc", "/run/systemuser-agent/token.sock"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(c)
			if err := c.validate("linux"); err != nil {
				t.Fatalf("want valid, got:\n%v", err)
			}
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := validConfig()
	c.Organization = "123"
	c.Listen = "0.0.0.0:1"
	c.Log.Level = "loud"
	c.Clients[0].SecretSHA256 = ""
	errs := mustErrors(t, c.Validate())
	for _, p := range []string{"organization", "listen", "log.level", "clients[0].secret_sha256"} {
		if !errs.Has(p) {
			t.Errorf("missing %s in:\n%v", p, errs)
		}
	}
	if got := strings.Count(errs.Error(), "\n") + 1; got != len(errs) {
		t.Errorf("Error() has %d lines for %d problems", got, len(errs))
	}
	var fe FieldError
	if !errors.As(error(errs), &fe) || fe.Path == "" {
		t.Errorf("errors.As FieldError failed")
	}
}

// TestNoSecretInErrors: a caller secret or key pasted into the wrong field never shows in any error.
func TestNoSecretInErrors(t *testing.T) {
	const canary = "CANARY-s3cr3t-7f1e9a2b4c6d8e0f1a3b5c7d9e1f3a5b"
	c := validConfig()
	c.Clients[0].SecretSHA256 = canary
	c.Clients[1].SecretSHA256 = strings.Repeat("z", 64)
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), strings.Repeat("z", 64)) {
		t.Fatalf("secret leaked or not rejected: %v", err)
	}
	pem := "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + canary + "\n-----END " + "PRIVATE KEY-----" // a fake key, split so scanners for real keys in the tree pass it by
	doc := "organization: \"314250052\"\nmaskinporten:\n  client_id: x\n  key: |\n    " + strings.ReplaceAll(pem, "\n", "\n    ") +
		"\ntokens:\n  min_validity: " + canary + "\n" + canary + ": x\n"
	_, err = Parse([]byte(doc), "c.yaml")
	if err == nil || strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "MIIE") {
		t.Fatalf("secret leaked or not rejected: %v", err)
	}
}

func TestLookups(t *testing.T) {
	c := validConfig()
	if su, ok := c.SystemUser("payroll"); !ok || su.ExternalRef != "payroll" {
		t.Errorf("SystemUser(payroll) = %+v, %v", su, ok)
	}
	if _, ok := c.SystemUser("nobody"); ok {
		t.Error("SystemUser(nobody) found")
	}
	if cl, ok := c.Client("batch"); !ok || cl.TokenKind != TokenKindAltinn {
		t.Errorf("Client(batch) = %+v, %v", cl, ok)
	}
	if _, ok := c.Client("nobody"); ok {
		t.Error("Client(nobody) found")
	}
}
