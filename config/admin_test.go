package config

import (
	"strings"
	"testing"
)

// TestAdminClient: the self-service (admin) client is optional; when set it must be a separate client
// with its own key, signing with x5c (the default) from a backend that keeps the certificate chain, with
// Digdir's self-service scopes (idporten:dcr.write among them); the self-service URL comes from the
// environment (required for the sandbox).
func TestAdminClient(t *testing.T) {
	admin := AdminClient{ClientID: "admin-1", Key: KeyRef{Backend: BackendSystemdCreds, Name: "mp-admin"}}
	cases := []struct {
		name  string
		mod   func(c *Config)
		field string // "" = valid
		url   string
	}{
		{"none", func(c *Config) {}, "", ""},
		{"test default", func(c *Config) { c.Maskinporten.Admin = admin }, "", "https://api.test.samarbeid.digdir.no/api/v1"},
		{"production default", func(c *Config) { c.Environment = EnvProduction; c.Maskinporten.Admin = admin }, "",
			"https://api.samarbeid.digdir.no/api/v1"},
		{"same client", func(c *Config) { c.Maskinporten.Admin = admin; c.Maskinporten.Admin.ClientID = "client-1" },
			"maskinporten.admin.client_id", ""},
		{"same key", func(c *Config) {
			c.Maskinporten.Admin = admin
			c.Maskinporten.Admin.Key = c.Maskinporten.Key
			c.Maskinporten.Admin.GrantHeader = GrantHeaderKID
		},
			"maskinporten.admin.key.name", ""},
		{"bad header", func(c *Config) { c.Maskinporten.Admin = admin; c.Maskinporten.Admin.GrantHeader = "both" },
			"maskinporten.admin.grant_header", ""},
		{"x5c from the key ring", func(c *Config) { c.Maskinporten.Admin = admin; c.Maskinporten.Admin.Key.Backend = BackendKeyring },
			"maskinporten.admin.key.backend", ""},
		{"x5c from a tpm2 key", func(c *Config) { c.Maskinporten.Admin = admin; c.Maskinporten.Admin.Key.Backend = BackendTPM2 },
			"maskinporten.admin.key.backend", ""},
		{"kid with x5c", func(c *Config) { c.Maskinporten.Admin = admin; c.Maskinporten.Admin.KID = "k1" },
			"maskinporten.admin.kid", ""},
		{"kid header from the key ring", func(c *Config) {
			c.Maskinporten.Admin = admin
			c.Maskinporten.Admin.Key.Backend, c.Maskinporten.Admin.GrantHeader, c.Maskinporten.Admin.KID = BackendKeyring, GrantHeaderKID, "k1"
		}, "", "https://api.test.samarbeid.digdir.no/api/v1"},
		{"scopes", func(c *Config) {
			c.Maskinporten.Admin = admin
			c.Maskinporten.Admin.Scopes = []string{"idporten:dcr.write"}
		},
			"", "https://api.test.samarbeid.digdir.no/api/v1"},
		{"foreign scope", func(c *Config) {
			c.Maskinporten.Admin = admin
			c.Maskinporten.Admin.Scopes = []string{"idporten:dcr.write", "altinn:systemregister.write"}
		}, "maskinporten.admin.scopes[1]", ""},
		{"no write scope", func(c *Config) {
			c.Maskinporten.Admin = admin
			c.Maskinporten.Admin.Scopes = []string{"idporten:dcr.read"}
		},
			"maskinporten.admin.scopes", ""},
		{"plain http", func(c *Config) {
			c.Maskinporten.Admin = admin
			c.Maskinporten.Admin.SelfServiceURL = "http://api.example.no/api/v1"
		}, "maskinporten.admin.self_service_url", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mod(c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if u, _ := c.SelfServiceURL(); u != tc.url {
					t.Fatalf("SelfServiceURL = %q, want %q", u, tc.url)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want it to name %s", err, tc.field)
			}
		})
	}
}

// TestWants: a system user's own rights and packages with their fields; none named means the system's.
func TestWants(t *testing.T) {
	c := validConfig()
	w := c.Wants(c.SystemUsers[0])
	if len(w.Rights) != 1 || w.Rights[0].Resource != "res-a" || w.RightFields[0] != "system_users[0].rights[0]" || len(w.AccessPackages) != 0 {
		t.Fatalf("own rights: %+v", w)
	}
	w = c.Wants(c.SystemUsers[1])
	if len(w.Rights) != 2 || w.RightFields[1] != "system.rights[1]" || len(w.AccessPackages) != 1 ||
		w.PackageFields[0] != "system_users[1].access_packages[0]" {
		t.Fatalf("system's rights, own packages: %+v", w)
	}
	c.SystemUsers[1].AccessPackages = nil
	w = c.Wants(c.SystemUsers[1])
	if len(w.AccessPackages) != 2 || w.PackageFields[1] != "system.access_packages[1]" {
		t.Fatalf("system's packages: %+v", w)
	}
}
