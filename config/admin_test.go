package config

import (
	"strings"
	"testing"
)

// TestAdminClient: the self-service (admin) client is optional; when set it must be a separate client
// with its own key, and the self-service URL comes from the environment (required for the sandbox).
func TestAdminClient(t *testing.T) {
	admin := AdminClient{ClientID: "admin-1", Key: KeyRef{Backend: BackendKeyring, Name: "mp-admin"}}
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
		{"same key", func(c *Config) { c.Maskinporten.Admin = admin; c.Maskinporten.Admin.Key.Name = "mp" },
			"maskinporten.admin.key.name", ""},
		{"bad header", func(c *Config) { c.Maskinporten.Admin = admin; c.Maskinporten.Admin.GrantHeader = "both" },
			"maskinporten.admin.grant_header", ""},
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
