package doctor

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// TestDoctorAdminClient: with a self-service (admin) client configured, doctor reads its key without
// sending anything: missing (error, the import named), no certificate chain under x5c (error), a valid or
// expiring certificate (ok / warning), and grant_header kid (warning: Digdir's rule is the certificate).
func TestDoctorAdminClient(t *testing.T) {
	notAfter := time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)
	key, certified := certifiedKey(t, pkix.Name{CommonName: "EKSEMPEL AS", SerialNumber: testOrg}, notAfter, 3)
	cases := []struct {
		name   string
		header string
		key    crypto.Signer // nil: none stored
		now    time.Time
		sev    Severity
		want   string
	}{
		{"valid certificate", "", certified, notAfter.AddDate(-1, 0, 0), SevOK, `the admin client's enterprise certificate "EKSEMPEL AS" is valid until 2028-03-01; grants carry it (x5c)`},
		{"expires in 10 days", "", certified, notAfter.AddDate(0, 0, -10), SevWarning, "the admin client's enterprise certificate \"EKSEMPEL AS\" expires in 10 days"},
		{"no key", "", nil, notAfter.AddDate(-1, 0, 0), SevError, `there is no admin client key "admin"`},
		{"no chain", config.GrantHeaderX5C, key, notAfter.AddDate(-1, 0, 0), SevError, "the admin client's key has no certificate chain"},
		{"kid", config.GrantHeaderKID, key, notAfter.AddDate(-1, 0, 0), SevWarning, "Digdir requires the self-service client to use the enterprise certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := baseConfig(dir, closedURL(t))
			cfg.Maskinporten.Key = config.KeyRef{Backend: config.BackendMemory, Name: "maskinporten"}
			cfg.Maskinporten.Admin = config.AdminClient{ClientID: "admin-1", Key: config.KeyRef{Backend: config.BackendMemory, Name: "admin"},
				GrantHeader: c.header, SelfServiceURL: "http://127.0.0.1:1/api/v1"}
			main, admin := keystore.NewMemory(), keystore.NewMemory()
			if err := main.Put(context.Background(), "maskinporten", key); err != nil {
				t.Fatal(err)
			}
			if c.key != nil {
				if err := admin.Put(context.Background(), "admin", c.key); err != nil {
					t.Fatal(err)
				}
			}
			open := func(cfg *config.Config) (keystore.Store, error) {
				if cfg.Maskinporten.Key.Name == "admin" {
					return admin, nil
				}
				return main, nil
			}
			rep := Run(context.Background(), Options{ConfigPath: writeConfig(t, dir, cfg), StateDir: dir, OpenKeyStore: open,
				Timeout: time.Second, Now: func() time.Time { return c.now }})
			f := find(t, rep, CheckAdmin, c.sev)
			found := false
			for _, f := range rep.Findings {
				found = found || f.Check == CheckAdmin && f.Severity == c.sev && strings.Contains(f.Message, c.want)
			}
			if !found {
				t.Fatalf("no %s admin finding saying %q in:\n%s", c.sev, c.want, dump(rep))
			}
			if c.sev == SevError && !strings.Contains(f.Fix, "agent keys import --backend memory --name admin --file virksomhetssertifikat.p12") {
				t.Errorf("fix %q does not name the import", f.Fix)
			}
		})
	}
}
