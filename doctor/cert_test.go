package doctor

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// TestDoctorEnterpriseCertificate: with an enterprise certificate stored with the key, doctor says how
// long it is valid, warns 30 days before it expires (an error once expired), and with grant_header x5c
// fails without one. It also says whether the key is exportable.
func TestDoctorEnterpriseCertificate(t *testing.T) {
	notAfter := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	key, certified := certifiedKey(t, pkix.Name{CommonName: "EKSEMPEL AS"}, notAfter, 2)
	cases := []struct {
		name    string
		header  string
		chain   bool
		now     time.Time
		sev     Severity
		message string
	}{
		{"valid, x5c", config.GrantHeaderX5C, true, notAfter.AddDate(0, -6, 0), SevOK, "valid until 2027-03-01; grants carry it"},
		{"expires in 10 days, x5c", config.GrantHeaderX5C, true, notAfter.AddDate(0, 0, -10), SevWarning, "expires in 10 days"},
		{"expires in 10 days, kid", config.GrantHeaderKID, true, notAfter.AddDate(0, 0, -10), SevInfo, "grants use the kid"},
		{"expired", config.GrantHeaderX5C, true, notAfter.Add(time.Hour), SevError, "expired on 2027-03-01"},
		{"x5c without a chain", config.GrantHeaderX5C, false, notAfter, SevError, "no certificate chain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := baseConfig(dir, closedURL(t))
			cfg.Maskinporten.GrantHeader = c.header
			cfg.Maskinporten.Key = config.KeyRef{Backend: config.BackendMemory, Name: "maskinporten"}
			ks := keystore.NewMemory() // on every OS (the file backend does not exist on Windows)
			var k crypto.Signer = key
			if c.chain {
				k = certified
			}
			if err := ks.Put(context.Background(), cfg.Maskinporten.Key.Name, k); err != nil {
				t.Fatal(err)
			}
			rep := Run(context.Background(), Options{ConfigPath: writeConfig(t, dir, cfg), StateDir: dir,
				OpenKeyStore: func(*config.Config) (keystore.Store, error) { return ks, nil },
				Timeout:      time.Second, Now: func() time.Time { return c.now }})
			ok := find(t, rep, CheckKey, SevOK)
			if ok.Detail["exportable"] != "true" || !strings.Contains(ok.Message, "is exportable") {
				t.Errorf("key finding does not say the memory key is exportable: %+v", ok)
			}
			var got *Finding
			for i, f := range rep.Findings {
				if f.Check == CheckKey && f.Severity == c.sev && strings.Contains(f.Message, c.message) {
					got = &rep.Findings[i]
				}
			}
			if got == nil {
				t.Fatalf("no %s key finding saying %q in:\n%s", c.sev, c.message, dump(rep))
			}
			if c.sev != SevOK && got.Fix == "" {
				t.Errorf("finding without a fix: %+v", got)
			}
		})
	}
}

// certifiedKey makes an RSA-2048 key with a self-signed certificate for subject, valid for years up to
// notAfter, and returns the key alone and the key with its chain (keystore.WithChain).
func certifiedKey(t *testing.T, subject pkix.Name, notAfter time.Time, years int) (*rsa.PrivateKey, crypto.Signer) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(years)), Subject: subject,
		NotBefore: notAfter.AddDate(-years, 0, 0), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	certified, err := keystore.WithChain(key, []*x509.Certificate{cert})
	if err != nil {
		t.Fatal(err)
	}
	return key, certified
}
